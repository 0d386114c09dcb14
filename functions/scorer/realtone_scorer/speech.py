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


class SpeechFrames:
    """Speech probability (0..1) of each 32-ms frame of 16 kHz ``samples``, computed block by
    block as far as asked: a long file's first windows are judged without waiting for the
    VAD to cover the whole file (4.6 s for 30 minutes). The blocks and the carried state are
    the same however far one asks, so the values never depend on the order of questions."""

    def __init__(self, samples: np.ndarray) -> None:
        self._samples = samples
        self._count = -(-len(samples) // FRAME)
        self._probs = np.zeros(self._count, np.float32)
        self._done = 0
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)

    def until(self, end: int) -> np.ndarray:
        """The probabilities of every frame that overlaps ``samples[:end]`` (and maybe more)."""
        needed = min(-(-end // FRAME), self._count)
        while self._done < needed:
            self._block()
        return self._probs[: self._done]

    def _block(self) -> None:
        first, last = self._done, min(self._done + BLOCK, self._count)
        # Each frame is preceded by the previous frame's last CONTEXT samples (zeros at 0).
        lo = first * FRAME - CONTEXT
        flat = np.zeros((last - first) * FRAME + CONTEXT, np.float32)
        chunk = self._samples[max(lo, 0) : last * FRAME]
        flat[max(-lo, 0) : max(-lo, 0) + len(chunk)] = chunk
        frames = flat[CONTEXT:].reshape(-1, FRAME)
        contexts = np.empty((len(frames), CONTEXT), np.float32)
        contexts[0] = flat[:CONTEXT]
        contexts[1:] = frames[:-1, -CONTEXT:]
        inputs = np.concatenate([contexts, frames], axis=1)
        probs, self._h, self._c = _session().run(
            None, {"input": inputs, "h": self._h, "c": self._c}
        )
        self._probs[first:last] = probs.reshape(-1)
        self._done = last


def speech_probabilities(samples: np.ndarray) -> np.ndarray:
    """Speech probability (0..1) of each 32-ms frame of 16 kHz ``samples``."""
    return SpeechFrames(samples).until(len(samples))
