"""What the API function reads from the environment (besides ``CoreSettings``)."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from realtone_core.config import CoreSettings

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"


class ApiSettings(CoreSettings):
    queue_url: str = Field(min_length=1)  # /health checks it
    # Endpoint put into presigned URLs, i.e. the one a browser can reach.
    s3_public_endpoint_url: str | None = None

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    access_token_seconds: int = Field(default=15 * 60, ge=30)
    refresh_token_seconds: int = Field(default=30 * 24 * 3600, ge=60)

    max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    upload_url_seconds: int = Field(default=15 * 60, ge=30, le=7 * 24 * 3600)
    audio_url_seconds: int = Field(default=15 * 60, ge=30)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"]
    )
    poll_retry_after_seconds: int = Field(default=1, ge=1)

    # Event streams (GET /v1/analyses/{id}/events).
    stream_token_seconds: int = Field(default=300, ge=10, le=3600)
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    # A stream ends after this long and the client resumes with Last-Event-ID (a Lambda
    # answering through a function URL must end before its timeout).
    stream_max_seconds: float = Field(default=3600.0, gt=0)
    # Where browsers open streams, when another deployment than this API serves them (the
    # template's StreamFunction URL); empty: this API's own origin.
    stream_base_url: str = ""

    # Abuse limits (fixed windows in Redis; unchecked while Redis is down).
    login_failures_per_account: int = Field(default=10, ge=1)
    login_failures_per_client: int = Field(default=50, ge=1)
    login_window_seconds: int = Field(default=15 * 60, ge=1)
    registrations_per_client: int = Field(default=20, ge=1)
    registration_window_seconds: int = Field(default=3600, ge=1)
    analyses_per_minute: int = Field(default=30, ge=1)
    upload_bytes_per_day: int = Field(default=5 * 1024**3, ge=1)
    max_analyses_in_flight: int = Field(default=20, ge=1)
    max_request_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Peers whose X-Forwarded-For is believed (addresses or networks). None by default: the
    # client is the peer (behind API Gateway, Mangum gives its sourceIp as the peer).
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [ip_network(n.strip(), strict=False) for n in value.split(",") if n.strip()]
        return value

    @model_validator(mode="after")
    def _secret_outside_dev(self) -> ApiSettings:
        secret = self.jwt_secret.get_secret_value()
        if self.env != "dev" and (secret == DEV_JWT_SECRET or len(secret) < 32):
            raise ValueError(
                "REALTONE_JWT_SECRET must be set to a random value of at least 32 characters;"
                " the public development secret is used only with REALTONE_ENV=dev set"
                f" explicitly (REALTONE_ENV is {self.env or 'unset'})"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> ApiSettings:
    return ApiSettings.load()
