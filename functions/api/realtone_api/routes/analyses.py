"""Analyses: create (with a presigned S3 POST), read (cached, ETag), follow (server-sent
events), list, delete, audio URL."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials

from realtone_api import callbacks, streams
from realtone_api.deps import ApiServices, CurrentUser, ServicesDep, bearer, current_user
from realtone_api.schemas import (
    AnalysisListResponse,
    AudioUrlOut,
    CreateAnalysisRequest,
    CreateAnalysisResponse,
    StreamTokenOut,
    UploadOut,
    error_responses,
)
from realtone_api.security import InvalidTokenError, decode_token, issue_stream_token
from realtone_core import lifecycle
from realtone_core.cache import CachedAnalysis
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


async def read_status(services: ApiServices, ident: UUID, owner: UUID) -> CachedAnalysis:
    """The status document, as polling clients and event streams see it: a cache hit is
    served on the event loop (one quick Redis read); only a miss goes to Postgres, in the
    thread pool."""
    document = lifecycle.cached_status(services.cache, ident, owner)
    if document is None:
        document = await run_in_threadpool(
            partial(
                lifecycle.stored_status,
                analyses=services.analyses,
                objects=services.objects,
                cache=services.cache,
            ),
            ident,
            owner,
        )
    return document


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
        accounts=services.users,
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
    document = await read_status(services, _parse_id(analysis_id), user.id)
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


@router.post("/{analysis_id}/stream-token", response_model=StreamTokenOut)
def stream_token(analysis_id: str, user: CurrentUser, services: ServicesDep) -> StreamTokenOut:
    record = _owned(services, analysis_id, user.id)
    s = services.settings
    token = issue_stream_token(s, user.id, record.id)
    url = f"{s.stream_base_url.rstrip('/')}/v1/analyses/{record.id}/events?token={token}"
    expires_at = datetime.now(UTC) + timedelta(seconds=s.stream_token_seconds)
    return StreamTokenOut(token=token, url=url, expires_at=expires_at)


async def _stream_viewer(
    ident: UUID,
    services: ApiServices,
    credentials: HTTPAuthorizationCredentials | None,
    token: str | None,
) -> UUID:
    """Who may follow the stream: a stream token for this very analysis, or an access token."""
    if token is None:
        return (await current_user(services, credentials)).id
    try:
        claims = decode_token(services.settings, token, "stream")
    except InvalidTokenError as exc:
        raise RealToneError(
            ErrorCode.INVALID_TOKEN, "Invalid or expired stream token", status_code=401
        ) from exc
    if claims.analysis_id != ident:
        raise lifecycle.not_found()
    return claims.user_id


@router.get(
    "/{analysis_id}/events",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-sent events: `status`, `windows`, `completed`, `failed`",
        },
        204: {"description": "Last-Event-ID says the client has already seen the end"},
        307: {"description": "Streams are served by another deployment (StreamFunction)"},
    },
)
async def analysis_events(
    analysis_id: str,
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    token: Annotated[str | None, Query(max_length=2048)] = None,
    last_event_id: Annotated[str | None, Header(max_length=100)] = None,
) -> Response:
    s = services.settings
    if s.stream_base_url:
        # Streams are served by another deployment (on AWS: StreamFunction, since API
        # Gateway buffers this function's responses): send the client there.
        target = f"{s.stream_base_url.rstrip('/')}{request.url.path}"
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(target + query, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    ident = _parse_id(analysis_id)
    owner = await _stream_viewer(ident, services, credentials, token)
    first = await read_status(services, ident, owner)  # 404 before any stream starts
    seen = streams.Cursor.parse(last_event_id)
    if seen.finished and first.status.terminal:
        # An EventSource stops reconnecting on 204 and only on 204.
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    options = streams.StreamOptions(s.stream_heartbeat_seconds, s.stream_max_seconds)

    async def body() -> AsyncIterator[bytes]:
        async with streams.broadcaster(s.redis_url).watch(ident) as waiter:
            async for chunk in streams.event_stream(
                partial(read_status, services, ident, owner), waiter, seen, options
            ):
                yield chunk

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        # no-transform and X-Accel-Buffering: proxies must pass events on as they come.
        headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
    )
