"""In-memory adapters for unit tests of domain code (same methods as the real ones)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import BinaryIO
from uuid import UUID, uuid4

import numpy as np

from realtone_core.cache import CachedAnalysis
from realtone_core.errors import InFlightLimitReached
from realtone_core.limits import Limit
from realtone_core.models import (
    Analysis,
    AnalysisRecord,
    AudioDeletedReason,
    Chunk,
    ModelCard,
    Progress,
    ScoringResult,
    Status,
    Summary,
    User,
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
        self.late_checked: set[UUID] = set()
        self.complete_calls = 0
        # Each owner's retention in days (0: zero-retention), as InMemoryAccounts keeps it.
        self.retention: dict[UUID, int] = {}

    def add(
        self,
        filename: str = "clip.wav",
        status: Status = Status.AWAITING_UPLOAD,
        owner: UUID | None = None,
        zero_retention: bool = False,
    ) -> AnalysisRecord:
        owner, ident = owner or uuid4(), uuid4()
        record, _ = self.create(
            analysis_id=ident,
            owner_id=owner,
            filename=filename,
            content_type="audio/wav",
            size_bytes=1000,
            object_key=upload_key(owner, ident, filename),
            upload_expires_at=datetime.now(UTC) + timedelta(minutes=15),
            idempotency_key=None,
            zero_retention=zero_retention,
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
        max_in_flight: int | None = None,
        zero_retention: bool = False,
    ) -> tuple[AnalysisRecord, bool]:
        if idempotency_key and (owner_id, idempotency_key) in self.idempotency:
            return self.rows[self.idempotency[(owner_id, idempotency_key)]], False
        if max_in_flight is not None:
            unfinished = {Status.AWAITING_UPLOAD, Status.QUEUED, Status.PROCESSING}
            mine = [r for r in self.rows.values() if r.owner_id == owner_id]
            if sum(r.status in unfinished for r in mine) >= max_in_flight:
                raise InFlightLimitReached(max_in_flight)
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
            zero_retention=zero_retention,
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

    def count_in_flight(self, owner_id: UUID) -> int:
        return sum(r.owner_id == owner_id and not r.status.terminal for r in self.rows.values())

    def delete(self, analysis_id: UUID, owner_id: UUID) -> AnalysisRecord | None:
        r = self.get(analysis_id, owner_id)
        if r is not None:
            del self.rows[analysis_id]
            self.stored_chunks.pop(analysis_id, None)
            self.content.pop(analysis_id, None)
        return r

    def mark_audio_replaced(self, analysis_id: UUID) -> AnalysisRecord | None:
        r = self.rows.get(analysis_id)
        if r is None:
            return None
        stamp = r.audio_replaced_at or datetime.now(UTC)
        self.rows[analysis_id] = r.model_copy(update={"audio_replaced_at": stamp})
        return self.rows[analysis_id]

    def mark_audio_deleted(
        self, analysis_id: UUID, reason: str, retention_days: int | None = None
    ) -> AnalysisRecord | None:
        r = self.rows.get(analysis_id)
        if r is None:
            return None
        if r.audio_deleted_at is None:
            self.rows[analysis_id] = r.model_copy(
                update={
                    "audio_deleted_at": datetime.now(UTC),
                    "audio_deleted_reason": reason,
                    "audio_retention_days": retention_days,
                }
            )
        return self.rows[analysis_id]

    def audio_past_retention(
        self, limit: int = 500
    ) -> list[tuple[AnalysisRecord, AudioDeletedReason, int | None]]:
        now = datetime.now(UTC)
        due: list[tuple[AnalysisRecord, AudioDeletedReason, int | None]] = []
        for r in self.rows.values():
            if r.audio_deleted_at is not None or r.status not in (
                Status.COMPLETED,
                Status.FAILED,
            ):
                continue
            days = self.retention.get(r.owner_id, 30)
            if r.zero_retention or days == 0:
                due.append((r, "zero_retention", None))
            elif r.created_at < now - timedelta(days=days):
                due.append((r, "retention_period", days))
        return due[:limit]

    def expired_unchecked(self, grace_seconds: int, limit: int = 100) -> list[AnalysisRecord]:
        before = datetime.now(UTC) - timedelta(seconds=grace_seconds)
        return [
            r
            for r in self.rows.values()
            if r.status == Status.EXPIRED
            and r.id not in self.late_checked
            and r.upload_expires_at < before
        ][:limit]

    def mark_late_checked(self, analysis_id: UUID) -> None:
        self.late_checked.add(analysis_id)

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

    def record_object(
        self, analysis_id: UUID, claim_token: UUID, etag: str, content_sha256: str
    ) -> None:
        r = self.rows.get(analysis_id)
        if r and r.status == Status.PROCESSING and r.claim_token == claim_token:
            self.rows[analysis_id] = r.model_copy(
                update={"object_etag": etag, "content_sha256": content_sha256}
            )

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
            content_sha256=result.content_sha256,
            error_code=None,
            error_message=None,
        )

    def find_reusable(
        self, owner_id: UUID, content_sha256: str, scoring_key: str
    ) -> tuple[UUID, float, Summary, list[Chunk]] | None:
        for ident, (sha, key) in self.content.items():
            r = self.rows.get(ident)
            if (
                r
                and r.owner_id == owner_id
                and r.status == Status.COMPLETED
                and (sha, key) == (content_sha256, scoring_key)
            ):
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


class InMemoryAccounts:
    """The users store's account side (``UserStore``) in memory, over an InMemoryAnalyses."""

    def __init__(self, analyses: InMemoryAnalyses) -> None:
        self.analyses = analyses
        self.users: dict[UUID, User] = {}

    def add(self, retention_days: int = 30, user_id: UUID | None = None) -> User:
        user = User(
            id=user_id or uuid4(),
            email=f"{uuid4().hex[:8]}@example.com",
            password_hash="x",
            created_at=datetime.now(UTC),
            retention_days=retention_days,
        )
        self.users[user.id] = user
        self.analyses.retention[user.id] = retention_days
        return user

    def by_id(self, user_id: UUID) -> User | None:
        return self.users.get(user_id)

    def retention_days(self, user_id: UUID) -> int | None:
        user = self.users.get(user_id)
        return user.retention_days if user else None

    def set_retention_days(self, user_id: UUID, days: int) -> User | None:
        user = self.users.get(user_id)
        if user is None:
            return None
        self.users[user_id] = user = user.model_copy(update={"retention_days": days})
        self.analyses.retention[user_id] = days
        if days == 0:
            for ident, r in list(self.analyses.rows.items()):
                if r.owner_id == user_id and r.audio_deleted_at is None:
                    self.analyses.rows[ident] = r.model_copy(update={"zero_retention": True})
        return user

    def delete_account(self, user_id: UUID) -> list[UUID] | None:
        if self.users.pop(user_id, None) is None:
            return None
        mine = [r.id for r in self.analyses.rows.values() if r.owner_id == user_id]
        for ident in mine:
            self.analyses.delete(ident, user_id)
        return mine


class InMemoryObjects:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.abandoned: set[str] = set()
        # The tag each key's upload policy asked for (presigned_post's ``tag``).
        self.policy_tags: dict[str, tuple[str, str] | None] = {}

    def mark_abandoned(self, key: str) -> None:
        self.abandoned.add(key)

    def head(self, key: str) -> ObjectInfo | None:
        data = self.objects.get(key)
        # S3's ETag of a single-part upload is the MD5 of its bytes.
        return None if data is None else ObjectInfo(len(data), hashlib.md5(data).hexdigest(), None)

    def download(self, key: str, out: BinaryIO) -> ObjectInfo | None:
        info = self.head(key)
        if info is None:
            return None
        out.write(self.objects[key])
        return info

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def delete_prefix(self, prefix: str) -> int:
        keys = [k for k in self.objects if k.startswith(prefix)]
        for key in keys:
            del self.objects[key]
        return len(keys)

    def presigned_get(
        self, key: str, expires_in: int, content_type: str, filename: str
    ) -> tuple[str, datetime]:
        query = f"response-content-type={content_type}&response-content-disposition=attachment"
        return f"https://storage.example/bucket/{key}?{query}", datetime.now(UTC) + timedelta(
            seconds=expires_in
        )

    def presigned_post(
        self,
        key: str,
        content_type: str,
        max_bytes: int,
        expires_in: int,
        tag: tuple[str, str] | None = None,
    ) -> PresignedPost:
        expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
        self.policy_tags[key] = tag
        fields = {"key": key, "Content-Type": content_type}
        return PresignedPost("https://storage.example/bucket", fields, expires_at, max_bytes)


class InMemoryCache:
    """The status cache: documents by analysis id, as the API serves them."""

    def __init__(self) -> None:
        self.entries: dict[UUID, CachedAnalysis] = {}
        self.tombstones: set[UUID] = set()

    def get(self, analysis_id: UUID) -> CachedAnalysis | None:
        return self.entries.get(analysis_id)

    def put(self, owner_id: UUID, analysis: Analysis) -> CachedAnalysis:
        entry = CachedAnalysis(owner_id, analysis.status, analysis.model_dump_json().encode())
        if analysis.id not in self.tombstones:
            self.entries[analysis.id] = entry
        return entry

    def delete(self, analysis_id: UUID) -> None:
        self.delete_many([analysis_id])

    def delete_many(self, analysis_ids: Iterable[UUID]) -> None:
        for analysis_id in analysis_ids:
            self.tombstones.add(analysis_id)
            self.entries.pop(analysis_id, None)


class InMemoryLimiter:
    """Counts per (limit, subject), one window: the Redis limiter's decisions."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.charged: dict[tuple[str, str], int] = {}

    def take(self, limit: Limit, subject: str, amount: int = 1) -> int | None:
        key = (limit.name, subject)
        if self.counts.get(key, 0) + amount > limit.limit:
            return limit.window_seconds
        self.counts[key] = self.counts.get(key, 0) + amount
        return None

    def give_back(self, limit: Limit, subject: str, amount: int = 1) -> None:
        key = (limit.name, subject)
        if key in self.counts:
            self.counts[key] -= amount

    def charge_once(self, limit: Limit, subject: str, item: str, total: int) -> int | None:
        extra = total - self.charged.get((limit.name, item), 0)
        if extra <= 0:
            return None
        wait = self.take(limit, subject, extra)
        if wait is None:
            self.charged[(limit.name, item)] = total
        return wait

    def used(self, limit: Limit, subject: str) -> int:
        return self.counts.get((limit.name, subject), 0)


class InMemoryQuota:
    """Decoded seconds per owner (``realtone_core.limits.AudioQuota`` on the fake limiter)."""

    def __init__(self, seconds_per_day: int) -> None:
        self.limiter = InMemoryLimiter()
        self.limit = Limit("audio-seconds", seconds_per_day, 24 * 3600)

    def charge(self, owner_id: UUID, analysis_id: UUID, seconds: int) -> int | None:
        return self.limiter.charge_once(self.limit, str(owner_id), str(analysis_id), seconds)

    def used(self, owner_id: UUID) -> int:
        return self.limiter.used(self.limit, str(owner_id))


class InMemoryQueue:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, body: str) -> None:
        self.sent.append(body)


class Published(list[AnalysisRecord]):
    """The status documents a scorer published, in order (their windows in ``chunks``)."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[list[Chunk]] = []
        self.progress: list[Progress | None] = []

    def __call__(
        self, record: AnalysisRecord, chunks: list[Chunk], progress: Progress | None = None
    ) -> None:
        self.append(record)
        self.chunks.append(list(chunks))
        self.progress.append(progress)


def deliver(scorer: Scorer, key: str, receive_count: int = 1, size: int | None = None) -> Outcome:
    """The scorer handed an S3 event for ``key`` (delivery ``receive_count`` of 3)."""
    data = getattr(scorer.objects, "objects", {}).get(key, b"")
    etag = hashlib.md5(data).hexdigest()
    return scorer.process_upload(S3Object("bucket", key, etag, size), Delivery(receive_count, 3))


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
