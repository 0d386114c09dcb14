"""Audio for the tests: real speech (one short checked-in recording, tests/data/audio) and
speech-like synthetic signals, in every container."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

SPEECH = Path(__file__).parent / "data" / "audio" / "speech-asterisk-allison.flac"


@lru_cache(maxsize=1)
def _recording() -> np.ndarray:
    samples, rate = sf.read(str(SPEECH), dtype="float32")
    assert rate == 16_000
    return samples


def speech(seconds: float, rate: int = 16_000, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Real speech (one voice, looped from a seed-chosen point, at a seed-chosen level, with
    a little noise): what the voice activity model hears as speech. Each seed gives other
    samples."""
    rng = np.random.default_rng(seed)
    base = _recording()
    offset = int(rng.integers(0, len(base)))
    looped = np.resize(np.roll(base, -offset), int(np.ceil(seconds * 16_000)) + 16)
    x = soxr.resample(looped, 16_000, rate) if rate != 16_000 else looped
    n = round(seconds * rate)
    x = x[:n] * (0.6 + 0.3 * rng.random()) + 1e-3 * rng.standard_normal(n)
    out = np.stack([x * (1 - 0.1 * c) for c in range(channels)], axis=1)
    return np.clip(out, -1, 1).astype(np.float32)


def speechlike(seconds: float, rate: int = 16_000, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A voiced, pitch-varying harmonic signal with syllable-like amplitude bursts: speech
    to an energy threshold, not to the voice activity model (use ``speech`` for that)."""
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
    seconds: float, rate: int = 16_000, channels: int = 1, subtype: str = "PCM_16", seed: int = 0
) -> bytes:
    return encode(speech(seconds, rate, channels, seed), rate, "WAV", subtype)


JUNK = bytes(np.random.default_rng(42).integers(0, 256, 50_000, dtype=np.uint8))


def encode_pyav(samples: np.ndarray, rate: int, container: str, codec: str) -> bytes:
    """Encode with FFmpeg (PyAV): AAC in M4A, Opus in WebM — what soundfile cannot write."""
    import av

    layout = {1: "mono", 2: "stereo"}[samples.shape[1]]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream: Any = out.add_stream(codec, rate=rate, layout=layout)
        names = [f.name for f in stream.codec_context.codec.audio_formats]
        fmt = av.AudioFormat(next((n for n in names if n.startswith("flt")), names[0]))
        frame_size = stream.codec_context.frame_size or 1024
        for i in range(0, len(samples), frame_size):
            block = samples[i : i + frame_size]
            block = (
                block.astype(np.float32)
                if fmt.name.startswith("flt")
                else (block * 32767).astype(np.int16)
            )
            data = block.T if fmt.is_planar else block.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data), format=fmt.name, layout=layout
            )
            frame.sample_rate = rate
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()
