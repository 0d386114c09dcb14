"""Why a window cannot be judged, in the words a user gets (DESIGN §7: ``reason``).

* ``no_speech`` — too quiet to hold speech (below the voice threshold);
* ``music_or_noise`` — sound, but the voice activity model finds (almost) no speech in it:
  music, tones, hum, noise;
* ``clipped`` — the waveform sits at full scale so often that the speech is distorted;
* ``too_short`` — some speech, but too little of it to judge.

A window with a reason gets no score and stays out of the summary; a file none of whose
windows can be judged is ``inconclusive``, with the reason most of its windows had.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import numpy as np

from realtone_scorer.options import ScoringOptions
from realtone_scorer.speech import FRAME

Reason = Literal["no_speech", "music_or_noise", "clipped", "too_short"]

SPEECH_PROBABILITY = 0.5  # a frame is speech when the model's probability is at least this
CLIP_LEVEL = 0.999  # a sample this close to full scale is clipped
# Non-speech frames within this of the voice threshold are a quiet background, not sound.
QUIET_MARGIN_DB = 10.0
MIN_UTTERANCE_SECONDS = 0.1  # less speech than this in a window is none at all


def window_reason(
    segment: np.ndarray, voiced: bool, speech: np.ndarray, options: ScoringOptions
) -> Reason | None:
    """``segment``: the window's real samples (16 kHz, before padding); ``voiced``: loud
    enough to hold speech; ``speech``: the speech probabilities of its 32-ms frames."""
    if not voiced:
        return "no_speech"
    is_speech = speech >= SPEECH_PROBABILITY
    speech_seconds = float(is_speech.sum()) * FRAME / 16_000
    fraction = float(is_speech.mean()) if len(speech) else 0.0
    if fraction < options.min_speech_fraction:
        # Little speech: a short utterance in a quiet room is too short to judge; sound that
        # is not speech (music, tones, hum, noise) is what made the window loud.
        background = _rms_dbfs(_frames(segment)[~is_speech[: -(-len(segment) // FRAME)]])
        quiet = background <= options.voice_threshold_dbfs + QUIET_MARGIN_DB
        return (
            "too_short" if quiet and speech_seconds >= MIN_UTTERANCE_SECONDS else ("music_or_noise")
        )
    if float(np.mean(np.abs(segment) >= CLIP_LEVEL)) > options.max_clipped_fraction:
        return "clipped"
    if speech_seconds < options.min_speech_seconds:
        return "too_short"
    return None


def _frames(segment: np.ndarray) -> np.ndarray:
    padded = np.zeros(-(-len(segment) // FRAME) * FRAME, np.float32)
    padded[: len(segment)] = segment
    return padded.reshape(-1, FRAME)


def _rms_dbfs(frames: np.ndarray) -> float:
    if frames.size == 0:
        return -np.inf
    rms = float(np.sqrt(np.mean(np.square(frames, dtype=np.float64))))
    return 20 * np.log10(rms) if rms > 0 else -np.inf


def file_reason(reasons: list[Reason | None]) -> Reason | None:
    """Why a file could not be judged: the commonest reason of its windows (None when any
    window was judged)."""
    if not reasons or any(r is None for r in reasons):
        return None
    counts = Counter(reasons)
    return max(counts, key=lambda r: (counts[r], r == "music_or_noise"))
