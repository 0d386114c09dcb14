"""Scoring a local audio file: decode → windows → batched detector → summary.

The one definition of how a file becomes a result, shared by the service, ``realtone eval``
and the benchmark, so their figures are the service's figures.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from realtone_core.models import Chunk, ModelCard, ScoringResult
from realtone_scorer.audio import TARGET_RATE, Charge, decode
from realtone_scorer.options import ScoringOptions
from realtone_scorer.reasons import Reason, window_reason
from realtone_scorer.speakers import (
    VoicePort,
    WindowVoice,
    diarize,
    embed_windows,
    end_partials,
    end_similarities,
    middle_partial,
)
from realtone_scorer.speech import FRAME, SpeechFrames
from realtone_scorer.speech import MODEL_SHA256 as SPEECH_MODEL
from realtone_scorer.summary import summarize, summarize_speakers
from realtone_scorer.windows import Window, plan_windows, window_samples


class DetectorPort(Protocol):
    card: ModelCard

    @property
    def identity(self) -> str:
        """What decides a score besides the samples: weights, calibration, device, precision."""
        ...

    def score(self, windows: np.ndarray) -> np.ndarray: ...


def scoring_key(
    options: ScoringOptions, detector: DetectorPort, voices: VoicePort | None = None
) -> str:
    """Two uploads with the same bytes and the same key get the same result, so one may
    reuse the other's: the detector's identity plus every option that shapes a result."""
    shape = {
        "detector": detector.identity,
        "speech_model": SPEECH_MODEL,
        "speaker_model": voices.identity if voices is not None else None,
        **options.as_dict(),
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


def ms_since(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)


class ProgressPort(Protocol):
    """Told the windows decided so far (in order) and how many the file has, after each
    batch: a long file's timeline can be shown while it is scored."""

    def __call__(self, chunks: list[Chunk], done: int, total: int) -> object: ...


@dataclass(frozen=True)
class Scored:
    chunks: list[Chunk]
    score_ms: int  # the VAD, detector and speaker encoder
    # speaker → voice embedding (unit vector); empty without a voice encoder
    speakers: dict[int, np.ndarray]
    # window index → its voice, for the windows that have one
    voices: dict[int, WindowVoice]


def score_samples(
    samples: np.ndarray,
    options: ScoringOptions,
    detector: DetectorPort,
    batch_size: int = 8,
    progress: ProgressPort | None = None,
    voices: VoicePort | None = None,
) -> Scored:
    """Window 16 kHz samples and score the windows that can be judged. A window that cannot
    be judged says why (``realtone_scorer.reasons``). With ``voices``, the judged windows are
    embedded in the same pass and told apart by speaker (``realtone_scorer.speakers``); the
    speakers are known once every window is, so progress reports carry none."""
    windows = plan_windows(samples, TARGET_RATE, options)
    length = round(options.window_seconds * TARGET_RATE)
    speech = SpeechFrames(samples)
    reasons: dict[int, Reason | None] = {}
    scores: dict[int, float] = {}
    embedded: dict[int, WindowVoice] = {}

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
        if voices is not None:
            partials = [
                middle_partial(samples[w.start : w.end], frames_of(w), options.speakers)
                for w in batch
            ]
            for w, voice in zip(batch, embed_windows(voices, partials), strict=True):
                if voice is not None:
                    embedded[w.index] = voice

    def frames_of(w: Window) -> np.ndarray:
        return speech.until(w.end)[w.start // FRAME : -(-w.end // FRAME)]

    def ends(indices: list[int]) -> dict[int, float]:
        assert voices is not None
        parts = {
            i: end_partials(
                samples[windows[i].start : windows[i].end], frames_of(windows[i]), options.speakers
            )
            for i in indices
        }
        return end_similarities(voices, parts)

    t0 = time.perf_counter()
    batch: list[Window] = []
    for w in windows:
        reasons[w.index] = window_reason(samples[w.start : w.end], w.voiced, frames_of(w), options)
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
    if voices is None:
        return Scored(chunks, ms_since(t0), {}, {})
    who = diarize(embedded, options.speakers, ends)
    for c in chunks:
        c.speaker = who.speaker.get(c.chunk_id)
        c.overlap = c.chunk_id in who.overlap
    return Scored(chunks, ms_since(t0), who.embeddings, embedded)


def score_file(
    path: Path,
    options: ScoringOptions,
    detector: DetectorPort,
    batch_size: int = 8,
    charge: Charge | None = None,
    progress: ProgressPort | None = None,
    voices: VoicePort | None = None,
) -> ScoringResult:
    """Score one local file; raises ``AudioError`` for audio that cannot be scored.
    ``charge`` is told the seconds of audio the file decodes to (see ``audio.decode``)."""
    started = time.perf_counter()
    audio = decode(path, options.max_duration_seconds, charge)
    decode_ms = ms_since(started)
    scored = score_samples(audio.samples, options, detector, batch_size, progress, voices)
    total = ms_since(started)
    summary = summarize(scored.chunks, options.score_threshold, options.inconclusive_band)
    if voices is not None:
        summary.speakers = summarize_speakers(scored.chunks, audio.duration_seconds, options)
    return ScoringResult(
        duration_seconds=audio.duration_seconds,
        processing_ms=total,
        model=detector.card,
        summary=summary,
        chunks=scored.chunks,
        timings={"decode_ms": decode_ms, "score_ms": scored.score_ms, "total_ms": total},
        speaker_embeddings={s: e.tolist() for s, e in scored.speakers.items()},
    )
