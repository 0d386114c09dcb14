"""Scoring one uploaded object: claim → download → decode → windows → detector → store.

Domain code: it takes its adapters as arguments, so unit tests pass in-memory fakes and the
Lambda handler and the worker share this one path.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Protocol
from uuid import UUID

import numpy as np
from aws_lambda_powertools import Logger

from realtone_core.config import Settings
from realtone_core.errors import AudioError, ErrorCode
from realtone_core.models import AnalysisRecord, Chunk, ModelCard, ScoringResult
from realtone_core.storage import ObjectInfo, parse_upload_key
from realtone_scorer.audio import TARGET_RATE, decode
from realtone_scorer.summary import summarize
from realtone_scorer.windows import plan_windows, window_samples

logger = Logger(service="realtone-scorer", child=True)


class AnalysisPort(Protocol):
    def claim(
        self, analysis_id: UUID, object_key: str, lease_seconds: int
    ) -> AnalysisRecord | None: ...
    def release(self, analysis_id: UUID, claim_token: UUID) -> None: ...
    def complete(
        self, analysis_id: UUID, claim_token: UUID, result: ScoringResult
    ) -> AnalysisRecord | None: ...
    def fail(
        self,
        analysis_id: UUID,
        code: str,
        message: str,
        *,
        claim_token: UUID | None = None,
        processing_ms: int | None = None,
        duration_seconds: float | None = None,
    ) -> AnalysisRecord | None: ...


class ObjectPort(Protocol):
    def head(self, key: str) -> ObjectInfo | None: ...
    def download(self, key: str, out: BinaryIO) -> int | None: ...


class PublishPort(Protocol):
    def __call__(self, record: AnalysisRecord) -> object: ...


class DetectorPort(Protocol):
    card: ModelCard

    def score(self, windows: np.ndarray) -> np.ndarray: ...


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class Scorer:
    settings: Settings
    analyses: AnalysisPort
    objects: ObjectPort
    publish: PublishPort
    detector: DetectorPort

    def process_upload(self, key: str, receive_count: int = 1) -> Outcome:
        """Score the object at ``key`` once; redeliveries and stale events are skipped.

        Raises on transient failures so the message is retried; on the last delivery the
        analysis is marked ``failed``/``internal_error`` before the message goes to the DLQ.
        """
        ids = parse_upload_key(key)
        if ids is None:
            logger.warning("ignoring an object outside uploads/", key=key)
            return Outcome.SKIPPED
        _, analysis_id = ids
        record = self.analyses.claim(analysis_id, key, self.settings.claim_lease_seconds)
        if record is None or record.claim_token is None:
            logger.info("skipping: analysis deleted, finished or being scored", key=key)
            return Outcome.SKIPPED
        token = record.claim_token
        self.publish(record)
        started = time.perf_counter()
        try:
            result = self._score(key, started)
        except AudioError as exc:
            logger.info("audio rejected", analysis_id=str(analysis_id), code=exc.code)
            failed = self.analyses.fail(
                analysis_id,
                exc.code,
                exc.message,
                claim_token=token,
                processing_ms=_ms_since(started),
            )
            if failed:
                self.publish(failed)
            return Outcome.FAILED
        except Exception:
            if receive_count >= self.settings.max_receive_count:
                logger.exception("scoring failed on the last attempt", analysis_id=str(analysis_id))
                failed = self.analyses.fail(
                    analysis_id,
                    ErrorCode.INTERNAL_ERROR,
                    "Scoring failed repeatedly; the upload was kept for investigation",
                    claim_token=token,
                    processing_ms=_ms_since(started),
                )
                if failed:
                    self.publish(failed)
            else:
                logger.exception(
                    "scoring failed; the message will be retried",
                    analysis_id=str(analysis_id),
                    receive_count=receive_count,
                )
                self._release_quietly(analysis_id, token)
            raise
        completed = self.analyses.complete(analysis_id, token, result)
        if completed is None:
            logger.info(
                "result dropped: analysis deleted or claimed by another scorer",
                analysis_id=str(analysis_id),
            )
            return Outcome.SKIPPED
        self.publish(completed)
        logger.info(
            "analysis completed",
            analysis_id=str(analysis_id),
            verdict=result.summary.verdict,
            windows=len(result.chunks),
            duration_seconds=result.duration_seconds,
            processing_ms=result.processing_ms,
        )
        return Outcome.COMPLETED

    def _release_quietly(self, analysis_id: UUID, token: UUID) -> None:
        try:
            self.analyses.release(analysis_id, token)
        except Exception:
            # The lease expires on its own; releasing only lets a retry start sooner.
            logger.warning("could not release the claim", analysis_id=str(analysis_id))

    def _score(self, key: str, started: float) -> ScoringResult:
        s = self.settings
        timings: dict[str, float] = {}
        info = self.objects.head(key)
        if info is None:
            raise AudioError(ErrorCode.UPLOAD_MISSING, "The uploaded file is no longer in storage")
        if info.size > s.max_upload_bytes:
            raise AudioError(
                ErrorCode.TOO_LARGE, f"The file is larger than {s.max_upload_bytes} bytes"
            )
        with tempfile.TemporaryDirectory(prefix="realtone-") as tmp:
            path = Path(tmp) / "upload"
            t0 = time.perf_counter()
            with path.open("wb") as out:
                if self.objects.download(key, out) is None:
                    raise AudioError(
                        ErrorCode.UPLOAD_MISSING, "The uploaded file is no longer in storage"
                    )
            timings["download_ms"] = _ms_since(t0)
            t0 = time.perf_counter()
            audio = decode(path, s.max_duration_seconds)
            timings["decode_ms"] = _ms_since(t0)
        samples = audio.samples
        windows = plan_windows(
            samples,
            TARGET_RATE,
            s.window_seconds,
            s.hop_seconds,
            s.min_tail_seconds,
            s.voice_threshold_dbfs,
        )
        t0 = time.perf_counter()
        length = round(s.window_seconds * TARGET_RATE)
        voiced = [w for w in windows if w.voiced]
        scores: dict[int, float] = {}
        for i in range(0, len(voiced), s.batch_size):
            batch = voiced[i : i + s.batch_size]
            values = self.detector.score(
                np.stack([window_samples(samples, w, length) for w in batch])
            )
            scores.update((w.index, float(v)) for w, v in zip(batch, values, strict=True))
        timings["score_ms"] = _ms_since(t0)
        chunks = [
            Chunk(
                chunk_id=w.index,
                start_time_seconds=w.start / TARGET_RATE,
                end_time_seconds=w.end / TARGET_RATE,
                score=scores.get(w.index),
                voiced=w.voiced,
            )
            for w in windows
        ]
        total = _ms_since(started)
        timings["total_ms"] = total
        return ScoringResult(
            duration_seconds=audio.duration_seconds,
            processing_ms=int(total),
            model=self.detector.card,
            summary=summarize(chunks, s.score_threshold),
            chunks=chunks,
            timings=timings,
        )


def _ms_since(t0: float) -> int:
    return int((time.perf_counter() - t0) * 1000)
