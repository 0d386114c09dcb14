"""The WavLM detector: WavLM encoder + mean pooling + linear head + sigmoid.

``Detector`` wraps the module with its model card, device and precision; checkpoints are
read and written by ``realtone_scorer.checkpoints``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from transformers import WavLMConfig, WavLMModel

from realtone_core.models import ModelCard
from realtone_scorer.calibration import Calibration

Precision = Literal["auto", "fp32", "bf16", "fp16"]
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class WavLMDetector(nn.Module):
    """Module names follow the original checkpoint: ``wavlm.*`` and ``head.*``."""

    def __init__(self, config: WavLMConfig) -> None:
        super().__init__()
        self.config = config
        self.wavlm = WavLMModel(config)
        self.head = nn.Linear(config.hidden_size, 1)

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


@dataclass
class Detector:
    model: WavLMDetector
    card: ModelCard
    device: torch.device
    precision: Literal["fp32", "bf16", "fp16"]
    calibration: Calibration | None = None

    @classmethod
    def prepare(
        cls,
        model: WavLMDetector,
        card: ModelCard,
        device: str = "auto",
        precision: Precision = "fp32",
        calibration: Calibration | None = None,
    ) -> Detector:
        target = choose_device(device)
        chosen = choose_precision(precision, target)
        model.eval()
        model.to(device=target, dtype=_DTYPES[chosen])
        card = card.model_copy(update={"calibrated": calibration is not None})
        return cls(model, card, target, chosen, calibration)

    @property
    def identity(self) -> str:
        c = self.calibration
        return json.dumps(
            {
                "sha256": self.card.sha256,
                "calibration": [c.scale, c.bias] if c else None,
                "device": self.device.type,
                "precision": self.precision,
            },
            sort_keys=True,
        )

    @torch.inference_mode()
    def score(self, windows: np.ndarray) -> np.ndarray:
        """Scores in 0..1 (higher = more likely synthetic) for a (batch, samples) array."""
        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        # Zero mean, unit variance per window (in fp32), as WavLM's feature extractor does.
        x = (x - x.mean(dim=1, keepdim=True)) / torch.sqrt(x.var(dim=1, keepdim=True) + 1e-7)
        x = x.to(device=self.device, dtype=_DTYPES[self.precision])
        logits = self.model(x).float()
        scores: np.ndarray = torch.sigmoid(logits).double().cpu().numpy()
        return self.calibration.apply(scores) if self.calibration else scores
