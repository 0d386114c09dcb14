"""The WavLM detector: WavLM encoder + mean pooling + linear head + sigmoid.

``load_detector`` resolves ``REALTONE_MODEL``; it runs once per container, at start.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import WavLMConfig, WavLMModel

from realtone_core.models import ModelCard

DEV_TINY = "dev:tiny"
_DEV_TINY_SEED = 20_260_101


class WavLMDetector(nn.Module):
    """Same module names as the original checkpoint: ``wavlm.*`` and ``head.*``."""

    def __init__(self, config: WavLMConfig) -> None:
        super().__init__()
        self.config = config
        self.wavlm = WavLMModel(config)
        self.head = nn.Linear(config.hidden_size, 1)

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        hidden = self.wavlm(input_values).last_hidden_state
        return self.head(hidden.mean(dim=1)).squeeze(-1)


def tiny_config() -> WavLMConfig:
    """A WavLM small enough for tests: same layer types, a few thousand parameters."""
    return WavLMConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        num_buckets=32,
        max_bucket_distance=100,
        apply_spec_augment=False,
    )


def state_sha256(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@dataclass
class Detector:
    model: WavLMDetector
    card: ModelCard

    @torch.inference_mode()
    def score(self, windows: np.ndarray) -> np.ndarray:
        """Scores in 0..1 (higher = more likely synthetic) for a (batch, samples) array."""
        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        # Zero mean, unit variance per window, as WavLM's feature extractor does.
        x = (x - x.mean(dim=1, keepdim=True)) / torch.sqrt(x.var(dim=1, keepdim=True) + 1e-7)
        return torch.sigmoid(self.model(x)).double().numpy()


def build_dev_tiny() -> Detector:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_DEV_TINY_SEED)
        model = WavLMDetector(tiny_config())
    model.eval()
    card = ModelCard(name=DEV_TINY, version="1", sha256=state_sha256(model), trained=False)
    return Detector(model, card)


def load_detector(spec: str, torch_threads: int | None = None) -> Detector:
    if torch_threads:
        torch.set_num_threads(torch_threads)
    if spec == DEV_TINY:
        return build_dev_tiny()
    raise ValueError(f"REALTONE_MODEL={spec!r} is not supported yet; use {DEV_TINY!r}")
