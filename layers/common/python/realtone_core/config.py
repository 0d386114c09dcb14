"""Settings from the environment (prefix ``REALTONE_``), one class per kind of process.

Each function validates only what it uses, so a variable that one function needs (the API's
JWT secret) cannot stop another (the scorer) from starting. ``CoreSettings`` holds what
every function that touches analyses uses; ``realtone_api.settings`` and
``realtone_scorer.settings`` add the rest. Bad configuration fails fast at start with a
message naming the variable.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/realtone"


class ConfigError(SystemExit):
    """Configuration that cannot work; stops the process with a readable message."""


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REALTONE_", extra="ignore", populate_by_name=True)

    @classmethod
    def load(cls) -> Self:
        """Read the environment; a bad or missing value stops the process naming it."""
        try:
            return cls()
        except ValidationError as exc:
            problems = "; ".join(
                f"{cls._variable(str(e['loc'][0])) if e['loc'] else 'configuration'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"{cls.__name__}: invalid configuration: {problems}") from exc

    @classmethod
    def _variable(cls, name: str) -> str:
        """The environment variable(s) behind an error's field."""
        for field in cls.model_fields.values():
            alias = field.validation_alias
            if isinstance(alias, AliasChoices) and name in alias.choices:
                return " or ".join(str(c) for c in alias.choices)
        return "REALTONE_" + name.upper()


class MigrationSettings(_Settings):
    """``python -m realtone_core.migrate`` and the migrations custom resource."""

    database_url: str = DEFAULT_DATABASE_URL


class CoreSettings(_Settings):
    """Database, cache, bucket, queue, region and leases: every function that serves or
    scores analyses."""

    # Unset is not development: the API then refuses the public development JWT secret.
    env: Literal["dev", "test", "prod"] | None = None

    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=4, ge=1, le=64)
    redis_url: str = "redis://127.0.0.1:6379/0"
    cache_ttl_active_seconds: int = Field(default=30, ge=1)
    cache_ttl_terminal_seconds: int = Field(default=24 * 3600, ge=1)

    # Lambda and ECS set AWS_REGION; REALTONE_AWS_REGION overrides it. No default: a region
    # guessed wrong signs URLs and finds queues nowhere.
    aws_region: str = Field(
        validation_alias=AliasChoices("REALTONE_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
        min_length=1,
    )
    # Endpoint the services use (LocalStack locally; unset on AWS).
    aws_endpoint_url: str | None = None
    bucket: str = Field(min_length=3)
    queue_url: str | None = None

    # How long a scorer may hold an analysis in ``processing`` before another may take it.
    claim_lease_seconds: int = Field(default=900, ge=10)
    # Must equal the queue's redrive maxReceiveCount: the last attempt marks the analysis failed.
    max_receive_count: int = Field(default=3, ge=1)

    # --- webhooks (realtone_core.webhooks) ---
    # Where the deliveries of finished analyses are sent (unset: they wait in Postgres).
    webhook_queue_url: str | None = None
    # Webhooks to loopback addresses (a receiver on this machine); honoured only when
    # REALTONE_ENV=dev.
    webhook_allow_loopback: bool = False


class SweepSettings(CoreSettings):
    """The scheduled sweep: it sends events again, so it needs the queue."""

    queue_url: str = Field(min_length=1)


class WebhookSettings(CoreSettings):
    """The webhook function: delivers what the webhook queue names."""

    webhook_queue_url: str = Field(min_length=1)
    # Seconds to wait before each retry (comma-separated): one try more than delays. The
    # default tries at 0, 1, 5, 15, 35 and 60 minutes. Each at most 12 h (SQS's limit).
    webhook_retry_delays: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [60, 240, 600, 1200, 1500]
    )
    # Each delay is spread by up to this fraction either way.
    webhook_retry_jitter: float = Field(default=0.1, ge=0, le=0.5)
    # Connecting, and each read of the answer, give up after this long.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=30)

    @field_validator("webhook_retry_delays", mode="before")
    @classmethod
    def _split_delays(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(v) for v in value.split(",") if v.strip()]
        return value

    @field_validator("webhook_retry_delays")
    @classmethod
    def _delays_fit_sqs(cls, value: list[int]) -> list[int]:
        if any(not 1 <= v <= 12 * 3600 for v in value):
            raise ValueError("each delay must be between 1 and 43200 seconds")
        return value
