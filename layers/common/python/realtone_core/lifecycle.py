"""The analysis lifecycle the API routes and the sweep share: creating an analysis with its
upload policy, reading its status, and reconciling an upload with what is in storage.

Domain code: it takes its adapters as arguments (ports below), so unit tests drive it with
in-memory fakes and the routes only parse requests and map results.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID, uuid4

from realtone_core.cache import CachedAnalysis
from realtone_core.errors import ErrorCode, RateLimitedError, RealToneError
from realtone_core.formats import ACCEPTED_DESCRIPTION, is_accepted_upload
from realtone_core.limits import Limit
from realtone_core.models import Analysis, AnalysisRecord, Chunk, Status
from realtone_core.s3 import ObjectInfo, PresignedPost, upload_key


class AnalysisRepo(Protocol):
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
    ) -> tuple[AnalysisRecord, bool]: ...
    def by_idempotency_key(self, owner_id: UUID, idempotency_key: str) -> AnalysisRecord | None: ...
    def get(self, analysis_id: UUID, owner_id: UUID | None = None) -> AnalysisRecord | None: ...
    def chunks(self, analysis_id: UUID) -> list[Chunk]: ...
    def mark_queued(self, analysis_id: UUID) -> AnalysisRecord | None: ...
    def expire(self, analysis_id: UUID) -> AnalysisRecord | None: ...


class UploadObjects(Protocol):
    def presigned_post(
        self, key: str, content_type: str, max_bytes: int, expires_in: int
    ) -> PresignedPost: ...
    def head(self, key: str) -> ObjectInfo | None: ...


class DocumentCache(Protocol):
    def get(self, analysis_id: UUID) -> CachedAnalysis | None: ...
    def put(self, owner_id: UUID, analysis: Analysis) -> CachedAnalysis: ...


class Limiter(Protocol):
    def exceeded(self, limit: Limit, subject: str, amount: int = 0) -> int | None: ...
    def add(self, limit: Limit, subject: str, amount: int = 1) -> None: ...


@dataclass(frozen=True)
class UploadPolicy:
    """What a user may upload, and for how long the presigned POST stays valid."""

    max_upload_bytes: int
    upload_url_seconds: int
    analyses_per_minute: int
    upload_bytes_per_day: int


@dataclass(frozen=True)
class NewUpload:
    filename: str
    content_type: str
    size_bytes: int
    idempotency_key: str | None = None


def not_found() -> RealToneError:
    return RealToneError(ErrorCode.NOT_FOUND, "No such analysis", status_code=404)


def publish(cache: DocumentCache, record: AnalysisRecord, chunks: list[Chunk]) -> CachedAnalysis:
    """Write the status document of ``record`` (with its windows, when completed) to the cache."""
    return cache.put(record.owner_id, record.to_analysis(chunks))


def publish_stored(
    analyses: AnalysisRepo, cache: DocumentCache, record: AnalysisRecord
) -> CachedAnalysis:
    """Publish a record read back from the store (its windows read too, when completed)."""
    chunks = analyses.chunks(record.id) if record.status == Status.COMPLETED else []
    return publish(cache, record, chunks)


def create_analysis(
    owner_id: UUID,
    upload: NewUpload,
    policy: UploadPolicy,
    *,
    analyses: AnalysisRepo,
    objects: UploadObjects,
    cache: DocumentCache,
    limiter: Limiter,
) -> tuple[AnalysisRecord, PresignedPost]:
    """A new analysis awaiting its upload and the presigned POST for it. The same
    ``idempotency_key`` with the same upload returns the same analysis (a fresh policy)."""
    if upload.size_bytes > policy.max_upload_bytes:
        raise RealToneError(
            ErrorCode.TOO_LARGE,
            f"The file is {upload.size_bytes} bytes; the limit is {policy.max_upload_bytes}",
            status_code=413,
        )
    if not is_accepted_upload(upload.filename, upload.content_type):
        raise RealToneError(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"'{upload.content_type}' is not an accepted audio type; send {ACCEPTED_DESCRIPTION}",
            status_code=415,
        )
    key = upload.idempotency_key
    record = analyses.by_idempotency_key(owner_id, key) if key else None
    created = False
    if record is None:
        # A replay (same Idempotency-Key) is not a new analysis: it does not count twice.
        _charge_quota(limiter, policy, owner_id, upload.size_bytes)
        analysis_id = uuid4()
        object_key = upload_key(owner_id, analysis_id, upload.filename)
        post = objects.presigned_post(
            object_key, upload.content_type, upload.size_bytes, policy.upload_url_seconds
        )
        record, created = analyses.create(
            analysis_id=analysis_id,
            owner_id=owner_id,
            filename=upload.filename,
            content_type=upload.content_type,
            size_bytes=upload.size_bytes,
            object_key=object_key,
            upload_expires_at=post.expires_at,
            idempotency_key=key,
        )
    if not created:
        same = (record.filename, record.content_type, record.size_bytes) == (
            upload.filename,
            upload.content_type,
            upload.size_bytes,
        )
        if not same:
            raise RealToneError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "This Idempotency-Key was already used for a different upload",
                status_code=409,
            )
        post = objects.presigned_post(
            record.object_key, record.content_type, record.size_bytes, policy.upload_url_seconds
        )
    publish(cache, record, [])
    return record, post


def _charge_quota(limiter: Limiter, policy: UploadPolicy, owner_id: UUID, size: int) -> None:
    per_minute = Limit("analyses", policy.analyses_per_minute, 60)
    per_day = Limit("upload-bytes", policy.upload_bytes_per_day, 24 * 3600)
    subject = str(owner_id)
    wait = limiter.exceeded(per_minute, subject)
    if wait:
        raise RateLimitedError(
            f"At most {policy.analyses_per_minute} analyses per minute; try again shortly", wait
        )
    wait = limiter.exceeded(per_day, subject, size)
    if wait:
        raise RateLimitedError(
            f"This upload would pass your daily limit of {policy.upload_bytes_per_day} bytes", wait
        )
    limiter.add(per_minute, subject)
    limiter.add(per_day, subject, size)


def cached_status(cache: DocumentCache, analysis_id: UUID, owner_id: UUID) -> CachedAnalysis | None:
    """The status document from the cache when it can be served from there (one quick read:
    the hot path of polling clients). ``None``: ask ``stored_status``."""
    cached = cache.get(analysis_id)
    if cached is not None and cached.owner_id != owner_id:
        raise not_found()
    # While awaiting the upload, the store and storage are asked (see reconcile_upload).
    if cached is not None and cached.status != Status.AWAITING_UPLOAD:
        return cached
    return None


def stored_status(
    analysis_id: UUID,
    owner_id: UUID,
    *,
    analyses: AnalysisRepo,
    objects: UploadObjects,
    cache: DocumentCache,
) -> CachedAnalysis:
    """The status document from the store, reconciled with storage, refilling the cache."""
    record = analyses.get(analysis_id, owner_id)
    if record is None:
        raise not_found()
    if record.status == Status.AWAITING_UPLOAD:
        record = reconcile_upload(record, analyses=analyses, objects=objects)
    return publish_stored(analyses, cache, record)


def reconcile_upload(
    record: AnalysisRecord,
    *,
    analyses: AnalysisRepo,
    objects: UploadObjects,
    now: datetime | None = None,
) -> AnalysisRecord:
    """An analysis still ``awaiting_upload``: ``queued`` when its object is in storage (its
    event may be late or lost), ``expired`` when the upload window closed without one."""
    if objects.head(record.object_key) is not None:
        changed = analyses.mark_queued(record.id)
    elif (now or datetime.now(UTC)) > record.upload_expires_at:
        changed = analyses.expire(record.id)
    else:
        return record
    # Nothing changed when the scorer moved the analysis on meanwhile: read where it is now,
    # rather than answer (and cache) the stale awaiting_upload.
    return changed or analyses.get(record.id) or record
