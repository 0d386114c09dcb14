"""Scoring one uploaded object: claim → download → decode → windows → detector → store;
and which uploads wait in the heavy queue (``FairShare``).

Domain code: it takes its adapters as arguments, so unit tests pass in-memory fakes and the
Lambda handler and the worker share this one path.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import BinaryIO, Protocol
from uuid import UUID

import numpy as np
from aws_lambda_powertools import Logger

from realtone_core.errors import AudioError, ErrorCode
from realtone_core.lifecycle import delete_audio
from realtone_core.models import AnalysisRecord, Chunk, Progress, ScoringResult, Status, Summary
from realtone_core.s3 import ObjectInfo, parse_upload_key
from realtone_core.voices import MATCH_THRESHOLD
from realtone_scorer.options import ScoringOptions
from realtone_scorer.pipeline import DetectorPort, ms_since, score_file, scoring_key
from realtone_scorer.speakers import VoicePort, match_enrolled

logger = Logger(service="realtone-scorer", child=True)


class AnalysisPort(Protocol):
    def claim(
        self, analysis_id: UUID, object_key: str, lease_seconds: int
    ) -> AnalysisRecord | None: ...
    def get(self, analysis_id: UUID) -> AnalysisRecord | None: ...
    def release(self, analysis_id: UUID, claim_token: UUID) -> None: ...
    def record_object(
        self, analysis_id: UUID, claim_token: UUID, etag: str, content_sha256: str
    ) -> None: ...
    def mark_audio_replaced(self, analysis_id: UUID) -> AnalysisRecord | None: ...
    def mark_audio_deleted(
        self, analysis_id: UUID, reason: str, retention_days: int | None = None
    ) -> AnalysisRecord | None: ...
    def complete(
        self, analysis_id: UUID, claim_token: UUID, result: ScoringResult
    ) -> AnalysisRecord | None: ...
    def find_reusable(
        self, owner_id: UUID, content_sha256: str, scoring_key: str
    ) -> tuple[UUID, float, Summary, list[Chunk]] | None: ...
    def fail(
        self,
        analysis_id: UUID,
        code: str,
        message: str,
        *,
        claim_token: UUID | None = None,
        processing_ms: int | None = None,
    ) -> AnalysisRecord | None: ...


class ObjectPort(Protocol):
    def download(self, key: str, out: BinaryIO) -> ObjectInfo | None: ...
    def head(self, key: str) -> ObjectInfo | None: ...
    def delete(self, key: str) -> None: ...
    def mark_abandoned(self, key: str) -> None: ...


class QuotaPort(Protocol):
    """Decoded audio seconds per owner and day (``realtone_core.limits.AudioQuota``)."""

    def charge(self, owner_id: UUID, analysis_id: UUID, seconds: int) -> int | None: ...
    def used(self, owner_id: UUID) -> int: ...


class VoiceStorePort(Protocol):
    """The owner's enrolled voices and the speakers' embeddings (``realtone_core.voices``)."""

    def enrolled(self, owner_id: UUID) -> list[tuple[UUID, str, np.ndarray]]: ...
    def speaker_embeddings(self, analysis_id: UUID, owner_id: UUID) -> dict[int, np.ndarray]: ...
    def save_speakers(
        self, analysis_id: UUID, owner_id: UUID, speakers: list[tuple[int, float, list[float]]]
    ) -> int: ...


class PublishPort(Protocol):
    """Writes the status document of ``record`` with the windows in hand (all of them when
    completed; those decided so far, with ``progress``, while processing) to the cache."""

    def __call__(
        self, record: AnalysisRecord, chunks: list[Chunk], progress: Progress | None = None
    ) -> object: ...


@dataclass(frozen=True)
class S3Object:
    """The uploaded object as its S3 event describes it (size and ETag when the event has them)."""

    bucket: str
    key: str
    etag: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Delivery:
    """Which delivery of its message a scoring attempt is: the one place that decides whether
    an earlier attempt may be taken over and whether this is the last chance."""

    receive_count: int = 1
    max_receive_count: int = 3

    @property
    def is_retry(self) -> bool:
        # SQS redelivers a message only once the previous delivery is over (its visibility ran
        # out: the scorer failed, timed out or died), so a retry may take over a claim that is
        # still held and skips the in-progress idempotency record the dead attempt left.
        return self.receive_count > 1

    @property
    def is_last(self) -> bool:
        return self.receive_count >= self.max_receive_count


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class Scorer:
    options: ScoringOptions
    analyses: AnalysisPort
    objects: ObjectPort
    publish: PublishPort
    detector: DetectorPort
    lease_seconds: int = 900
    max_upload_bytes: int = 100 * 1024 * 1024
    batch_size: int = 8
    quota: QuotaPort | None = None
    # Webhooks: sends the deliveries of an analysis that just ended to the webhook queue.
    announce: Callable[[UUID], object] | None = None
    # Who is speaking: the speaker encoder, and where enrolled voices and embeddings live.
    voices: VoicePort | None = None
    voice_store: VoiceStorePort | None = None
    match_threshold: float = MATCH_THRESHOLD

    def process_upload(self, s3_object: S3Object, delivery: Delivery) -> Outcome:
        """Score the object once; redeliveries and stale events are skipped.

        Raises on transient failures so the message is retried; on the last delivery the
        analysis is marked ``failed``/``internal_error`` before the message goes to the DLQ.
        """
        key = s3_object.key
        ids = parse_upload_key(key)
        if ids is None:
            logger.warning("ignoring an object outside uploads/", key=key)
            return Outcome.SKIPPED
        owner_id, analysis_id = ids
        # A first delivery respects the lease: a duplicate event must not steal a claim from a
        # live scorer.
        lease = 0 if delivery.is_retry else self.lease_seconds
        record = self.analyses.claim(analysis_id, key, lease)
        if record is None or record.claim_token is None:
            self._not_claimed(analysis_id, key)
            return Outcome.SKIPPED
        token = record.claim_token
        self.publish(record, [])
        started = time.perf_counter()
        try:
            result = self._score(s3_object, owner_id, record, token, started)
        except AudioError as exc:
            logger.info("audio rejected", analysis_id=str(analysis_id), code=exc.code)
            failed = self.analyses.fail(
                analysis_id,
                exc.code,
                exc.message,
                claim_token=token,
                processing_ms=ms_since(started),
            )
            if failed:
                self.publish(self._apply_retention(failed), [])
                self._announce(analysis_id)
            return Outcome.FAILED
        except Exception:
            if delivery.is_last:
                logger.exception("scoring failed on the last attempt", analysis_id=str(analysis_id))
                kept = (
                    "not kept (zero-retention)"
                    if record.zero_retention
                    else "kept for investigation"
                )
                failed = self.analyses.fail(
                    analysis_id,
                    ErrorCode.INTERNAL_ERROR,
                    f"Scoring failed repeatedly; the upload was {kept}",
                    claim_token=token,
                    processing_ms=ms_since(started),
                )
                if failed:
                    self.publish(self._apply_retention(failed), [])
                    self._announce(analysis_id)
            else:
                logger.exception(
                    "scoring failed; the message will be retried",
                    analysis_id=str(analysis_id),
                    receive_count=delivery.receive_count,
                )
                self._release_quietly(analysis_id, token)
            raise
        self._save_speakers(analysis_id, owner_id, result)
        completed = self.analyses.complete(analysis_id, token, result)
        if completed is None:
            logger.info(
                "result dropped: analysis deleted or claimed by another scorer",
                analysis_id=str(analysis_id),
            )
            return Outcome.SKIPPED
        self.publish(self._apply_retention(completed), result.chunks)
        self._announce(analysis_id)
        logger.info(
            "analysis completed",
            analysis_id=str(analysis_id),
            verdict=result.summary.verdict,
            windows=len(result.chunks),
            duration_seconds=result.duration_seconds,
            processing_ms=result.processing_ms,
        )
        return Outcome.COMPLETED

    def _apply_retention(self, record: AnalysisRecord) -> AnalysisRecord:
        """Zero-retention: the audio is deleted as soon as the analysis is completed or failed
        (``record`` is the row as it is then, so an account that switched meanwhile counts).
        A failure here keeps the result; the sweep deletes the audio on its next run."""
        if not record.zero_retention or record.audio_deleted_at is not None:
            return record
        try:
            deleted = delete_audio(
                record, "zero_retention", analyses=self.analyses, objects=self.objects
            )
        except Exception:
            logger.warning(
                "zero-retention audio not deleted yet; the sweep will", analysis_id=str(record.id)
            )
            return record
        logger.info("zero-retention: audio deleted", analysis_id=str(record.id))
        return deleted or record

    def _announce(self, analysis_id: UUID) -> None:
        """Queue the webhook deliveries of an analysis that ended (its status update made
        them); one that cannot be queued now is sent by the sweep."""
        if self.announce is None:
            return
        try:
            self.announce(analysis_id)
        except Exception:
            logger.warning("could not queue webhook deliveries", analysis_id=str(analysis_id))

    def _progress(self, record: AnalysisRecord, chunks: list[Chunk], done: int, total: int) -> None:
        """Write-through of the windows decided so far (Postgres gets them on completion)."""
        try:
            self.publish(record, chunks, Progress(windows_done=done, windows_total=total))
        except Exception:  # the cache only speeds up reads: scoring goes on without it
            logger.warning("could not publish progress", analysis_id=str(record.id))

    def _not_claimed(self, analysis_id: UUID, key: str) -> None:
        """An event for an analysis that cannot be claimed: gone, expired, finished (its
        object maybe replaced since) or being scored by another."""
        current = self.analyses.get(analysis_id)
        if current is None:
            # Uploaded for an analysis that no longer exists (deleted while the upload was
            # in flight): tagged, so the bucket's lifecycle rule removes it.
            self.objects.mark_abandoned(key)
            logger.info("object of a deleted analysis marked abandoned", key=key)
        elif current.status == Status.EXPIRED:
            # Arrived after the upload window closed: never scored, so not kept either.
            self.objects.delete(key)
            logger.info("object uploaded after its analysis expired: deleted", key=key)
        elif current.audio_deleted_at is not None:
            # Its audio is not kept (retention): nothing put under its key is, either (an
            # upload policy may outlive the first upload).
            self.objects.delete(key)
            logger.info("object of an analysis whose audio is not kept: deleted", key=key)
        elif current.status.terminal and current.object_etag is not None:
            # Compared with what is in storage now, not with the event: a late event for
            # the very object that was scored must not remove it.
            info = self.objects.head(key)
            if info is not None and info.etag != current.object_etag:
                self.objects.delete(key)
                self.analyses.mark_audio_replaced(analysis_id)
                logger.warning(
                    "another object replaced the scored one: deleted, never served",
                    analysis_id=str(analysis_id),
                )
            else:
                logger.info("skipping: analysis finished", key=key)
        else:
            logger.info("skipping: analysis finished or being scored", key=key)

    def _charger(self, record: AnalysisRecord) -> Callable[[float], None] | None:
        quota = self.quota
        if quota is None:
            return None
        kept = (
            "The upload was not kept (zero-retention): upload it again then."
            if record.zero_retention
            else "The upload is kept: delete it, or upload it again then."
        )

        def charge(seconds: float) -> None:
            wait = quota.charge(record.owner_id, record.id, math.ceil(seconds))
            if wait is not None:
                raise AudioError(
                    ErrorCode.QUOTA_EXCEEDED,
                    f"Scoring this upload ({seconds / 60:.1f} min of audio) would pass your"
                    f" daily allowance of decoded audio; it renews in {math.ceil(wait / 60)}"
                    f" minutes. {kept}",
                )

        return charge

    def _release_quietly(self, analysis_id: UUID, token: UUID) -> None:
        try:
            self.analyses.release(analysis_id, token)
        except Exception:
            # The lease expires on its own; releasing only lets a retry start sooner.
            logger.warning("could not release the claim", analysis_id=str(analysis_id))

    def _score(
        self,
        s3_object: S3Object,
        owner_id: UUID,
        record: AnalysisRecord,
        token: UUID,
        started: float,
    ) -> ScoringResult:
        analysis_id = record.id
        if s3_object.size is not None and s3_object.size > self.max_upload_bytes:
            raise _too_large(self.max_upload_bytes)
        with tempfile.TemporaryDirectory(prefix="realtone-") as tmp:
            path = Path(tmp) / "upload"
            t0 = time.perf_counter()
            with path.open("wb") as raw:
                out = _HashingWriter(raw, self.max_upload_bytes)
                info = self.objects.download(s3_object.key, out)  # type: ignore[arg-type]
                if info is None:
                    raise AudioError(
                        ErrorCode.UPLOAD_MISSING, "The uploaded file is no longer in storage"
                    )
            download_ms = ms_since(t0)
            content_sha256 = out.hexdigest()
            # What is scored is these bytes: a later object under the key is told apart.
            self.analyses.record_object(analysis_id, token, info.etag, content_sha256)
            key = scoring_key(self.options, self.detector, self.voices)
            reusable = self.analyses.find_reusable(owner_id, content_sha256, key)
            if reusable is not None:
                source, duration, summary, chunks = reusable
                logger.info(
                    "identical upload already scored: reusing its result", source=str(source)
                )
                total = ms_since(started)
                store = self.voice_store
                embeddings = store.speaker_embeddings(source, owner_id) if store else {}
                return self._match_voices(
                    ScoringResult(
                        duration_seconds=duration,
                        processing_ms=total,
                        model=self.detector.card,
                        summary=summary,
                        chunks=chunks,
                        content_sha256=content_sha256,
                        scoring_key=key,
                        timings={"download_ms": download_ms, "score_ms": 0, "total_ms": total},
                        speaker_embeddings={s: e.tolist() for s, e in embeddings.items()},
                    ),
                    owner_id,
                )
            result = score_file(
                path,
                self.options,
                self.detector,
                self.batch_size,
                self._charger(record),
                partial(self._progress, record),
                self.voices,
            )
        total = ms_since(started)
        return self._match_voices(
            result.model_copy(
                update={
                    "processing_ms": total,
                    "content_sha256": content_sha256,
                    "scoring_key": key,
                    "timings": {**result.timings, "download_ms": download_ms, "total_ms": total},
                }
            ),
            owner_id,
        )

    def _match_voices(self, result: ScoringResult, owner_id: UUID) -> ScoringResult:
        """Which speakers sound like the owner's enrolled voices, as they are now (a reused
        result is matched again: the voices may have changed since)."""
        if self.voice_store is None or not result.speaker_embeddings:
            return result
        embeddings = {s: np.asarray(v, np.float32) for s, v in result.speaker_embeddings.items()}
        enrolled = self.voice_store.enrolled(owner_id)
        summary = match_enrolled(result.summary, embeddings, enrolled, self.match_threshold)
        return result.model_copy(update={"summary": summary})

    def _save_speakers(self, analysis_id: UUID, owner_id: UUID, result: ScoringResult) -> None:
        """Before the result is stored: a redelivery writes the same rows again."""
        if self.voice_store is None or not result.speaker_embeddings:
            return
        seconds = {s.speaker: s.seconds for s in result.summary.speakers or []}
        self.voice_store.save_speakers(
            analysis_id,
            owner_id,
            [(s, seconds.get(s, 0.0), e) for s, e in sorted(result.speaker_embeddings.items())],
        )


class InFlightPort(Protocol):
    def count_in_flight(self, owner_id: UUID) -> int: ...


class QueuePort(Protocol):
    def send(self, body: str) -> None: ...


@dataclass
class FairShare:
    """Which uploads wait in the heavy queue, so one user's backlog cannot hold others back.

    An owner with more than ``max_in_flight`` analyses in flight (awaiting upload, queued
    or processing), or with more than ``max_seconds_today`` seconds decoded today, is heavy:
    their messages go to the heavy queue, which is scored when the main queue is idle (the
    worker; it also takes one heavy message after every minute of main-queue work) or with
    capped concurrency (Lambda). Moving a message costs milliseconds, so a light user waits
    for at most the job in hand.
    """

    analyses: InFlightPort
    heavy: QueuePort | None
    quota: QuotaPort | None = None
    max_in_flight: int = 3
    max_seconds_today: int = 3600

    def defer(self, s3_objects: list[S3Object], body: str) -> bool:
        """Send the message (``body``) to the heavy queue when it is a heavy owner's."""
        if self.heavy is None:
            return False
        owners = {ids[0] for o in s3_objects if (ids := parse_upload_key(o.key)) is not None}
        if not any(self.is_heavy(owner) for owner in owners):
            return False
        self.heavy.send(body)
        return True

    def is_heavy(self, owner_id: UUID) -> bool:
        if self.analyses.count_in_flight(owner_id) > self.max_in_flight:
            return True
        return self.quota is not None and self.quota.used(owner_id) > self.max_seconds_today


def _too_large(limit: int) -> AudioError:
    return AudioError(ErrorCode.TOO_LARGE, f"The file is larger than {limit} bytes")


class _HashingWriter:
    """A write-only file wrapper that hashes what passes through it and stops a download
    that grows past the size limit (an event need not say the size)."""

    def __init__(self, raw: BinaryIO, max_bytes: int) -> None:
        self._raw = raw
        self._digest = hashlib.sha256()
        self._max = max_bytes
        self._written = 0

    def write(self, data: bytes) -> int:
        self._written += len(data)
        if self._written > self._max:
            raise _too_large(self._max)
        self._digest.update(data)
        return self._raw.write(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
