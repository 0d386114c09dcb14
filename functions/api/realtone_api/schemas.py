"""Request and response bodies of the HTTP contract."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)

from realtone_core.account import MAX_RETENTION_DAYS, Retention, check_retention, from_days
from realtone_core.models import Analysis, User, UtcDatetime
from realtone_core.voices import MAX_SOURCES, MAX_VOICE_NAME, SearchHit, Voice
from realtone_core.webhooks import AccountWebhook


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error the API returns: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer."""
    return {status: {"model": ErrorBody, "description": "Error"} for status in statuses}


class HealthOut(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, str]
    model: dict[str, Any]
    failed: list[str] | None = None


class ApiInput(BaseModel):
    """Base of every request body: text with NUL characters is refused (422) here, since
    Postgres cannot store it."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(
            isinstance(v, str) and "\x00" in v for v in data.values()
        ):
            raise ValueError("text must not contain NUL characters")
        return data


class Credentials(ApiInput):
    email: EmailStr
    password: str = Field(min_length=8, max_length=1024)

    @field_validator("email")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return value.strip().lower()


class LoginRequest(ApiInput):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class RefreshRequest(ApiInput):
    refresh_token: str = Field(min_length=1, max_length=4096)


class UserOut(BaseModel):
    id: UUID
    email: str
    created_at: UtcDatetime


class MeOut(BaseModel):
    id: UUID
    email: str


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class CreateAnalysisRequest(ApiInput):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=127)
    size_bytes: int = Field(gt=0)
    # Webhooks: where this analysis's result is POSTed (over the account's webhook_url).
    callback_url: str | None = Field(default=None, max_length=2048)


class UploadOut(BaseModel):
    url: str
    fields: dict[str, str]
    expires_at: UtcDatetime
    max_bytes: int


class CreateAnalysisResponse(BaseModel):
    analysis: Analysis
    upload: UploadOut
    # Webhooks: the account's signing secret when a callback_url needed one made (shown
    # this once), else null.
    webhook_secret: str | None = None


class AnalysisListResponse(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class AudioUrlOut(BaseModel):
    url: str
    expires_at: UtcDatetime


class StreamTokenOut(BaseModel):
    """Opens the event stream of one analysis, for clients that cannot send headers (a
    browser's EventSource): ``url`` already carries ``token``."""

    token: str
    url: str
    expires_at: UtcDatetime


_RETENTION_DESCRIPTION = (
    f'Days the account keeps uploaded audio (1-{MAX_RETENTION_DAYS}), or "zero": deleted as soon'
    " as it is analysed (zero-retention); the results stay either way."
)


class AccountOut(BaseModel):
    """``GET/PATCH /v1/account``: the account and its settings."""

    id: UUID
    email: str
    created_at: UtcDatetime
    retention_days: Retention = Field(description=_RETENTION_DESCRIPTION)
    # Where results go when an analysis names no callback_url (null: nowhere).
    webhook_url: str | None = None
    # When the signing secret was made (null: none yet); the secret itself is never shown
    # again, except in webhook_secret of the answer that created it.
    webhook_secret_created_at: UtcDatetime | None = None
    webhook_secret: str | None = None

    @classmethod
    def of(cls, user: User, webhooks: AccountWebhook, secret: str | None = None) -> AccountOut:
        return cls(
            id=user.id,
            email=user.email,
            created_at=user.created_at,
            retention_days=from_days(user.retention_days),
            webhook_url=webhooks.webhook_url,
            webhook_secret_created_at=webhooks.secret_created_at,
            webhook_secret=secret,
        )


class AccountUpdate(ApiInput):
    """``PATCH /v1/account``: the settings to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    retention_days: Retention | None = Field(default=None, description=_RETENTION_DESCRIPTION)
    # Absent: unchanged; null: no default endpoint.
    webhook_url: str | None = Field(default=None, max_length=2048)

    @field_validator("retention_days", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> Retention:
        return check_retention(value)


class WebhookSecretOut(BaseModel):
    webhook_secret: str
    created_at: UtcDatetime


class VoiceSourceIn(ApiInput):
    analysis_id: UUID
    speaker: int = Field(ge=0, le=1000)


class VoiceCreate(ApiInput):
    """``POST /v1/voices``: enrol a voice from speakers of completed analyses."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_VOICE_NAME)
    sources: list[VoiceSourceIn] = Field(min_length=1, max_length=MAX_SOURCES)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a name is needed")
        return value.strip()


class VoiceListResponse(BaseModel):
    items: list[Voice]


class VoiceSearchRequest(ApiInput):
    """``POST /v1/voices/search``: by a speaker of one of your analyses (``analysis_id`` and
    ``speaker``) or by an enrolled voice (``voice_id``), one of the two."""

    model_config = ConfigDict(extra="forbid")

    analysis_id: UUID | None = None
    speaker: int | None = Field(default=None, ge=0, le=1000)
    voice_id: UUID | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one_query(self) -> VoiceSearchRequest:
        by_speaker = self.analysis_id is not None or self.speaker is not None
        if by_speaker == (self.voice_id is not None):
            raise ValueError("give either analysis_id and speaker, or voice_id")
        if by_speaker and (self.analysis_id is None or self.speaker is None):
            raise ValueError("analysis_id and speaker go together")
        return self


class VoiceSearchResponse(BaseModel):
    items: list[SearchHit]
    next_cursor: str | None
