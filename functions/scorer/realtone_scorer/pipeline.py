"""Scoring a local audio file: decode → windows → batched detector → summary.

The one definition of how a file becomes a result, shared by the service, ``realtone eval``
and the benchmark, so their figures are the service's figures.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from realtone_core.models import Chunk, ModelCard, ScoringResult
from realtone_scorer.audio import TARGET_RATE, Charge, decode
from realtone_scorer.options import ScoringOptions
from realtone_scorer.reasons import window_reason
from realtone_scorer.speech import FRAME, SpeechFrames
from realtone_scorer.speech import MODEL_SHA256 as SPEECH_MODEL
from realtone_scorer.summary import summarize
from realtone_scorer.windows import Window, plan_windows, window_samples


class DetectorPort(Protocol):
    card: ModelCard

    @property
    def identity(self) -> str:
        """What decides a score besides the samples: weights, calibration, device, precision."""
        ...

    def score(self, windows: np.ndarray) -> np.ndarray: ...


def scoring_key(options: ScoringOptions, detector: DetectorPort) -> str:
    """Two uploads with the same bytes and the same key get the same result, so one may
    reuse the other's: the detector's identity plus every option that shapes a result."""
    shape = {"detector": detector.identity, "speech_model": SPEECH_MODEL, **options.as_dict()}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


def ms_since(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)


class ProgressPort(Protocol):
    """Told the windows decided so far (in order) and how many the file has, after each
    batch: a long file's timeline can be shown while it is scored."""

    def __call__(self, chunks: list[Chunk], done: int, total: int) -> object: ...


def score_samples(
    samples: np.ndarray,
    options: ScoringOptions,
    detector: DetectorPort,
    batch_size: int = 8,
    progress: ProgressPort | None = None,
) -> tuple[list[Chunk], int]:
    """Window 16 kHz samples and score the windows that can be judged; returns chunks and
    model ms. A window that cannot be judged says why (``realtone_scorer.reasons``)."""
    windows = plan_windows(samples, TARGET_RATE, options)
    length = round(options.window_seconds * TARGET_RATE)
    speech = SpeechFrames(samples)
    reasons: dict[int, str | None] = {}
    scores: dict[int, float] = {}

    def chunk(w: Window) -> Chunk:
        return Chunk(
            chunk_id=w.index,
            start_time_seconds=w.start / TARGET_RATE,
            end_time_seconds=w.end / TARGET_RATE,
            score=scores.get(w.index),
            # Speech is there (though it may be clipped or too short to judge).
            voiced=reasons[w.index] not in ("no_speech", "music_or_noise"),
            reason=reasons[w.index],
        )

    def score(batch: list[Window]) -> None:
        values = detector.score(np.stack([window_samples(samples, w, length) for w in batch]))
        scores.update((w.index, float(v)) for w, v in zip(batch, values, strict=True))

    t0 = time.perf_counter()
    batch: list[Window] = []
    for w in windows:
        frames = speech.until(w.end)[w.start // FRAME : -(-w.end // FRAME)]
        reasons[w.index] = window_reason(samples[w.start : w.end], w.voiced, frames, options)
        if reasons[w.index] is None:
            batch.append(w)
        if len(batch) == batch_size:
            score(batch)
            batch = []
            done = w.index + 1
            if progress is not None and done < len(windows):
                # Every window up to this one is decided: a timeline that only grows at its
                # end, so a client resuming after n windows needs exactly chunks[n:].
                progress([chunk(v) for v in windows[:done]], done, len(windows))
    if batch:
        score(batch)
    chunks = [chunk(w) for w in windows]
    return chunks, ms_since(t0)


def score_file(
    path: Path,
    options: ScoringOptions,
    detector: DetectorPort,
    batch_size: int = 8,
    charge: Charge | None = None,
    progress: ProgressPort | None = None,
) -> ScoringResult:
    """Score one local file; raises ``AudioError`` for audio that cannot be scored.
    ``charge`` is told the seconds of audio the file decodes to (see ``audio.decode``)."""
    started = time.perf_counter()
    audio = decode(path, options.max_duration_seconds, charge)
    decode_ms = ms_since(started)
    chunks, score_ms = score_samples(audio.samples, options, detector, batch_size, progress)
    total = ms_since(started)
    return ScoringResult(
        duration_seconds=audio.duration_seconds,
        processing_ms=total,
        model=detector.card,
        summary=summarize(chunks, options.score_threshold, options.inconclusive_band),
        chunks=chunks,
        timings={"decode_ms": decode_ms, "score_ms": score_ms, "total_ms": total},
    )
