"""Cutting 16 kHz audio into fixed windows (DESIGN §3) and telling voiced from silent ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realtone_core.errors import AudioError, ErrorCode
from realtone_scorer.options import ScoringOptions


@dataclass(frozen=True)
class Window:
    index: int
    start: int  # first sample
    end: int  # one past the last real sample (before padding)
    voiced: bool


def plan_windows(samples: np.ndarray, rate: int, options: ScoringOptions) -> list[Window]:
    """Windows of ``window_seconds`` every ``hop_seconds``; a last partial window is kept
    when at least ``min_tail_seconds`` long. Raises for empty or too short audio."""
    o = options
    n = len(samples)
    if n == 0 or not np.any(samples):
        raise AudioError(
            ErrorCode.EMPTY_AUDIO, "The audio contains no sound (no or all-zero samples)"
        )
    win, hop, min_tail = (
        round(s * rate) for s in (o.window_seconds, o.hop_seconds, o.min_tail_seconds)
    )
    if n < min_tail:
        raise AudioError(
            ErrorCode.TOO_SHORT,
            f"The audio is {n / rate:.2f} s long; at least {o.min_tail_seconds:g} s is needed",
        )
    windows: list[Window] = []
    start = 0
    while start < n:
        end = min(start + win, n)
        if end - start < min_tail:
            break
        segment = samples[start:end]
        windows.append(
            Window(len(windows), start, end, _is_voiced(segment, o.voice_threshold_dbfs))
        )
        if end == n:
            break
        start += hop
    return windows


def _is_voiced(segment: np.ndarray, threshold_dbfs: float) -> bool:
    rms = float(np.sqrt(np.mean(np.square(segment, dtype=np.float64))))
    return rms > 0 and 20 * np.log10(rms) > threshold_dbfs


def window_samples(samples: np.ndarray, window: Window, length: int) -> np.ndarray:
    """The window's samples, repeat-padded to ``length`` when it is the short tail."""
    segment = samples[window.start : window.end]
    if len(segment) == length:
        return segment
    return np.resize(segment, length)
