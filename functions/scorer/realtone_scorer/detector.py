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
from realtone_scorer.families.base import DetectorNet

Precision = Literal["auto", "fp32", "bf16", "fp16"]
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


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


def cpu_supports_bf16() -> bool:
    """bf16 is fast on CPUs with AVX-512 BF16 or AMX; elsewhere it is emulated and slow."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def choose_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def choose_precision(requested: Precision, device: torch.device) -> Literal["fp32", "bf16", "fp16"]:
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_supports_bf16() else "fp32"


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
    precision: Literal["fp32", "bf16", "fp16"]
    calibration: Calibration | None = None
    fusion: Fusion = field(default_factory=Fusion)

    @classmethod
    def prepare(
        cls,
        members: DetectorNet | list[DetectorNet],
        card: ModelCard,
        device: str = "auto",
        precision: Precision = "fp32",
        calibration: Calibration | None = None,
        fusion: Fusion | None = None,
    ) -> Detector:
        members = members if isinstance(members, list) else [members]
        fusion = fusion or Fusion((1.0,) * len(members))
        if len(fusion.weights) != len(members):
            raise ValueError(f"{len(fusion.weights)} fusion weights for {len(members)} members")
        target = choose_device(device)
        chosen = choose_precision(precision, target)
        for member in members:
            member.eval()
            member.to(device=target, dtype=_DTYPES[chosen])
        card = card.model_copy(
            update={"calibrated": calibration is not None, "runtime": chosen}
        )
        return cls(members, card, target, chosen, calibration, fusion)

    @property
    def identity(self) -> str:
        c = self.calibration
        return json.dumps(
            {
                "sha256": self.card.sha256,
                "calibration": [c.scale, c.bias] if c else None,
                "fusion": [list(self.fusion.weights), self.fusion.bias],
                "device": self.device.type,
                "precision": self.precision,
            },
            sort_keys=True,
        )

    @torch.inference_mode()
    def logits(self, windows: np.ndarray) -> np.ndarray:
        """(batch, members) spoof logits of each member for a (batch, samples) array."""
        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(self.device)
        dtype = _DTYPES[self.precision]
        columns = [
            member(member.features(x).to(dtype)).float().double().cpu().numpy()
            for member in self.members
        ]
        return np.stack(columns, axis=1)

    def score(self, windows: np.ndarray) -> np.ndarray:
        """Scores in 0..1 (higher = more likely synthetic) for a (batch, samples) array."""
        fused = self.fusion.combine(self.logits(windows))
        scores: np.ndarray = 1.0 / (1.0 + np.exp(-fused))
        return self.calibration.apply(scores) if self.calibration else scores
