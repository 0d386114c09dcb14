"""Request and response bodies of the HTTP contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, EmailStr, Field, field_serializer, field_validator

from realtone_core.models import Analysis, utc_iso


class Credentials(BaseModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=1024)

    @field_validator("email")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return value.strip().lower()


class LoginRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class UserOut(BaseModel):
    id: UUID
    email: str
    created_at: datetime

    @field_serializer("created_at")
    def _iso(self, value: datetime) -> str:
        return utc_iso(value)


class MeOut(BaseModel):
    id: UUID
    email: str


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class CreateAnalysisRequest(BaseModel):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=127)
    size_bytes: int = Field(gt=0)


class UploadOut(BaseModel):
    url: str
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int

    @field_serializer("expires_at")
    def _iso(self, value: datetime) -> str:
        return utc_iso(value)


class CreateAnalysisResponse(BaseModel):
    analysis: Analysis
    upload: UploadOut


class AnalysisListResponse(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class AudioUrlOut(BaseModel):
    url: str
    expires_at: datetime

    @field_serializer("expires_at")
    def _iso(self, value: datetime) -> str:
        return utc_iso(value)
