"""What the frozen front ends make of every window, computed once and cached: the Whisper
encoder's pooled hidden-state statistics (every layer, so heads can choose), the AASIST
readout before its output layer, and the published AASIST checkpoints' own spoof logits."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from realtone_scorer.families.aasist import AasistNet, load_aasist
from realtone_scorer.families.whisper import ENCODER_LAYERS, WhisperHeadConfig, WhisperNet
from realtone_scorer.model_folder import models_dir
from realtone_scorer.onnx_runtime import OnnxModule

# Every hidden state (0 = conv stem … 4 = final), mean and std of each: heads pick columns.
ALL_LAYERS = tuple(range(ENCODER_LAYERS + 1))
WHISPER_DIM = 2 * 384


def whisper_columns(layers: tuple[int, ...]) -> np.ndarray:
    """Columns of the all-layer embedding that a head pooling ``layers`` sees, in its order."""
    return np.concatenate(
        [np.arange(i * WHISPER_DIM, (i + 1) * WHISPER_DIM) for i in layers]
    ).astype(np.int64)


def cached(path: Path, compute: Callable[[], np.ndarray]) -> np.ndarray:
    if path.exists():
        loaded: np.ndarray = np.load(path)
        return loaded
    started = time.perf_counter()
    values = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, values)
    print(
        f"  {path.name}: {values.shape} in {time.perf_counter() - started:.0f} s", file=sys.stderr
    )
    return values


def _batched(
    fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch: int, what: str
) -> np.ndarray:
    out = []
    for i in range(0, len(x), batch):
        if i % (batch * 50) == 0:
            print(f"  {what}: {i}/{len(x)} windows", file=sys.stderr, flush=True)
        out.append(fn(x[i : i + batch]))
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def whisper_embeddings(windows: np.ndarray, batch: int = 16) -> np.ndarray:
    net = WhisperNet(WhisperHeadConfig(layers=ALL_LAYERS)).eval()

    @torch.inference_mode()
    def run(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x)
        return net.embed(net.features(t)).numpy()

    return _batched(run, windows, batch, "whisper embeddings")


class _Readout(nn.Module):
    def __init__(self, net: AasistNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.net.net.embed(self.net.features(windows))


class _SpoofLogit(nn.Module):
    def __init__(self, net: AasistNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.net(self.net.features(windows))


def aasist_readouts(windows: np.ndarray, variant: str, batch: int = 8) -> np.ndarray:
    """The published ``variant``'s readout (before its output layer), run by ONNX Runtime."""
    net = load_aasist(models_dir() / "aasist", variant)
    run = OnnxModule(_Readout(net), torch.zeros(2, windows.shape[1]))
    return _batched(run, windows, batch, f"{variant} readouts")


def published_aasist_logits(windows: np.ndarray, variant: str, batch: int = 8) -> np.ndarray:
    net = load_aasist(models_dir() / "aasist", variant)
    run = OnnxModule(_SpoofLogit(net), torch.zeros(2, windows.shape[1]))
    return _batched(run, windows, batch, f"published {variant}")
