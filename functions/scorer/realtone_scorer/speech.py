"""Where the audio is speech: Silero VAD's probability per 32-ms frame, for the whole file.

The model ships inside the ``silero-vad`` wheel (MIT; ``silero_vad_16k_sequence.onnx``,
sha256-pinned here): the sequence form runs a block of frames per ONNX Runtime call,
carrying its LSTM state across blocks, so a 30-minute file costs a few hundred calls. It
tells windows with sound but no speech (music, tones, hum, noise) from windows with speech,
which energy alone cannot.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from realtone_scorer.families.base import ModelLoadError

FRAME = 512  # samples per frame at 16 kHz (32 ms)
CONTEXT = 64  # the model sees the previous frame's last 64 samples before each frame
BLOCK = 512  # frames per call (~16 s)
MODEL = "silero_vad_16k_sequence.onnx"
MODEL_SHA256 = "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85"


def model_path() -> Path:
    try:
        path = Path(str(resources.files("silero_vad") / "data" / MODEL))
    except ModuleNotFoundError as exc:
        raise ModelLoadError(
            f"the voice activity model {MODEL} comes from the silero-vad package:"
            " pip install silero-vad==6.2.3"
        ) from exc
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing from the silero-vad package")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        raise ModelLoadError(f"{path} has sha256 {digest}, not the pinned {MODEL_SHA256}")
    return path


@lru_cache(maxsize=1)
def _session() -> Any:
    from realtone_scorer.onnx_runtime import session

    # One thread: the VAD is small, and the detector's pools own the cores.
    return session(model_path(), threads=1)


def speech_probabilities(samples: np.ndarray) -> np.ndarray:
    """Speech probability (0..1) of each 32-ms frame of 16 kHz ``samples``."""
    count = -(-len(samples) // FRAME)
    if count == 0:
        return np.zeros(0, np.float32)
    flat = np.zeros(count * FRAME, np.float32)
    flat[: len(samples)] = samples
    frames = flat.reshape(count, FRAME)
    contexts = np.zeros((count, CONTEXT), np.float32)
    contexts[1:] = frames[:-1, -CONTEXT:]
    inputs = np.concatenate([contexts, frames], axis=1)
    h = np.zeros((1, 1, 128), np.float32)
    c = np.zeros((1, 1, 128), np.float32)
    out = []
    sess = _session()
    for first in range(0, count, BLOCK):
        probs, h, c = sess.run(None, {"input": inputs[first : first + BLOCK], "h": h, "c": c})
        out.append(probs)
    return np.concatenate(out).astype(np.float32)
