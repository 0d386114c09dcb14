"""Settings from the environment (prefix ``REALTONE_``), validated once at start-up.

Bad configuration fails fast with a message naming the variable, instead of surfacing
later as a confusing runtime error.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REALTONE_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    log_level: str = "INFO"

    database_url: str = "postgresql://postgres@127.0.0.1:5432/realtone"
    database_pool_size: int = Field(default=4, ge=1, le=64)
    redis_url: str = "redis://127.0.0.1:6379/0"

    aws_region: str = "us-east-1"
    # Endpoint the services use (LocalStack locally; unset on AWS).
    aws_endpoint_url: str | None = None
    # Endpoint put into presigned URLs, i.e. the one a browser can reach.
    s3_public_endpoint_url: str | None = None
    bucket: str = "realtone-audio"
    queue_url: str | None = None

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    access_token_seconds: int = Field(default=15 * 60, ge=30)
    refresh_token_seconds: int = Field(default=30 * 24 * 3600, ge=60)

    max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    upload_url_seconds: int = Field(default=15 * 60, ge=30, le=7 * 24 * 3600)
    audio_url_seconds: int = Field(default=15 * 60, ge=30)
    cors_origins: Annotated[list[str], NoDecode] = [
        "http://127.0.0.1:8000",
        "http://localhost:8000",
    ]

    # Abuse limits (fixed windows in Redis; unchecked while Redis is down).
    login_failures_per_account: int = Field(default=10, ge=1)
    login_failures_per_client: int = Field(default=50, ge=1)
    login_window_seconds: int = Field(default=15 * 60, ge=1)
    analyses_per_minute: int = Field(default=30, ge=1)
    upload_bytes_per_day: int = Field(default=5 * 1024**3, ge=1)
    max_request_body_bytes: int = Field(default=64 * 1024, ge=1024)

    cache_ttl_active_seconds: int = Field(default=30, ge=1)
    cache_ttl_terminal_seconds: int = Field(default=24 * 3600, ge=1)
    poll_retry_after_seconds: int = Field(default=1, ge=1)

    model: str = "dev:tiny"
    # Pins the checkpoint file's hash (an s3:// URI may also carry "#sha256=<hex>").
    model_sha256: str | None = None
    model_cache_dir: str = "/tmp/realtone-models"
    device: str = "auto"
    # auto: bf16 on CPUs with AVX-512 BF16/AMX and on GPUs that have it, fp16 on other GPUs,
    # else fp32.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    window_seconds: float = Field(default=4.0, gt=0)
    hop_seconds: float = Field(default=4.0, gt=0)
    min_tail_seconds: float = Field(default=0.5, gt=0)
    max_duration_seconds: float = Field(default=30 * 60, gt=0)
    voice_threshold_dbfs: float = -50.0
    score_threshold: float = Field(default=0.5, ge=0, le=1)
    # Overall scores within this distance of the threshold are "inconclusive" (0 = off).
    inconclusive_band: float = Field(default=0.0, ge=0, le=0.5)
    batch_size: int = Field(default=8, ge=1, le=256)
    # Several uploads held at once (the worker's --batch-size) share forward passes of up to
    # pooled_batch_size windows. auto: on when a CUDA GPU is present (on a CPU it gains nothing).
    batch_across_messages: Literal["auto", "on", "off"] = "auto"
    pooled_batch_size: int = Field(default=32, ge=1, le=1024)
    torch_threads: int | None = Field(default=None, ge=1)

    # How long a scorer may hold an analysis in ``processing`` before another may take it.
    claim_lease_seconds: int = Field(default=900, ge=10)
    # Must equal the queue's redrive maxReceiveCount: the last attempt marks the analysis failed.
    max_receive_count: int = Field(default=3, ge=1)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @model_validator(mode="after")
    def _secret_outside_dev(self) -> Settings:
        secret = self.jwt_secret.get_secret_value()
        if self.env != "dev" and (secret == DEV_JWT_SECRET or len(secret) < 32):
            raise ValueError(
                "REALTONE_JWT_SECRET must be set to a random value of at least 32 characters"
                " outside development (REALTONE_ENV=test or prod); the development default"
                " is refused"
            )
        if self.min_tail_seconds > self.window_seconds:
            raise ValueError("REALTONE_MIN_TAIL_SECONDS must not exceed REALTONE_WINDOW_SECONDS")
        return self

    @property
    def sample_rate(self) -> int:
        return 16_000


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
