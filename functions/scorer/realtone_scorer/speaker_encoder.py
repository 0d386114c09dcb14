"""Who is speaking: the GE2E speaker encoder published with Resemblyzer, on our own module.

Weights: ``models/speaker/ge2e.pt``, the ``resemblyzer/pretrained.pt`` of the Resemblyzer 0.1.4
wheel copied byte for byte (Apache-2.0, see that folder's README) and sha256-pinned here; the
package's dependencies (librosa, webrtcvad) are not needed. Input: 40-band mel power
spectrograms (25-ms window, 10-ms hop, Slaney mel scale, not log) of 1.6-s partials of 16 kHz
speech normalised to -30 dBFS; output: a 256-dimensional L2-normalised embedding. Two voices
are compared by cosine similarity (the dot product of embeddings).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from realtone_scorer.families.base import ModelLoadError
from realtone_scorer.model_folder import models_dir
from realtone_scorer.onnx_runtime import export, session

RATE = 16_000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s: the length the encoder was trained on
EMBEDDING_DIM = 256
TARGET_DBFS = -30.0
WEIGHTS = "speaker/ge2e.pt"
WEIGHTS_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    """The Slaney (Auditory Toolbox) mel scale: linear below 1 kHz, logarithmic above."""
    step = np.log(6.4) / 27.0
    return np.where(
        hz < 1000.0, hz * 3.0 / 200.0, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / step
    )


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    step = np.log(6.4) / 27.0
    return np.where(mel < 15.0, mel * 200.0 / 3.0, 1000.0 * np.exp(step * (mel - 15.0)))


def mel_filters() -> np.ndarray:
    """(MELS, N_FFT // 2 + 1) triangular filters with Slaney area normalisation, as the
    encoder's training features had them (librosa's defaults)."""
    fft_hz = np.linspace(0.0, RATE / 2, N_FFT // 2 + 1)
    edges = _slaney_hz(
        np.linspace(_slaney_mel(np.array(0.0)), _slaney_mel(np.array(RATE / 2)), MELS + 2)
    )
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    return (filters * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


_FILTERS = mel_filters()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def power_spectrogram(audio: np.ndarray) -> np.ndarray:
    """(batch, samples) → (batch, frames, N_FFT // 2 + 1) power: a centred STFT (zero-padded
    by half a window each side, periodic Hann), as librosa computed the encoder's features.
    The mel filters are applied in the ONNX graph (``_OnPower``): numpy's matrix product
    would wake OpenBLAS's threads, which keep spinning after it and made the encoder run
    2x slower beside them (4.6 against 2.2 ms per partial)."""
    padded = np.pad(audio, ((0, 0), (N_FFT // 2, N_FFT // 2)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=1)[:, ::HOP]
    return (np.abs(np.fft.rfft(frames * _WINDOW, axis=-1)) ** 2).astype(np.float32)


class GE2E(nn.Module):
    """3-layer LSTM over mel frames; the last layer's final state → linear → ReLU → L2 norm.
    Parameter names are those of ``resemblyzer.VoiceEncoder`` so its state dict loads."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(MELS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, EMBEDDING_DIM)
        self.relu = nn.ReLU()

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        raw = self.relu(self.linear(hidden[-1]))
        return raw / torch.linalg.vector_norm(raw, dim=1, keepdim=True).clamp_min(1e-12)


class _OnPower(nn.Module):
    """Power spectrogram frames → mel filters → the encoder: what the scorer exports."""

    def __init__(self, model: GE2E) -> None:
        super().__init__()
        self.model = model
        self.filters: torch.Tensor
        self.register_buffer("filters", torch.from_numpy(_FILTERS.T.copy()), persistent=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        embedding: torch.Tensor = self.model(power @ self.filters)
        return embedding


def normalise_volume(samples: np.ndarray) -> np.ndarray:
    """Raise (never lower) the level to -30 dBFS, as the encoder's training audio was."""
    power = float(np.mean(np.square(samples, dtype=np.float64))) if len(samples) else 0.0
    if power <= 0.0:
        return samples
    change = TARGET_DBFS - 10.0 * np.log10(power)
    return samples if change <= 0 else samples * np.float32(10.0 ** (change / 20.0))


def load_encoder(path: Path | None = None) -> GE2E:
    """The pinned weights in a ready-to-run module; a wrong or missing file says which."""
    path = path or models_dir() / WEIGHTS
    if not path.is_file():
        raise ModelLoadError(f"the speaker encoder weights are missing: {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise ModelLoadError(f"{path} has sha256 {digest}, not the pinned {WEIGHTS_SHA256}")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint["model_state"]
    # The GE2E loss's two scalars were saved with the encoder; inference has no use for them.
    for key in ("similarity_weight", "similarity_bias"):
        state.pop(key, None)
    model = GE2E()
    model.load_state_dict(state)
    return model.eval()


class SpeakerEncoder:
    """Embeds 1.6-s partials of speech in batches (one forward per batch), the network run
    by ONNX Runtime in fp32 (2.2 ms per partial on 2 cores). Not torch: beside the
    detector's runtime on the same cores, torch's LSTM was 5-10x slower than alone (its
    OpenMP threads wait busily); ORT's non-spinning pool was not. Not int8: dynamic
    quantisation of the LSTM moved embeddings of real speech to cosine 0.4-0.6 of fp32's."""

    def __init__(self, model: GE2E | None = None) -> None:
        example = torch.zeros(2, PARTIAL_FRAMES, N_FFT // 2 + 1)
        network = _OnPower(model or load_encoder())
        with tempfile.TemporaryDirectory(prefix="realtone-ge2e-") as tmp:
            self._session = session(export(network, example, Path(tmp) / "ge2e.onnx"))

    @property
    def identity(self) -> str:
        return f"ge2e:{WEIGHTS_SHA256}:onnx-fp32"

    def run(self, power: np.ndarray) -> np.ndarray:
        """(n, PARTIAL_FRAMES, N_FFT // 2 + 1) power → (n, EMBEDDING_DIM) unit vectors."""
        out: np.ndarray = self._session.run(None, {"input": np.ascontiguousarray(power)})[0]
        return out

    def embed(self, partials: list[np.ndarray]) -> np.ndarray:
        """(n, EMBEDDING_DIM) float32 unit vectors for n partials of up to 1.6 s each (shorter
        ones are zero-padded, as Resemblyzer pads the last partial of an utterance)."""
        if not partials:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        length = (PARTIAL_FRAMES - 1) * HOP
        batch = np.zeros((len(partials), length), np.float32)
        for row, part in zip(batch, partials, strict=True):
            part = normalise_volume(np.asarray(part, np.float32)[:length])
            row[: len(part)] = part
        return self.run(power_spectrogram(batch))
