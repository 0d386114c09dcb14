"""Audio made by the tests (no checked-in blobs): speech-like signals in every container."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf


def speechlike(seconds: float, rate: int = 16_000, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A voiced, pitch-varying harmonic signal with syllable-like amplitude bursts."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3.1 * t) ** 2
    x = 0.25 * voice * envelope + 0.01 * rng.standard_normal(n)
    out = np.stack([x * (1 - 0.1 * c) for c in range(channels)], axis=1)
    return out.astype(np.float32)


def encode(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def wav_bytes(
    seconds: float, rate: int = 16_000, channels: int = 1, subtype: str = "PCM_16"
) -> bytes:
    return encode(speechlike(seconds, rate, channels), rate, "WAV", subtype)


JUNK = bytes(np.random.default_rng(42).integers(0, 256, 50_000, dtype=np.uint8))
