"""How audio becomes a result: one frozen value, built once and passed down.

Windowing, scoring, the reuse key, training, evaluation and the benchmark all take a
``ScoringOptions``; none of them reads settings, so training cannot cut windows of another
length than the scorer does, and a result's reuse key names every option that shaped it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SpeakerOptions:
    """How windows are told apart by voice (realtone_scorer.speakers; docs/speakers.md)."""

    # Below this much speech (seconds) a window gets no voice embedding.
    min_speech_seconds: float = 1.0
    # Clusters of windows merge while their average cosine similarity is at least this, and
    # a window whose first and last 1.6 s of speech are less similar than ``mixed_below``
    # holds two voices (a turn change or cross-talk): marked ``overlap``, given no speaker.
    # Both chosen on offline conversations of known speakers (python -m detector.speakers).
    same_speaker: float = 0.7
    mixed_below: float = 0.65


@dataclass(frozen=True)
class ScoringOptions:
    window_seconds: float = 4.0
    hop_seconds: float = 4.0
    # A last partial window is kept (repeat-padded) when at least this long.
    min_tail_seconds: float = 0.5
    # Windows quieter than this RMS level are unvoiced: not scored, left out of the summary.
    voice_threshold_dbfs: float = -50.0
    max_duration_seconds: float = 30 * 60
    # A window is fake when its score is at least this.
    score_threshold: float = 0.5
    # Overall scores within this distance of the threshold are "inconclusive" (0 = off).
    inconclusive_band: float = 0.0
    # Windows that cannot be judged (realtone_scorer.reasons): less speech than this share of
    # frames is music or noise; more clipped samples than this share is clipped; less speech
    # than this many seconds is too short. Measured: bench/reasons.py.
    min_speech_fraction: float = 0.2
    max_clipped_fraction: float = 0.01
    min_speech_seconds: float = 0.5
    speakers: SpeakerOptions = SpeakerOptions()

    def __post_init__(self) -> None:
        if min(self.window_seconds, self.hop_seconds, self.min_tail_seconds) <= 0:
            raise ValueError("window, hop and minimum tail must be positive")
        if self.min_tail_seconds > self.window_seconds:
            raise ValueError("the minimum tail must not exceed the window")
        if not 0 <= self.score_threshold <= 1 or not 0 <= self.inconclusive_band <= 0.5:
            raise ValueError("score threshold must be in [0, 1] and the band in [0, 0.5]")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
