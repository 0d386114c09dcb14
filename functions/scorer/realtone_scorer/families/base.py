"""The interface every detector family implements."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

WINDOW_SAMPLES = 64_000  # 4 s at 16 kHz: what the scorer hands every family


class ModelLoadError(RuntimeError):
    """The configured model cannot be used; raised at start, naming the file and what to fix."""


class DetectorNet(nn.Module):
    """16 kHz windows in, one spoof logit per window out (higher = more likely synthetic).

    ``features`` runs in fp32 on the model's device; ``forward`` may run in bf16/fp16, so
    anything numerically delicate (normalisation, log-mel) belongs in ``features``.
    """

    family: ClassVar[str]

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        """(batch, WINDOW_SAMPLES) float32 waveforms in [-1, 1] → the network's input."""
        raise NotImplementedError

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The network's input → (batch,) spoof logits."""
        raise NotImplementedError


def repeat_to(windows: torch.Tensor, length: int) -> torch.Tensor:
    """Crop or repeat-pad each row to ``length`` samples (as AASIST's reference pads)."""
    n = windows.shape[-1]
    if n >= length:
        return windows[..., :length]
    reps = -(-length // n)
    return windows.repeat(*([1] * (windows.dim() - 1)), reps)[..., :length]
