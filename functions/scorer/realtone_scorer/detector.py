"""``Detector``: one or more family networks (``families/``), fused and calibrated, with
the model card, device and precision they run in. Also the WavLM family: WavLM encoder +
mean pooling + linear head, the shape of the original checkpoint (operators' own weights).

Checkpoints are read and written by ``realtone_scorer.checkpoints``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn
from transformers import WavLMConfig, WavLMModel

from realtone_core.models import ModelCard
from realtone_scorer.calibration import Calibration
from realtone_scorer.families.base import WINDOW_SAMPLES, DetectorNet
from realtone_scorer.ways import Choice, Runner, build_runner, choose_ways

Precision = Literal["auto", "fp32", "bf16", "fp16", "onnx-fp32", "onnx-int8"]


class WavLMDetector(DetectorNet):
    """Module names follow the original checkpoint: ``wavlm.*`` and ``head.*``."""

    family = "wavlm"

    def __init__(self, config: WavLMConfig) -> None:
        super().__init__()
        self.config = config
        self.wavlm = WavLMModel(config)
        self.head = nn.Linear(config.hidden_size, 1)

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        # Zero mean, unit variance per window, as WavLM's feature extractor does.
        centred = windows - windows.mean(dim=1, keepdim=True)
        return centred / torch.sqrt(windows.var(dim=1, keepdim=True) + 1e-7)

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        hidden = self.wavlm(input_values).last_hidden_state
        return self.head(hidden.mean(dim=1)).squeeze(-1)


def tiny_config() -> WavLMConfig:
    """A WavLM small enough for tests: the same layer types, ~44 k parameters."""
    return WavLMConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        num_buckets=32,
        apply_spec_augment=False,
    )


def small_config() -> WavLMConfig:
    """A small WavLM (~1.4 M parameters) that trains from scratch on a CPU: the demo model."""
    return WavLMConfig(
        hidden_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=512,
        conv_dim=(128,) * 7,
        num_conv_pos_embeddings=32,
        num_conv_pos_embedding_groups=8,
        num_buckets=64,
        apply_spec_augment=False,
    )


def base_config() -> WavLMConfig:
    """WavLM-base sized (94.6 M parameters), as the original checkpoint."""
    return WavLMConfig(apply_spec_augment=False)


def state_sha256(model: nn.Module) -> str:
    """A hash of the weights themselves: the same for any file format they came in."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def choose_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def choose_precision(requested: Precision, device: torch.device) -> str:
    """On a GPU, ``auto`` is bf16 where it has it, else fp16 (no probe: there is no GPU here to
    measure on); on a CPU the scorer measures instead (``ways.choose_ways``)."""
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


@dataclass(frozen=True)
class Fusion:
    """Logistic fusion of the members' spoof logits: ``weights · logits + bias``."""

    weights: tuple[float, ...] = (1.0,)
    bias: float = 0.0

    def combine(self, logits: np.ndarray) -> np.ndarray:
        """(batch, members) logits → (batch,) fused logits."""
        fused: np.ndarray = logits @ np.asarray(self.weights, dtype=np.float64) + self.bias
        return fused


@dataclass
class Detector:
    members: list[DetectorNet]
    card: ModelCard
    device: torch.device
    # How each member runs here: "fp32", "bf16", "fp16", "onnx-fp32" or "onnx-int8".
    ways: list[str]
    runners: list[Runner]
    calibration: Calibration | None = None
    fusion: Fusion = field(default_factory=Fusion)
    probe: list[Choice] | None = None  # what the start-up probe measured, when it ran

    @classmethod
    def prepare(
        cls,
        members: DetectorNet | list[DetectorNet],
        card: ModelCard,
        device: str = "auto",
        precision: Precision = "auto",
        calibration: Calibration | None = None,
        fusion: Fusion | None = None,
    ) -> Detector:
        members = members if isinstance(members, list) else [members]
        fusion = fusion or Fusion((1.0,) * len(members))
        if len(fusion.weights) != len(members):
            raise ValueError(f"{len(fusion.weights)} fusion weights for {len(members)} members")
        target = choose_device(device)
        for member in members:
            member.eval()
            member.to(device=target, dtype=torch.float32)
        probe = None
        if precision == "auto" and target.type == "cpu":
            runners, probe = choose_ways(
                members, lambda logits: _final(fusion, calibration, logits)
            )
            ways = [c.way for c in probe]
        else:
            way = choose_precision(precision, target)
            ways = [way] * len(members)
            silence = torch.zeros(1, WINDOW_SAMPLES, device=target)
            runners = [build_runner(m, way, m.features(silence)) for m in members]
        runtime = (
            "+".join(sorted(set(ways)))
            if len(set(ways)) == 1
            else ",".join(f"{m.family}:{w}" for m, w in zip(members, ways, strict=True))
        )
        card = card.model_copy(update={"calibrated": calibration is not None, "runtime": runtime})
        return cls(members, card, target, ways, runners, calibration, fusion, probe)

    @property
    def precision(self) -> str:
        """The way the members run, as one string (``fp32``; ``whisper:bf16,aasist:onnx-fp32``)."""
        return self.card.runtime or "fp32"

    @property
    def identity(self) -> str:
        c = self.calibration
        return json.dumps(
            {
                "sha256": self.card.sha256,
                "calibration": [c.scale, c.bias] if c else None,
                "fusion": [list(self.fusion.weights), self.fusion.bias],
                "device": self.device.type,
                "ways": self.ways,
            },
            sort_keys=True,
        )

    @torch.inference_mode()
    def logits(self, windows: np.ndarray) -> np.ndarray:
        """(batch, members) spoof logits of each member for a (batch, samples) array."""
        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(self.device)
        columns = [
            run(member.features(x)) for member, run in zip(self.members, self.runners, strict=True)
        ]
        return np.stack(columns, axis=1)

    def score(self, windows: np.ndarray) -> np.ndarray:
        """Scores in 0..1 (higher = more likely synthetic) for a (batch, samples) array."""
        return _final(self.fusion, self.calibration, self.logits(windows))


def _final(fusion: Fusion, calibration: Calibration | None, logits: np.ndarray) -> np.ndarray:
    """Members' logits → the scores users see: fused, squashed, calibrated."""
    scores: np.ndarray = 1.0 / (1.0 + np.exp(-fusion.combine(logits)))
    return calibration.apply(scores) if calibration else scores
