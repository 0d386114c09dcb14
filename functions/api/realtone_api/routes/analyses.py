"""Analyses: create (with a presigned S3 POST), read (cached, ETag), list, delete, audio URL."""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.concurrency import run_in_threadpool

from realtone_api import callbacks
from realtone_api.deps import ApiServices, CurrentUser, ServicesDep
from realtone_api.schemas import (
    AnalysisListResponse,
    AudioUrlOut,
    CreateAnalysisRequest,
    CreateAnalysisResponse,
    UploadOut,
    error_responses,
)
from realtone_core import lifecycle
from realtone_core.errors import ErrorCode, RealToneError
from realtone_core.models import Analysis, AnalysisRecord
from realtone_core.store import decode_cursor, encode_cursor

router = APIRouter(
    prefix="/v1/analyses",
    tags=["analyses"],
    responses=error_responses(401, 404, 413, 422, 429, 503),
)


def _parse_id(analysis_id: str) -> UUID:
    # A malformed id names no analysis: 404 like any other unknown id.
    try:
        return UUID(analysis_id)
    except ValueError as exc:
        raise lifecycle.not_found() from exc


def _owned(services: ApiServices, analysis_id: str, owner: UUID) -> AnalysisRecord:
    record = services.analyses.get(_parse_id(analysis_id), owner)
    if record is None:
        raise lifecycle.not_found()
    return record


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CreateAnalysisResponse,
    responses=error_responses(409, 415, 422),
)
def create_analysis(
    body: CreateAnalysisRequest,
    user: CurrentUser,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> CreateAnalysisResponse:
    s = services.settings
    if body.callback_url is not None:  # webhooks: refused before anything is created
        callbacks.checked_url(s, body.callback_url)
    record, post = lifecycle.create_analysis(
        user.id,
        lifecycle.NewUpload(body.filename, body.content_type, body.size_bytes, idempotency_key),
        lifecycle.UploadPolicy(
            s.max_upload_bytes,
            s.upload_url_seconds,
            s.analyses_per_minute,
            s.upload_bytes_per_day,
            s.max_analyses_in_flight,
        ),
        analyses=services.analyses,
        objects=services.objects,
        cache=services.cache,
        limiter=services.limiter,
    )
    webhook_secret = None
    if body.callback_url is not None:
        callbacks.webhook_store(services).set_callback_url(record.id, body.callback_url)
        webhook_secret = callbacks.secret_for_new_target(services, user.id)
    return CreateAnalysisResponse(
        analysis=record.to_analysis([]),
        upload=UploadOut(
            url=post.url, fields=post.fields, expires_at=post.expires_at, max_bytes=post.max_bytes
        ),
        webhook_secret=webhook_secret,
    )


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
    document = lifecycle.cached_status(services.cache, ident, user.id)
    if document is None:
        document = await run_in_threadpool(
            partial(
                lifecycle.stored_status,
                analyses=services.analyses,
                objects=services.objects,
                cache=services.cache,
            ),
            ident,
            user.id,
        )
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
    lifecycle.delete_analysis(
        _parse_id(analysis_id),
        user.id,
        analyses=services.analyses,
        objects=services.objects,
        cache=services.cache,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{analysis_id}/audio", response_model=AudioUrlOut, responses=error_responses(410))
def audio_url(analysis_id: str, user: CurrentUser, services: ServicesDep) -> AudioUrlOut:
    record = _owned(services, analysis_id, user.id)
    url, expires_at = lifecycle.audio_url(
        record, objects=services.objects, expires_in=services.settings.audio_url_seconds
    )
    return AudioUrlOut(url=url, expires_at=expires_at)
