"""AASIST and AASIST-L: raw-waveform spoofing detectors built on spectro-temporal graph attention.

Written from the paper: J. Jung et al., "AASIST: Audio Anti-Spoofing using Integrated
Spectro-Temporal Graph Attention Networks", ICASSP 2022, arXiv:2110.01200. Module and parameter
names follow the authors' published checkpoints (github.com/clovaai/aasist, MIT), so their
state dicts load unchanged.

Pipeline (paper, section 3): a fixed sinc filterbank and a RawNet2-style residual encoder turn
64,600 raw samples into a (channel, sub-band, frame) map; its max over frames and over
sub-bands give a spectral and a temporal graph, each refined by a graph attention layer and
graph pooling; two parallel branches of heterogeneous stacking graph attention layers (HS-GAL)
with a stack node combine them; the max graph operation takes their element-wise maximum and
the readout (node max and mean, plus the stack node) feeds a two-way linear output, index 1 =
bona fide.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from realtone_scorer.families.base import DetectorNet, ModelLoadError, repeat_to

SAMPLE_RATE = 16_000
_SHA256 = re.compile(r"[0-9a-f]{64}")

ChannelPair = tuple[int, int]


@dataclass(frozen=True)
class AasistParams:
    """Architecture hyper-parameters, named as in the authors' ``model_config``.

    ``filts``: sinc filter count, then (in, out) channels of the encoder's residual blocks 1-4
    (blocks 5 and 6 repeat the fourth). ``gat_dims``: widths of the spectral/temporal graph
    layers and of the HS-GALs. ``pool_ratios`` and ``temperatures``: for the spectral graph,
    the temporal graph and the HS-GALs. As in the published model, the HS-GAL pools and layers
    all use the third entry; the fourth is kept for fidelity to the published configuration.
    """

    nb_samp: int
    first_conv: int
    filts: tuple[int, ChannelPair, ChannelPair, ChannelPair, ChannelPair]
    gat_dims: tuple[int, int]
    pool_ratios: tuple[float, float, float, float]
    temperatures: tuple[float, float, float, float]

    @classmethod
    def from_dict(cls, data: Any) -> AasistParams:
        """Parse the JSON form (the published ``model_config``); ``ValueError`` if malformed."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        data = dict(data)
        architecture = data.pop("architecture", "AASIST")
        if architecture != "AASIST":
            raise ValueError(f"architecture is {architecture!r}, expected 'AASIST'")
        fields = {"nb_samp", "first_conv", "filts", "gat_dims", "pool_ratios", "temperatures"}
        if set(data) != fields:
            missing, unknown = sorted(fields - set(data)), sorted(set(data) - fields)
            raise ValueError(f"missing keys {missing}, unknown keys {unknown}")
        try:
            filts = data["filts"]
            if len(filts) != 5:
                raise ValueError("filts needs 5 entries")
            pairs = [_int_list(p, 2, "filts") for p in filts[1:]]
            params = cls(
                nb_samp=_int(data["nb_samp"], "nb_samp"),
                first_conv=_int(data["first_conv"], "first_conv"),
                filts=(
                    _int(filts[0], "filts"),
                    (pairs[0][0], pairs[0][1]),
                    (pairs[1][0], pairs[1][1]),
                    (pairs[2][0], pairs[2][1]),
                    (pairs[3][0], pairs[3][1]),
                ),
                gat_dims=_pair(_int_list(data["gat_dims"], 2, "gat_dims")),
                pool_ratios=_quad(_float_list(data["pool_ratios"], "pool_ratios")),
                temperatures=_quad(_float_list(data["temperatures"], "temperatures")),
            )
        except (TypeError, KeyError) as exc:
            raise ValueError(f"malformed hyper-parameters: {exc}") from exc
        params.validate()
        return params

    def to_dict(self) -> dict[str, Any]:
        return {
            "architecture": "AASIST",
            "nb_samp": self.nb_samp,
            "first_conv": self.first_conv,
            "filts": [self.filts[0], *(list(p) for p in self.filts[1:])],
            "gat_dims": list(self.gat_dims),
            "pool_ratios": list(self.pool_ratios),
            "temperatures": list(self.temperatures),
        }

    def validate(self) -> None:
        if self.nb_samp <= self.first_conv:
            raise ValueError("nb_samp must exceed first_conv")
        if self.filts[1][0] != 1:
            raise ValueError("the first residual block takes 1 input channel")
        for before, after in pairwise(self.filts[1:]):
            if before[1] != after[0]:
                raise ValueError(f"filts: block {before} does not feed block {after}")
        if self.filts[4][0] != self.filts[4][1]:
            raise ValueError("filts: the last block is repeated, so its in and out must match")
        if any(not 0 < r <= 1 for r in self.pool_ratios):
            raise ValueError("pool_ratios must lie in (0, 1]")
        if any(t <= 0 for t in self.temperatures):
            raise ValueError("temperatures must be positive")


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: {value!r} is not a positive integer")
    return value


def _int_list(value: Any, n: int, name: str) -> list[int]:
    if not isinstance(value, list) or len(value) != n:
        raise ValueError(f"{name}: {value!r} is not a list of {n} integers")
    return [_int(v, name) for v in value]


def _float_list(value: Any, name: str) -> list[float]:
    if not isinstance(value, list) or len(value) != 4:
        raise ValueError(f"{name}: {value!r} is not a list of 4 numbers")
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
        raise ValueError(f"{name}: {value!r} is not a list of 4 numbers")
    return [float(v) for v in value]


def _pair(values: list[int]) -> tuple[int, int]:
    return values[0], values[1]


def _quad(values: list[float]) -> tuple[float, float, float, float]:
    return values[0], values[1], values[2], values[3]


AASIST = AasistParams(
    nb_samp=64_600,
    first_conv=128,
    filts=(70, (1, 32), (32, 32), (32, 64), (64, 64)),
    gat_dims=(64, 32),
    pool_ratios=(0.5, 0.7, 0.5, 0.5),
    temperatures=(2.0, 2.0, 100.0, 100.0),
)
AASIST_L = AasistParams(
    nb_samp=64_600,
    first_conv=128,
    filts=(70, (1, 32), (32, 32), (32, 24), (24, 24)),
    gat_dims=(24, 32),
    pool_ratios=(0.4, 0.5, 0.7, 0.5),
    temperatures=(2.0, 2.0, 100.0, 100.0),
)
PUBLISHED = {"AASIST": AASIST, "AASIST-L": AASIST_L}


def mel_sinc_filters(count: int, taps: int, rate: int = SAMPLE_RATE) -> torch.Tensor:
    """(count, taps) Hamming-windowed ideal band-pass filters, contiguous bands equally spaced
    on the mel scale from 0 Hz to Nyquist. ``taps`` is made odd so each filter is symmetric.

    The band edges are mel-spaced between the extremes of a 512-point FFT's bin frequencies
    (paper, RawNet2-based encoder: the sinc layer is fixed, not learnt).
    """
    taps += 1 - taps % 2
    bins = (rate // 2) * np.linspace(0.0, 1.0, 257)
    mel = 2595.0 * np.log10(1.0 + bins / 700.0)
    edges = 700.0 * (10.0 ** (np.linspace(mel.min(), mel.max(), count + 1) / 2595.0) - 1.0)
    # As in the reference implementation, the sinc argument is computed in float32 and the
    # rest in float64. The network amplifies filter changes ~500-fold (first_bn's running
    # std is 0.007), so even 1-ulp differences here would show in the logits.
    t = torch.arange(taps, dtype=torch.float32) - (taps - 1) // 2

    def low_pass(cutoff: float) -> np.ndarray:
        argument = (t * (2.0 * cutoff) / rate).numpy()
        return np.sinc(argument).astype(np.float64) * (2.0 * cutoff / rate)

    band_pass = np.stack([low_pass(hi) - low_pass(lo) for lo, hi in pairwise(edges.tolist())])
    return torch.from_numpy(band_pass).float() * torch.from_numpy(np.hamming(taps)).float()


class SincFilterbank(nn.Module):
    """Fixed mel-spaced sinc band-pass convolution; no trainable parameters.

    The filters are a non-persistent buffer: they are rebuilt from the hyper-parameters rather
    than stored, so state dicts carry none, yet they follow ``.to(device, dtype)``.
    """

    filters: torch.Tensor

    def __init__(self, count: int, taps: int) -> None:
        super().__init__()
        self.register_buffer("filters", mel_sinc_filters(count, taps).unsqueeze(1), False)

    def forward(self, waveform: torch.Tensor, mask_bands: bool = False) -> torch.Tensor:
        """(batch, samples) → (batch, count, samples - taps + 1)."""
        filters = self.filters
        if mask_bands and self.training:
            filters = self._mask_random_bands(filters)
        return F.conv1d(waveform.unsqueeze(1), filters)

    @staticmethod
    def _mask_random_bands(filters: torch.Tensor) -> torch.Tensor:
        """Training augmentation used by the authors: silence 0-19 adjacent filters."""
        count = filters.shape[0]
        width = int(torch.randint(0, 20, ()))
        start = int(torch.randint(0, count - width + 1, ()))
        masked = filters.clone()
        masked[start : start + width] = 0
        return masked


class ResidualBlock(nn.Module):
    """RawNet2-style 2-D residual block: (2, 3) convolutions, SELU, then (1, 3) max-pooling.

    Faithful to the published weights: the second convolution is preceded by BN + SELU, but
    the first convolution reads the block input directly. ``bn1`` exists (and loads) for
    blocks after the first, yet the reference model discards its output, and the published
    weights were trained that way, so it is not applied here either.
    """

    def __init__(self, channels: ChannelPair, first: bool = False) -> None:
        super().__init__()
        c_in, c_out = channels
        if not first:
            self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=(2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=(2, 3), padding=(0, 1))
        self.selu = nn.SELU()
        self.conv_downsample: nn.Module | None = None
        if c_in != c_out:
            self.conv_downsample = nn.Conv2d(c_in, c_out, kernel_size=(1, 3), padding=(0, 1))
        self.pool = nn.MaxPool2d((1, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.selu(self.bn2(self.conv1(x))))
        shortcut = x if self.conv_downsample is None else self.conv_downsample(x)
        return self.pool(out + shortcut)


def _pairwise_products(x: torch.Tensor) -> torch.Tensor:
    """(batch, nodes, dim) → (batch, nodes, nodes, dim) with [b, i, j] = x[b, i] * x[b, j]."""
    return x.unsqueeze(2) * x.unsqueeze(1)


def _batch_norm_nodes(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """Batch-normalise the feature axis of (batch, nodes, dim), every node a sample."""
    return bn(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def _xavier_column(dim: int) -> nn.Parameter:
    weight = torch.empty(dim, 1)
    nn.init.xavier_normal_(weight)
    return nn.Parameter(weight)


class GraphAttention(nn.Module):
    """Graph attention layer on a fully connected graph (paper, graph module).

    Edge scores come from the element-wise product of each node pair, projected, passed
    through tanh and onto a learnt vector, divided by the temperature and soft-maxed over
    neighbours. Output: attention-aggregated and self projections summed, then BN and SELU.
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float) -> None:
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = _xavier_column(out_dim)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(0.2)
        self.act = nn.SELU()
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_drop(x)
        scores = torch.tanh(self.att_proj(_pairwise_products(x))) @ self.att_weight
        attention = torch.softmax(scores.squeeze(-1) / self.temperature, dim=-1)
        out = self.proj_with_att(attention @ x) + self.proj_without_att(x)
        return self.act(_batch_norm_nodes(self.bn, out))


class HeterogeneousGraphAttention(nn.Module):
    """One HS-GAL (paper, heterogeneous stacking graph attention layer).

    Two node types (type 1 = temporal, type 2 = spectral) are projected into a shared space
    and joined into one graph. Edge scores use a separate learnt vector for type-1 pairs,
    type-2 pairs and mixed pairs. A stack node attends to every node with its own projections
    and is updated without normalisation; it is passed on to the next HS-GAL.
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float) -> None:
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        self.att_weight11 = _xavier_column(out_dim)
        self.att_weight22 = _xavier_column(out_dim)
        self.att_weight12 = _xavier_column(out_dim)
        self.att_weightM = _xavier_column(out_dim)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(0.2)
        self.act = nn.SELU()
        self.temperature = temperature

    def forward(
        self, nodes1: torch.Tensor, nodes2: torch.Tensor, stack: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(batch, n1, in), (batch, n2, in), stack (1 or batch, 1, in) → the same, ``out`` wide."""
        n1, n2 = nodes1.shape[1], nodes2.shape[1]
        x = torch.cat([self.proj_type1(nodes1), self.proj_type2(nodes2)], dim=1)
        x = self.input_drop(x)

        hidden = torch.tanh(self.att_proj(_pairwise_products(x)))
        vectors = torch.cat([self.att_weight11, self.att_weight22, self.att_weight12], dim=1)
        by_kind = hidden @ vectors  # (batch, n, n, 3): scores as type-1, type-2 and mixed pairs
        is1 = torch.arange(n1 + n2, device=x.device) < n1
        both1 = is1.unsqueeze(1) & is1.unsqueeze(0)
        both2 = ~is1.unsqueeze(1) & ~is1.unsqueeze(0)
        scores = torch.where(
            both1, by_kind[..., 0], torch.where(both2, by_kind[..., 1], by_kind[..., 2])
        )
        attention = torch.softmax(scores / self.temperature, dim=-1)

        stack_scores = torch.tanh(self.att_projM(x * stack)) @ self.att_weightM
        stack_attention = torch.softmax(stack_scores / self.temperature, dim=1)
        pooled = stack_attention.transpose(1, 2) @ x
        stack = self.proj_with_attM(pooled) + self.proj_without_attM(stack)

        out = self.proj_with_att(attention @ x) + self.proj_without_att(x)
        out = self.act(_batch_norm_nodes(self.bn, out))
        return out[:, :n1], out[:, n1:], stack


class GraphPool(nn.Module):
    """Graph pooling: gate nodes by a learnt sigmoid score and keep the top ``ratio``.

    Kept nodes are ordered by descending score, which matters: the max graph operation
    compares the two branches node by node.
    """

    def __init__(self, ratio: float, dim: int, dropout: float = 0.3) -> None:
        super().__init__()
        self.ratio = ratio
        self.proj = nn.Linear(dim, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        scores = torch.sigmoid(self.proj(self.drop(h)))
        keep = max(int(h.shape[1] * self.ratio), 1)
        index = torch.topk(scores, keep, dim=1).indices.expand(-1, -1, h.shape[2])
        return torch.gather(h * scores, 1, index)


class Aasist(nn.Module):
    """The AASIST network: (batch, nb_samp) waveform → (batch, 2) logits, index 1 = bona fide.

    Attribute names are the published checkpoints' (``pos_S``, ``HtrgGAT_layer_ST11``, ...).
    """

    def __init__(self, params: AasistParams) -> None:
        super().__init__()
        params.validate()
        self.params = params
        filts, gat_dims = params.filts, params.gat_dims
        t_s, t_t, t_h = params.temperatures[:3]
        r_s, r_t, r_h = params.pool_ratios[:3]
        width = filts[4][1]

        self.conv_time = SincFilterbank(filts[0], params.first_conv)
        self.first_bn = nn.BatchNorm2d(1)
        self.selu = nn.SELU()
        blocks = [(filts[1], True), (filts[2], False), (filts[3], False)]
        blocks += [(filts[4], False)] * 3
        # Each block sits in a one-element Sequential only to give the "encoder.i.0" key names.
        self.encoder = nn.Sequential(
            *(nn.Sequential(ResidualBlock(channels, first)) for channels, first in blocks)
        )

        # The (3, 3) max-pool after the filterbank divides the filter axis by 3 and the
        # residual blocks keep it: the spectral graph has filts[0] // 3 nodes.
        sub_bands = filts[0] // 3
        self.pos_S = nn.Parameter(torch.randn(1, sub_bands, width))
        self.master1 = nn.Parameter(torch.randn(1, 1, gat_dims[0]))
        self.master2 = nn.Parameter(torch.randn(1, 1, gat_dims[0]))

        self.GAT_layer_S = GraphAttention(width, gat_dims[0], t_s)
        self.GAT_layer_T = GraphAttention(width, gat_dims[0], t_t)
        self.HtrgGAT_layer_ST11 = HeterogeneousGraphAttention(gat_dims[0], gat_dims[1], t_h)
        self.HtrgGAT_layer_ST12 = HeterogeneousGraphAttention(gat_dims[1], gat_dims[1], t_h)
        self.HtrgGAT_layer_ST21 = HeterogeneousGraphAttention(gat_dims[0], gat_dims[1], t_h)
        self.HtrgGAT_layer_ST22 = HeterogeneousGraphAttention(gat_dims[1], gat_dims[1], t_h)

        self.pool_S = GraphPool(r_s, gat_dims[0])
        self.pool_T = GraphPool(r_t, gat_dims[0])
        self.pool_hS1 = GraphPool(r_h, gat_dims[1])
        self.pool_hT1 = GraphPool(r_h, gat_dims[1])
        self.pool_hS2 = GraphPool(r_h, gat_dims[1])
        self.pool_hT2 = GraphPool(r_h, gat_dims[1])

        self.drop_way = nn.Dropout(0.2)
        self.drop = nn.Dropout(0.5)
        self.out_layer = nn.Linear(5 * gat_dims[1], 2)

    def embed(self, waveform: torch.Tensor, mask_bands: bool = False) -> torch.Tensor:
        """(batch, nb_samp) → the (batch, 5 * gat_dims[1]) readout before the output layer.

        ``mask_bands`` enables the authors' frequency-masking augmentation; it only acts in
        training mode.
        """
        x = self.conv_time(waveform, mask_bands).unsqueeze(1)
        x = self.selu(self.first_bn(F.max_pool2d(x.abs(), (3, 3))))
        e = self.encoder(x).abs()  # (batch, channels, sub-bands, frames)

        spectral = e.amax(dim=3).transpose(1, 2) + self.pos_S
        spectral = self.pool_S(self.GAT_layer_S(spectral))
        temporal = e.amax(dim=2).transpose(1, 2)
        temporal = self.pool_T(self.GAT_layer_T(temporal))

        branches = []
        for first, second, pool_t, pool_s, initial_stack in (
            (
                self.HtrgGAT_layer_ST11,
                self.HtrgGAT_layer_ST12,
                self.pool_hT1,
                self.pool_hS1,
                self.master1,
            ),
            (
                self.HtrgGAT_layer_ST21,
                self.HtrgGAT_layer_ST22,
                self.pool_hT2,
                self.pool_hS2,
                self.master2,
            ),
        ):
            t, s, m = first(temporal, spectral, initial_stack)
            t, s = pool_t(t), pool_s(s)
            t_more, s_more, m_more = second(t, s, m)
            branches.append([self.drop_way(v) for v in (t + t_more, s + s_more, m + m_more)])

        # Max graph operation: the two branches compete element-wise.
        temporal, spectral, stack_node = (
            torch.maximum(a, b) for a, b in zip(*branches, strict=True)
        )
        readout = [
            temporal.abs().amax(dim=1),
            temporal.mean(dim=1),
            spectral.abs().amax(dim=1),
            spectral.mean(dim=1),
            stack_node.squeeze(1).expand(waveform.shape[0], -1),
        ]
        return torch.cat(readout, dim=1)

    def forward(self, waveform: torch.Tensor, mask_bands: bool = False) -> torch.Tensor:
        return self.out_layer(self.drop(self.embed(waveform, mask_bands)))


class AasistNet(DetectorNet):
    """The AASIST family behind the scorer: windows repeat-padded to 64,600 samples in,
    one spoof logit (spoof minus bona fide class logit) per window out."""

    family = "aasist"

    def __init__(self, params: AasistParams = AASIST) -> None:
        super().__init__()
        self.params = params
        self.net = Aasist(params)

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        return repeat_to(windows.float(), self.params.nb_samp)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.net(features.to(self.net.out_layer.weight.dtype)).float()
        return logits[:, 0] - logits[:, 1]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_sha256sums(path: Path) -> dict[str, str]:
    """Parse ``sha256sum`` output: ``<hex>  <name>`` (or ``<hex> *<name>``) per line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelLoadError(f"{path} is missing: it must list the sha256 of each file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line.rstrip("\r"))
        if match is None:
            raise ModelLoadError(f"{path} line {number} is not '<sha256>  <file name>'")
        sums[match[2]] = match[1].lower()
    return sums


def _check_sha256(path: Path, expected: str) -> None:
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing")
    actual = file_sha256(path)
    if actual != expected:
        raise ModelLoadError(
            f"{path} has sha256 {actual} ({path.stat().st_size} bytes) but {expected} is "
            "expected: the file is truncated, corrupt or not the expected weights"
        )


def read_params(path: Path) -> AasistParams:
    """Hyper-parameters from a JSON file (the published ``model_config`` form)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path} is missing: it holds the architecture") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
    try:
        return AasistParams.from_dict(data)
    except ValueError as exc:
        raise ModelLoadError(f"{path} does not describe an AASIST network: {exc}") from exc


def load_aasist_state(path: Path, params: AasistParams, expected_sha256: str) -> AasistNet:
    """An ``AasistNet`` in eval mode from a state dict of ``Aasist`` (the published key
    layout, i.e. ``AasistNet.net.state_dict()``), after checking the file's sha256."""
    expected = expected_sha256.lower()
    if not _SHA256.fullmatch(expected):
        raise ModelLoadError(f"expected sha256 for {path} is not 64 hex digits: {expected_sha256}")
    _check_sha256(path, expected)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or foreign files
        raise ModelLoadError(f"{path} is not a readable PyTorch state dict: {exc}") from exc
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelLoadError(f"{path} does not hold a state dict of named tensors")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ModelLoadError(f"{path} has non-finite values in {', '.join(bad[:5])}")
    model = AasistNet(params)
    mismatch = _describe_mismatch(model.net.state_dict(), state)
    if mismatch:
        raise ModelLoadError(
            f"{path} does not match the AASIST architecture of the given hyper-parameters: "
            f"{mismatch}"
        )
    model.net.load_state_dict(state, strict=True)
    return model.eval()


def _describe_mismatch(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> str:
    """A short account of missing, unexpected and wrongly shaped entries ('' if none)."""

    def some(names: list[str]) -> str:
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    problems = []
    if missing := [k for k in expected if k not in found]:
        problems.append(f"missing keys {some(missing)}")
    if unexpected := [k for k in found if k not in expected]:
        problems.append(f"unexpected keys {some(unexpected)}")
    shapes = [
        f"{k} is {tuple(v.shape)} in the file, {tuple(expected[k].shape)} expected"
        for k, v in found.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if shapes:
        problems.append(f"size mismatch: {some(shapes)}")
    return "; ".join(problems)


def load_aasist(directory: Path, variant: str = "AASIST") -> AasistNet:
    """Published-layout weights: ``<variant>.pth`` and ``<variant>.json`` in ``directory``,
    both listed in ``SHA256SUMS`` and covered by a ``LICENSE`` file."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", variant):
        raise ModelLoadError(f"AASIST variant {variant!r} is not a plain file stem")
    if not directory.is_dir():
        raise ModelLoadError(f"{directory} is not a directory of AASIST weights")
    licence = directory / "LICENSE"
    if not licence.is_file():
        raise ModelLoadError(f"{licence} is missing: weights are only used with their licence")
    sums_path = directory / "SHA256SUMS"
    sums = read_sha256sums(sums_path)
    weights, config = directory / f"{variant}.pth", directory / f"{variant}.json"
    for path in (weights, config):
        if path.name not in sums:
            raise ModelLoadError(f"{sums_path} has no entry for {path.name}")
    _check_sha256(config, sums[config.name])
    return load_aasist_state(weights, read_params(config), sums[weights.name])
