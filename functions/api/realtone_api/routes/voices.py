"""Voices: enrol the voice of a speaker of your analyses under a name, list and delete
enrolled voices, and find your analyses in which a voice speaks (by an analysis's speaker or
an enrolled voice). Embeddings never leave the server."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from realtone_api.deps import ApiServices, CurrentUser, ServicesDep
from realtone_api.schemas import (
    VoiceCreate,
    VoiceListResponse,
    VoiceSearchRequest,
    VoiceSearchResponse,
    error_responses,
)
from realtone_core.errors import ErrorCode, RealToneError
from realtone_core.store import decode_cursor, encode_cursor
from realtone_core.voices import Voice, VoiceSource, VoiceStore, not_found_voice

router = APIRouter(
    prefix="/v1/voices", tags=["voices"], responses=error_responses(401, 404, 413, 422, 429, 503)
)


def _store(services: ApiServices) -> VoiceStore:
    return VoiceStore(services.db)


def _parse_id(voice_id: str) -> UUID:
    # A malformed id names no voice: 404 like any other unknown id.
    try:
        return UUID(voice_id)
    except ValueError as exc:
        raise not_found_voice() from exc


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=Voice, responses=error_responses(409)
)
def enroll_voice(body: VoiceCreate, user: CurrentUser, services: ServicesDep) -> Voice:
    """Enrol a voice: the mean voice of the given speakers of your completed analyses."""
    sources = [VoiceSource(analysis_id=s.analysis_id, speaker=s.speaker) for s in body.sources]
    return _store(services).enroll(user.id, body.name, sources)


@router.get("", response_model=VoiceListResponse)
def list_voices(user: CurrentUser, services: ServicesDep) -> VoiceListResponse:
    """Your enrolled voices, newest first."""
    return VoiceListResponse(items=_store(services).list_voices(user.id))


@router.get("/{voice_id}", response_model=Voice)
def get_voice(voice_id: str, user: CurrentUser, services: ServicesDep) -> Voice:
    voice = _store(services).get_voice(user.id, _parse_id(voice_id))
    if voice is None:
        raise not_found_voice()
    return voice


@router.delete("/{voice_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_voice(voice_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    if not _store(services).delete_voice(user.id, _parse_id(voice_id)):
        raise not_found_voice()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/search", response_model=VoiceSearchResponse, responses=error_responses(409))
def search_voices(
    body: VoiceSearchRequest, user: CurrentUser, services: ServicesDep
) -> VoiceSearchResponse:
    """Your analyses in which a speaker sounds like the query (cosine similarity at least
    the match threshold), newest first, each with its closest speaker. The query's own
    analysis is left out."""
    after = None
    if body.cursor:
        try:
            after = decode_cursor(body.cursor)
        except ValueError as exc:
            raise RealToneError(
                ErrorCode.VALIDATION_ERROR, "cursor: not a valid cursor", 422
            ) from exc
    store = _store(services)
    if body.voice_id is not None:
        query = store.voice_query(user.id, body.voice_id)
    else:
        assert body.analysis_id is not None and body.speaker is not None
        query = store.speaker_query(user.id, body.analysis_id, body.speaker)
    page = store.search(
        user.id, query, limit=body.limit, after=after, exclude_analysis_id=body.analysis_id
    )
    next_cursor = encode_cursor(*page.next_after) if page.next_after else None
    return VoiceSearchResponse(items=page.items, next_cursor=next_cursor)
