"""The analysis lifecycle the API routes and the sweep share: creating an analysis with its
upload policy, reading its status, reconciling an upload with what is in storage, handing
out its audio and deleting it.

Domain code: it takes its adapters as arguments (ports below), so unit tests drive it with
in-memory fakes and the routes only parse requests and map results.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID, uuid4

from realtone_core.account import ZERO_RETENTION
from realtone_core.cache import CachedAnalysis
from realtone_core.errors import (
    AccountGoneError,
    ErrorCode,
    InFlightLimitReached,
    RateLimitedError,
    RealToneError,
)
from realtone_core.formats import ACCEPTED_DESCRIPTION, upload_content_type
from realtone_core.limits import Limit
from realtone_core.models import (
    Analysis,
    AnalysisRecord,
    AudioDeleted,
    AudioDeletedReason,
    Chunk,
    Progress,
    Status,
)
from realtone_core.s3 import ZERO_RETENTION_TAG, ObjectInfo, PresignedPost, upload_key


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
        max_in_flight: int | None = None,
        zero_retention: bool = False,
    ) -> tuple[AnalysisRecord, bool]: ...
    def by_idempotency_key(self, owner_id: UUID, idempotency_key: str) -> AnalysisRecord | None: ...
    def get(self, analysis_id: UUID, owner_id: UUID | None = None) -> AnalysisRecord | None: ...
    def chunks(self, analysis_id: UUID) -> list[Chunk]: ...
    def mark_queued(self, analysis_id: UUID) -> AnalysisRecord | None: ...
    def expire(self, analysis_id: UUID) -> AnalysisRecord | None: ...
    def delete(self, analysis_id: UUID, owner_id: UUID) -> AnalysisRecord | None: ...


class RetentionLookup(Protocol):
    def retention_days(self, user_id: UUID) -> int | None: ...


class AudioDeletions(Protocol):
    def mark_audio_deleted(
        self, analysis_id: UUID, reason: str, retention_days: int | None = None
    ) -> AnalysisRecord | None: ...


class ObjectDeletion(Protocol):
    def delete(self, key: str) -> None: ...


class UploadObjects(Protocol):
    def presigned_post(
        self,
        key: str,
        content_type: str,
        max_bytes: int,
        expires_in: int,
        tag: tuple[str, str] | None = None,
    ) -> PresignedPost: ...
    def presigned_get(
        self, key: str, expires_in: int, content_type: str, filename: str
    ) -> tuple[str, datetime]: ...
    def head(self, key: str) -> ObjectInfo | None: ...
    def delete(self, key: str) -> None: ...


class DocumentCache(Protocol):
    def get(self, analysis_id: UUID) -> CachedAnalysis | None: ...
    def put(self, owner_id: UUID, analysis: Analysis) -> CachedAnalysis: ...
    def delete(self, analysis_id: UUID) -> None: ...


class Limiter(Protocol):
    def take(self, limit: Limit, subject: str, amount: int = 1) -> int | None: ...
    def give_back(self, limit: Limit, subject: str, amount: int = 1) -> None: ...


@dataclass(frozen=True)
class UploadPolicy:
    """What a user may upload, and for how long the presigned POST stays valid."""

    max_upload_bytes: int
    upload_url_seconds: int
    analyses_per_minute: int
    upload_bytes_per_day: int
    max_in_flight: int | None = None


# How soon a user at the in-flight cap may try again (an analysis finishes, or an upload
# that never came expires).
IN_FLIGHT_RETRY_SECONDS = 10
# A failed analysis whose bytes were not audio at all has nothing to play back.
NOT_AUDIO_CODES = frozenset({ErrorCode.UNSUPPORTED_FORMAT, ErrorCode.CORRUPT_AUDIO})


@dataclass(frozen=True)
class NewUpload:
    filename: str
    content_type: str
    size_bytes: int
    idempotency_key: str | None = None


def not_found() -> RealToneError:
    return RealToneError(ErrorCode.NOT_FOUND, "No such analysis", status_code=404)


def publish(
    cache: DocumentCache,
    record: AnalysisRecord,
    chunks: list[Chunk],
    progress: Progress | None = None,
) -> CachedAnalysis:
    """Write the status document of ``record`` (with its windows: all of them when completed,
    those decided so far while processing) to the cache."""
    return cache.put(record.owner_id, record.to_analysis(chunks, progress))


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
    accounts: RetentionLookup,
) -> tuple[AnalysisRecord, PresignedPost]:
    """A new analysis awaiting its upload and the presigned POST for it.

    The same ``idempotency_key`` with the same upload returns the same analysis with a
    fresh policy while it still awaits its upload (valid only as long as the first one);
    once the upload came, or its window closed, no policy is handed out again: 409
    ``upload_closed``. Under zero-retention (the account's setting read now, not a cached
    one) the analysis says so and its upload is tagged for the short lifecycle rule.
    """
    if upload.size_bytes > policy.max_upload_bytes:
        raise RealToneError(
            ErrorCode.TOO_LARGE,
            f"The file is {upload.size_bytes} bytes; the limit is {policy.max_upload_bytes}",
            status_code=413,
        )
    content_type = upload_content_type(upload.filename, upload.content_type)
    if content_type is None:
        raise RealToneError(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"{upload.content_type!r} is not an accepted audio type; send {ACCEPTED_DESCRIPTION}",
            status_code=415,
        )
    key = upload.idempotency_key
    record = analyses.by_idempotency_key(owner_id, key) if key else None
    created = False
    if record is None:
        # A replay (same Idempotency-Key) is not a new analysis: it does not count twice.
        retention = accounts.retention_days(owner_id)
        if retention is None:
            raise AccountGoneError()
        zero = retention == ZERO_RETENTION
        charged = _charge_quota(limiter, policy, owner_id, upload.size_bytes)
        analysis_id = uuid4()
        object_key = upload_key(owner_id, analysis_id, upload.filename)
        post = objects.presigned_post(
            object_key,
            content_type,
            upload.size_bytes,
            policy.upload_url_seconds,
            ZERO_RETENTION_TAG if zero else None,
        )
        try:
            record, created = analyses.create(
                analysis_id=analysis_id,
                owner_id=owner_id,
                filename=upload.filename,
                content_type=content_type,
                size_bytes=upload.size_bytes,
                object_key=object_key,
                upload_expires_at=post.expires_at,
                idempotency_key=key,
                max_in_flight=policy.max_in_flight,
                zero_retention=zero,
            )
        except InFlightLimitReached as exc:
            for limit, amount in charged:
                limiter.give_back(limit, str(owner_id), amount)
            raise RateLimitedError(
                f"You already have {exc.limit} analyses waiting for their upload or being"
                " analysed; try again when one has finished",
                IN_FLIGHT_RETRY_SECONDS,
            ) from exc
    if not created:
        same = (record.filename, record.content_type, record.size_bytes) == (
            upload.filename,
            content_type,
            upload.size_bytes,
        )
        if not same:
            raise RealToneError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "This Idempotency-Key was already used for a different upload",
                status_code=409,
            )
        post = _replayed_policy(record, objects)
    publish(cache, record, [])
    return record, post


def _replayed_policy(record: AnalysisRecord, objects: UploadObjects) -> PresignedPost:
    """A fresh policy for an analysis still awaiting its upload, expiring with the first."""
    left = int((record.upload_expires_at - datetime.now(UTC)).total_seconds())
    if record.status != Status.AWAITING_UPLOAD or left < 1:
        state = record.status.value if record.status != Status.AWAITING_UPLOAD else "expired"
        raise RealToneError(
            ErrorCode.UPLOAD_CLOSED,
            f"Analysis {record.id} no longer takes an upload (it is {state}); read it with"
            f" GET /v1/analyses/{record.id}",
            status_code=409,
        )
    tag = ZERO_RETENTION_TAG if record.zero_retention else None
    return objects.presigned_post(
        record.object_key, record.content_type, record.size_bytes, left, tag
    )


def _charge_quota(
    limiter: Limiter, policy: UploadPolicy, owner_id: UUID, size: int
) -> list[tuple[Limit, int]]:
    """Count the analysis and its bytes (first, atomically); returns what was charged."""
    per_minute = Limit("analyses", policy.analyses_per_minute, 60)
    per_day = Limit("upload-bytes", policy.upload_bytes_per_day, 24 * 3600)
    subject = str(owner_id)
    wait = limiter.take(per_minute, subject)
    if wait:
        raise RateLimitedError(
            f"At most {policy.analyses_per_minute} analyses per minute; try again shortly", wait
        )
    wait = limiter.take(per_day, subject, size)
    if wait:
        limiter.give_back(per_minute, subject)
        raise RateLimitedError(
            f"This upload would pass your daily limit of {policy.upload_bytes_per_day} bytes", wait
        )
    return [(per_minute, 1), (per_day, size)]


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


def audio_url(
    record: AnalysisRecord, *, objects: UploadObjects, expires_in: int
) -> tuple[str, datetime]:
    """A playback URL for the audio that was scored, pinned to its audio type; refused
    when there is nothing to play, when the bytes were not audio, or when the object in
    storage is no longer the one that was scored."""
    if record.status in (Status.AWAITING_UPLOAD, Status.EXPIRED) or (
        record.error_code == ErrorCode.UPLOAD_MISSING
    ):
        raise RealToneError(
            ErrorCode.UPLOAD_MISSING, "No audio has been uploaded for this analysis", 404
        )
    deleted = record.audio_deletion()
    if deleted is not None:
        raise RealToneError(ErrorCode.AUDIO_DELETED, audio_deleted_message(deleted), 410)
    if record.error_code in NOT_AUDIO_CODES:
        raise RealToneError(
            ErrorCode.NOT_AUDIO,
            f"The upload is not audio ({record.error_code}); there is nothing to play",
            404,
        )
    info = objects.head(record.object_key)
    if record.audio_replaced_at is not None or (
        info is not None and record.object_etag is not None and info.etag != record.object_etag
    ):
        raise RealToneError(
            ErrorCode.AUDIO_REPLACED,
            "Another file was uploaded in place of the one analysed; it is not served",
            410,
        )
    if info is None:
        raise RealToneError(ErrorCode.UPLOAD_MISSING, "The audio is no longer in storage", 404)
    content_type = upload_content_type(record.filename, record.content_type)
    return objects.presigned_get(
        record.object_key, expires_in, content_type or "application/octet-stream", record.filename
    )


def audio_deleted_message(deleted: AudioDeleted) -> str:
    if deleted.reason == "zero_retention":
        return (
            "The audio was not kept: this account has zero-retention, so it was deleted as"
            " soon as it was analysed. The result stays."
        )
    days = deleted.retention_days
    return (
        f"The audio was deleted after {days} day{'s' if days != 1 else ''}, the account's"
        " retention. The result stays."
    )


def delete_audio(
    record: AnalysisRecord,
    reason: AudioDeletedReason,
    retention_days: int | None = None,
    *,
    analyses: AudioDeletions,
    objects: ObjectDeletion,
) -> AnalysisRecord | None:
    """Delete the audio object of a scored (or failed) analysis under its account's
    retention and record why; the result stays. Storage goes first: a failure there leaves
    the record saying the audio is kept, and the sweep tries again. None when the analysis
    is gone meanwhile."""
    objects.delete(record.object_key)
    return analyses.mark_audio_deleted(record.id, reason, retention_days)


def delete_analysis(
    analysis_id: UUID,
    owner_id: UUID,
    *,
    analyses: AnalysisRepo,
    objects: UploadObjects,
    cache: DocumentCache,
) -> None:
    """Remove the audio, the rows and the cached document (leaving a tombstone there, so a
    scorer finishing meanwhile cannot publish the analysis back)."""
    record = analyses.get(analysis_id, owner_id)
    if record is None:
        raise not_found()
    # The object goes first: if S3 fails the rows stay, and the user can simply retry.
    objects.delete(record.object_key)
    analyses.delete(record.id, owner_id)
    cache.delete(record.id)
