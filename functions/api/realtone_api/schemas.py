"""Request and response bodies of the HTTP contract."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)

from realtone_core.models import Analysis, UtcDatetime


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
