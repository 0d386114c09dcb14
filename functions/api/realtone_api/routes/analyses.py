"""Analyses: create (with a presigned S3 POST), read (cached, ETag), list, delete, audio URL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.concurrency import run_in_threadpool

from realtone_api.deps import CurrentUser, ServicesDep
from realtone_api.schemas import (
    AnalysisListResponse,
    AudioUrlOut,
    CreateAnalysisRequest,
    CreateAnalysisResponse,
    UploadOut,
    error_responses,
)
from realtone_core.cache import CachedAnalysis
from realtone_core.errors import ErrorCode, RateLimitedError, RealToneError
from realtone_core.formats import ACCEPTED_DESCRIPTION, is_accepted_upload
from realtone_core.limits import Limit
from realtone_core.models import Analysis, AnalysisRecord, Status
from realtone_core.services import Services
from realtone_core.status import publish
from realtone_core.storage import upload_key
from realtone_core.store import decode_cursor, encode_cursor

router = APIRouter(
    prefix="/v1/analyses",
    tags=["analyses"],
    responses=error_responses(401, 404, 413, 422, 429, 503),
)


def _not_found() -> RealToneError:
    return RealToneError(ErrorCode.NOT_FOUND, "No such analysis", status_code=404)


def _parse_id(analysis_id: str) -> UUID:
    # A malformed id names no analysis: 404 like any other unknown id.
    try:
        return UUID(analysis_id)
    except ValueError as exc:
        raise _not_found() from exc


def _owned(services: Services, analysis_id: str, owner: UUID) -> AnalysisRecord:
    record = services.analyses.get(_parse_id(analysis_id), owner)
    if record is None:
        raise _not_found()
    return record


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CreateAnalysisResponse,
    responses=error_responses(409, 415),
)
def create_analysis(
    body: CreateAnalysisRequest,
    user: CurrentUser,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> CreateAnalysisResponse:
    settings = services.settings
    if body.size_bytes > settings.max_upload_bytes:
        raise RealToneError(
            ErrorCode.TOO_LARGE,
            f"The file is {body.size_bytes} bytes; the limit is {settings.max_upload_bytes}",
            status_code=413,
        )
    if not is_accepted_upload(body.filename, body.content_type):
        raise RealToneError(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"'{body.content_type}' is not an accepted audio type; send {ACCEPTED_DESCRIPTION}",
            status_code=415,
        )
    existing = (
        services.analyses.by_idempotency_key(user.id, idempotency_key) if idempotency_key else None
    )
    if existing is None:
        # A replay (same Idempotency-Key) is not a new analysis: it does not count twice.
        _check_quota(services, user.id, body.size_bytes)
        analysis_id = uuid4()
        key = upload_key(user.id, analysis_id, body.filename)
        post = services.objects.presigned_post(
            key, body.content_type, body.size_bytes, settings.upload_url_seconds
        )
        record, created = services.analyses.create(
            analysis_id=analysis_id,
            owner_id=user.id,
            filename=body.filename,
            content_type=body.content_type,
            size_bytes=body.size_bytes,
            object_key=key,
            upload_expires_at=post.expires_at,
            idempotency_key=idempotency_key,
        )
    else:
        record, created = existing, False
    if not created:
        same = (record.filename, record.content_type, record.size_bytes) == (
            body.filename,
            body.content_type,
            body.size_bytes,
        )
        if not same:
            raise RealToneError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "This Idempotency-Key was already used for a different upload",
                status_code=409,
            )
        post = services.objects.presigned_post(
            record.object_key, record.content_type, record.size_bytes, settings.upload_url_seconds
        )
    publish(services.analyses, services.cache, record)
    return CreateAnalysisResponse(
        analysis=record.to_analysis([]),
        upload=UploadOut(
            url=post.url, fields=post.fields, expires_at=post.expires_at, max_bytes=post.max_bytes
        ),
    )


def _check_quota(services: Services, user_id: UUID, size_bytes: int) -> None:
    s = services.settings
    per_minute = Limit("analyses", s.analyses_per_minute, 60)
    per_day = Limit("upload-bytes", s.upload_bytes_per_day, 24 * 3600)
    subject = str(user_id)
    wait = services.limiter.exceeded(per_minute, subject)
    if wait:
        raise RateLimitedError(
            f"At most {s.analyses_per_minute} analyses per minute; try again shortly", wait
        )
    wait = services.limiter.exceeded(per_day, subject, size_bytes)
    if wait:
        raise RateLimitedError(
            f"This upload would pass your daily limit of {s.upload_bytes_per_day} bytes", wait
        )
    services.limiter.add(per_minute, subject)
    services.limiter.add(per_day, subject, size_bytes)


def _cached_document(services: Services, analysis_id: UUID, owner: UUID) -> CachedAnalysis | None:
    """The status document from Redis, when it can be served from there."""
    cached = services.cache.get(analysis_id)
    if cached is not None and cached.owner_id != owner:
        raise _not_found()
    # While awaiting the upload, Postgres and S3 are asked (see _check_upload).
    if cached is not None and cached.status != Status.AWAITING_UPLOAD:
        return cached
    return None


def _stored_document(services: Services, analysis_id: UUID, owner: UUID) -> CachedAnalysis:
    """The status document from Postgres, refilling Redis."""
    record = services.analyses.get(analysis_id, owner)
    if record is None:
        raise _not_found()
    if record.status == Status.AWAITING_UPLOAD:
        record = _check_upload(services, record)
    return publish(services.analyses, services.cache, record)


def _check_upload(services: Services, record: AnalysisRecord) -> AnalysisRecord:
    """Learn of an upload the scorer has not picked up yet, or of one that never came."""
    if services.objects.head(record.object_key) is not None:
        changed = services.analyses.mark_queued(record.id)
    elif datetime.now(UTC) > record.upload_expires_at:
        changed = services.analyses.expire(record.id)
    else:
        return record
    # Nothing changed when the scorer moved the analysis on meanwhile: read where it is now,
    # rather than answer (and cache) the stale awaiting_upload.
    return changed or services.analyses.get(record.id) or record


@router.get(
    "/{analysis_id}",
    responses={
        200: {"model": Analysis, "description": "The analysis; poll while `Retry-After` is sent"},
        304: {"description": "Unchanged since the ETag sent in If-None-Match"},
    },
)
async def get_analysis(
    analysis_id: str,
    user: CurrentUser,
    services: ServicesDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    # The hot path of polling clients: a cache hit is served on the event loop (one quick
    # Redis read); only a miss goes to Postgres, in the thread pool.
    ident = _parse_id(analysis_id)
    document = _cached_document(services, ident, user.id)
    if document is None:
        document = await run_in_threadpool(_stored_document, services, ident, user.id)
    body = document.body
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if not document.status.terminal:
        headers["Retry-After"] = str(services.settings.poll_retry_after_seconds)
    if if_none_match and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


@router.get("", response_model=AnalysisListResponse)
def list_analyses(
    user: CurrentUser,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AnalysisListResponse:
    after = None
    if cursor:
        try:
            after = decode_cursor(cursor)
        except ValueError as exc:
            raise RealToneError(
                ErrorCode.VALIDATION_ERROR, "cursor: not a valid cursor", 422
            ) from exc
    records = services.analyses.list_for_owner(user.id, limit + 1, after)
    page = records[:limit]
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if len(records) > limit else None
    items = [r.to_analysis([]).model_dump(mode="json", exclude={"chunks"}) for r in page]
    return AnalysisListResponse(items=items, next_cursor=next_cursor)


@router.delete("/{analysis_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_analysis(analysis_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    record = _owned(services, analysis_id, user.id)
    # The object goes first: if S3 fails the rows stay, and the user can simply retry.
    services.objects.delete(record.object_key)
    services.analyses.delete(record.id, user.id)
    services.cache.delete(record.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{analysis_id}/audio", response_model=AudioUrlOut)
def audio_url(analysis_id: str, user: CurrentUser, services: ServicesDep) -> AudioUrlOut:
    record = _owned(services, analysis_id, user.id)
    if record.status in (Status.AWAITING_UPLOAD, Status.EXPIRED):
        raise RealToneError(
            ErrorCode.UPLOAD_MISSING, "No audio has been uploaded for this analysis", 404
        )
    url, expires_at = services.objects.presigned_get(
        record.object_key, services.settings.audio_url_seconds
    )
    return AudioUrlOut(url=url, expires_at=expires_at)
