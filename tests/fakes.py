"""In-memory adapters for unit tests of domain code (same methods as the real ones)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import BinaryIO
from uuid import UUID, uuid4

import numpy as np

from realtone_core.cache import CachedAnalysis
from realtone_core.limits import Limit
from realtone_core.models import (
    Analysis,
    AnalysisRecord,
    Chunk,
    ModelCard,
    ScoringResult,
    Status,
    Summary,
)
from realtone_core.s3 import ObjectInfo, PresignedPost, upload_key
from realtone_scorer.uploads import Delivery, Outcome, S3Object, Scorer


class InMemoryAnalyses:
    """The analysis store's behaviour in memory; ``tests/integration/test_store_contract.py``
    runs it and the Postgres store through the same cases."""

    def __init__(self) -> None:
        self.rows: dict[UUID, AnalysisRecord] = {}
        self.stored_chunks: dict[UUID, list[Chunk]] = {}
        self.claimed_at: dict[UUID, datetime | None] = {}
        self.content: dict[UUID, tuple[str | None, str | None]] = {}
        self.idempotency: dict[tuple[UUID, str], UUID] = {}
        self.complete_calls = 0

    def add(
        self, filename: str = "clip.wav", status: Status = Status.AWAITING_UPLOAD
    ) -> AnalysisRecord:
        owner, ident = uuid4(), uuid4()
        record, _ = self.create(
            analysis_id=ident,
            owner_id=owner,
            filename=filename,
            content_type="audio/wav",
            size_bytes=1000,
            object_key=upload_key(owner, ident, filename),
            upload_expires_at=datetime.now(UTC) + timedelta(minutes=15),
            idempotency_key=None,
        )
        return self._set(ident, status=status) if status != record.status else record

    def create(
        self,
        *,
        analysis_id: UUID,
        owner_id: UUID,
        filename: str,
        content_type: str,
        size_bytes: int,
        object_key: str,
        upload_expires_at: datetime,
        idempotency_key: str | None,
    ) -> tuple[AnalysisRecord, bool]:
        if idempotency_key and (owner_id, idempotency_key) in self.idempotency:
            return self.rows[self.idempotency[(owner_id, idempotency_key)]], False
        now = datetime.now(UTC)
        record = AnalysisRecord(
            id=analysis_id,
            owner_id=owner_id,
            status=Status.AWAITING_UPLOAD,
            filename=filename,
            content_type=content_type,
            size_bytes=size_bytes,
            object_key=object_key,
            upload_expires_at=upload_expires_at,
            created_at=now,
            updated_at=now,
        )
        self.rows[analysis_id] = record
        if idempotency_key:
            self.idempotency[(owner_id, idempotency_key)] = analysis_id
        return record, True

    def by_idempotency_key(self, owner_id: UUID, idempotency_key: str) -> AnalysisRecord | None:
        ident = self.idempotency.get((owner_id, idempotency_key))
        return self.rows.get(ident) if ident else None

    def get(self, analysis_id: UUID, owner_id: UUID | None = None) -> AnalysisRecord | None:
        r = self.rows.get(analysis_id)
        return r if r is not None and owner_id in (None, r.owner_id) else None

    def chunks(self, analysis_id: UUID) -> list[Chunk]:
        return list(self.stored_chunks.get(analysis_id, []))

    def mark_queued(self, analysis_id: UUID) -> AnalysisRecord | None:
        r = self.rows.get(analysis_id)
        if r is None or r.status != Status.AWAITING_UPLOAD:
            return None
        return self._set(analysis_id, status=Status.QUEUED)

    def expire(self, analysis_id: UUID) -> AnalysisRecord | None:
        r = self.rows.get(analysis_id)
        if r is None or r.status != Status.AWAITING_UPLOAD:
            return None
        if r.upload_expires_at >= datetime.now(UTC):
            return None
        return self._set(analysis_id, status=Status.EXPIRED)

    def _set(self, ident: UUID, **changes: object) -> AnalysisRecord:
        record = self.rows[ident].model_copy(update={**changes, "updated_at": datetime.now(UTC)})
        self.rows[ident] = record
        return record

    def claim(
        self, analysis_id: UUID, object_key: str, lease_seconds: int
    ) -> AnalysisRecord | None:
        r = self.rows.get(analysis_id)
        if r is None or r.object_key != object_key:
            return None
        held_at = self.claimed_at.get(analysis_id)
        lease_over = held_at is None or held_at < datetime.now(UTC) - timedelta(
            seconds=lease_seconds
        )
        if r.status in (Status.AWAITING_UPLOAD, Status.QUEUED) or (
            r.status == Status.PROCESSING and lease_over
        ):
            self.claimed_at[analysis_id] = datetime.now(UTC)
            return self._set(analysis_id, status=Status.PROCESSING, claim_token=uuid4())
        return None

    def release(self, analysis_id: UUID, claim_token: UUID) -> None:
        r = self.rows.get(analysis_id)
        if r and r.status == Status.PROCESSING and r.claim_token == claim_token:
            self.claimed_at[analysis_id] = None

    def complete(
        self, analysis_id: UUID, claim_token: UUID, result: ScoringResult
    ) -> AnalysisRecord | None:
        r = self.rows.get(analysis_id)
        if r is None or r.status != Status.PROCESSING or r.claim_token != claim_token:
            return None
        self.complete_calls += 1
        self.stored_chunks[analysis_id] = list(result.chunks)
        self.content[analysis_id] = (result.content_sha256, result.scoring_key)
        return self._set(
            analysis_id,
            status=Status.COMPLETED,
            summary=result.summary,
            model=result.model,
            duration_seconds=result.duration_seconds,
            processing_ms=result.processing_ms,
            error_code=None,
            error_message=None,
        )

    def find_reusable(
        self, content_sha256: str, scoring_key: str
    ) -> tuple[UUID, float, Summary, list[Chunk]] | None:
        for ident, (sha, key) in self.content.items():
            r = self.rows.get(ident)
            if r and r.status == Status.COMPLETED and (sha, key) == (content_sha256, scoring_key):
                return ident, r.duration_seconds or 0.0, r.summary, self.chunks(ident)  # type: ignore[return-value]
        return None

    def fail(
        self,
        analysis_id: UUID,
        code: str,
        message: str,
        *,
        claim_token: UUID | None = None,
        processing_ms: int | None = None,
    ) -> AnalysisRecord | None:
        r = self.rows.get(analysis_id)
        if r is None or r.status.terminal:
            return None
        if claim_token is not None and (
            r.status != Status.PROCESSING or r.claim_token != claim_token
        ):
            return None
        return self._set(
            analysis_id,
            status=Status.FAILED,
            error_code=code,
            error_message=message,
            processing_ms=processing_ms,
        )


class InMemoryObjects:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.abandoned: set[str] = set()

    def mark_abandoned(self, key: str) -> None:
        self.abandoned.add(key)

    def head(self, key: str) -> ObjectInfo | None:
        data = self.objects.get(key)
        return None if data is None else ObjectInfo(len(data), "etag", "audio/wav")

    def download(self, key: str, out: BinaryIO) -> int | None:
        data = self.objects.get(key)
        if data is None:
            return None
        out.write(data)
        return len(data)

    def presigned_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> PresignedPost:
        expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
        fields = {"key": key, "Content-Type": content_type}
        return PresignedPost("https://storage.example/bucket", fields, expires_at, max_bytes)


class InMemoryCache:
    """The status cache: documents by analysis id, as the API serves them."""

    def __init__(self) -> None:
        self.entries: dict[UUID, CachedAnalysis] = {}

    def get(self, analysis_id: UUID) -> CachedAnalysis | None:
        return self.entries.get(analysis_id)

    def put(self, owner_id: UUID, analysis: Analysis) -> CachedAnalysis:
        entry = CachedAnalysis(owner_id, analysis.status, analysis.model_dump_json().encode())
        self.entries[analysis.id] = entry
        return entry


class InMemoryLimiter:
    def __init__(self) -> None:
        self.used: dict[tuple[str, str], int] = {}

    def exceeded(self, limit: Limit, subject: str, amount: int = 0) -> int | None:
        used = self.used.get((limit.name, subject), 0)
        return limit.window_seconds if used + max(amount, 1) > limit.limit else None

    def add(self, limit: Limit, subject: str, amount: int = 1) -> None:
        key = (limit.name, subject)
        self.used[key] = self.used.get(key, 0) + amount


class Published(list[AnalysisRecord]):
    """The status documents a scorer published, in order (their windows in ``chunks``)."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[list[Chunk]] = []

    def __call__(self, record: AnalysisRecord, chunks: list[Chunk]) -> None:
        self.append(record)
        self.chunks.append(list(chunks))


def deliver(scorer: Scorer, key: str, receive_count: int = 1, size: int | None = None) -> Outcome:
    """The scorer handed an S3 event for ``key`` (delivery ``receive_count`` of 3)."""
    return scorer.process_upload(S3Object("bucket", key, "etag", size), Delivery(receive_count, 3))


class LoudnessDetector:
    """Score = clipped RMS of the window: deterministic and easy to reason about."""

    card = ModelCard(name="test:loudness", version="1", sha256="0" * 64, trained=False)

    def __init__(self, fail_times: int = 0, gain: float = 2.0) -> None:
        self.calls = 0
        self.fail_times = fail_times
        self.gain = gain

    @property
    def identity(self) -> str:
        return f"loudness x{self.gain}"

    def score(self, windows: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls <= self.fail_times:
            raise RuntimeError("simulated transient failure")
        return np.clip(np.sqrt(np.mean(np.square(windows), axis=1)) * self.gain, 0, 1)
