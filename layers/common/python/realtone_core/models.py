"""Domain models shared by the API and the scorer (the contract's ``Analysis`` shape)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer


class Status(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.EXPIRED})

Verdict = Literal["fake", "likely_fake", "real", "inconclusive"]


def utc_iso(value: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix, as every timestamp in the contract."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# A timestamp field that serialises as the contract wants it.
UtcDatetime = Annotated[datetime, PlainSerializer(utc_iso, return_type=str)]


class ModelCard(BaseModel):
    name: str
    version: str
    sha256: str
    trained: bool
    # A calibration (fitted by ``realtone eval --calibrate``) maps scores to probabilities.
    calibrated: bool = False
    family: str = "wavlm"
    # For a fusion: each member's name, family and weights' sha256.
    members: list[dict[str, str]] | None = None
    trained_on: str | None = None
    # How it runs here (fp32, bf16, onnx-int8, …), chosen when the scorer loads it.
    runtime: str | None = None
    # The verdict threshold its builders chose (used unless REALTONE_SCORE_THRESHOLD is set).
    threshold: float | None = None


# Why a window (or a whole file) could not be judged: realtone_scorer.reasons.
Reason = Literal["no_speech", "music_or_noise", "clipped", "too_short"]


class EnrolledMatch(BaseModel):
    id: UUID
    name: str
    similarity: float


class SpeakerSummary(BaseModel):
    speaker: int
    seconds: float  # length of the windows this speaker holds
    share: float  # of the file's duration
    score: float | None
    verdict: Verdict
    enrolled_voice: EnrolledMatch | None = None


class Impersonation(BaseModel):
    voice_id: UUID
    name: str
    speaker: int
    similarity: float


class Summary(BaseModel):
    verdict: Verdict
    score: float | None
    max_score: float | None
    mean_score: float | None
    fake_chunk_ratio: float | None
    threshold: float
    # When the verdict is inconclusive: why no window could be judged.
    reason: Reason | None = None
    # Who speaks (realtone_scorer.speakers): one entry per speaker, speaker 0 speaks most;
    # None on results scored before speakers were told apart.
    speakers: list[SpeakerSummary] | None = None
    # A speaker that sounds like one of the owner's enrolled voices and is judged synthetic.
    impersonation: Impersonation | None = None


class Chunk(BaseModel):
    chunk_id: int
    start_time_seconds: float
    end_time_seconds: float
    score: float | None
    voiced: bool
    reason: Reason | None = None
    # Which speaker talks in this window; None when no voice could be embedded, or when the
    # window holds two voices (``overlap``: a change of speaker or cross-talk).
    speaker: int | None = None
    overlap: bool = False


class ErrorInfo(BaseModel):
    code: str
    message: str


class Progress(BaseModel):
    """While ``processing``: how many windows of the file are decided (scored, or found
    unjudgeable) so far; those windows are already in ``chunks``."""

    windows_done: int
    windows_total: int


# Why an analysis's audio was deleted while its result stays (the account's retention).
AudioDeletedReason = Literal["zero_retention", "retention_period"]


class AudioDeleted(BaseModel):
    """The audio is gone, the result stays: deleted as soon as it was scored
    (``zero_retention``) or after the account's ``retention_days`` (``retention_period``)."""

    deleted_at: UtcDatetime
    reason: AudioDeletedReason
    retention_days: int | None = None


class Analysis(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    id: UUID
    status: Status
    filename: str
    content_type: str
    size_bytes: int
    created_at: UtcDatetime
    updated_at: UtcDatetime
    duration_seconds: float | None = None
    processing_ms: int | None = None
    model: ModelCard | None = None
    summary: Summary | None = None
    chunks: list[Chunk] = []
    progress: Progress | None = None
    error: ErrorInfo | None = None
    # Set when the audio object was deleted under the account's retention (no playback).
    audio_deleted: AudioDeleted | None = None


class AnalysisRecord(BaseModel):
    """A row of ``analyses`` with what only the services see (owner, object key)."""

    id: UUID
    owner_id: UUID
    status: Status
    filename: str
    content_type: str
    size_bytes: int
    object_key: str
    upload_expires_at: datetime
    created_at: datetime
    updated_at: datetime
    duration_seconds: float | None = None
    processing_ms: int | None = None
    model: ModelCard | None = None
    summary: Summary | None = None
    error_code: str | None = None
    error_message: str | None = None
    claim_token: UUID | None = None
    # The object the scorer read: its ETag and sha256 (None until it was downloaded).
    object_etag: str | None = None
    content_sha256: str | None = None
    # Set when another object replaced the scored one (it is deleted; no playback URL).
    audio_replaced_at: datetime | None = None
    # Created under zero-retention, or its account switched to it: the audio is not kept.
    zero_retention: bool = False
    audio_deleted_at: datetime | None = None
    audio_deleted_reason: AudioDeletedReason | None = None
    audio_retention_days: int | None = None

    def to_analysis(self, chunks: list[Chunk], progress: Progress | None = None) -> Analysis:
        error = (
            ErrorInfo(code=self.error_code, message=self.error_message or "")
            if self.error_code
            else None
        )
        return Analysis(
            id=self.id,
            status=self.status,
            filename=self.filename,
            content_type=self.content_type,
            size_bytes=self.size_bytes,
            created_at=self.created_at,
            updated_at=self.updated_at,
            duration_seconds=self.duration_seconds,
            processing_ms=self.processing_ms,
            model=self.model,
            summary=self.summary,
            chunks=chunks,
            progress=progress,
            error=error,
            audio_deleted=self.audio_deletion(),
        )

    def audio_deletion(self) -> AudioDeleted | None:
        if self.audio_deleted_at is None or self.audio_deleted_reason is None:
            return None
        return AudioDeleted(
            deleted_at=self.audio_deleted_at,
            reason=self.audio_deleted_reason,
            retention_days=self.audio_retention_days,
        )


class User(BaseModel):
    id: UUID
    email: str
    password_hash: str
    created_at: datetime
    # Days the account keeps uploaded audio; 0 = zero-retention (realtone_core.account).
    retention_days: int = 30


class ScoringResult(BaseModel):
    """What the scorer writes for a completed analysis."""

    model_config = ConfigDict(protected_namespaces=())

    duration_seconds: float
    processing_ms: int
    model: ModelCard
    summary: Summary
    chunks: list[Chunk]
    timings: dict[str, float]
    content_sha256: str | None = None
    # Fingerprint of the detector and settings (realtone_scorer.pipeline.scoring_key).
    scoring_key: str | None = None
    # speaker → its voice embedding (unit vector); stored for voice search, never shown.
    speaker_embeddings: dict[int, list[float]] = Field(default_factory=dict, exclude=True)
