"""The adapters a process needs, built once from settings (module scope in a Lambda)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from realtone_core.cache import StatusCache
from realtone_core.config import Settings
from realtone_core.db import Database
from realtone_core.limits import RateLimiter
from realtone_core.queue import sqs_client
from realtone_core.storage import ObjectStore
from realtone_core.store import AnalysisStore, RefreshTokenStore, UserStore


@dataclass
class Services:
    settings: Settings
    db: Database
    users: UserStore
    refresh_tokens: RefreshTokenStore
    analyses: AnalysisStore
    cache: StatusCache
    limiter: RateLimiter
    objects: ObjectStore
    sqs: Any

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        db = Database(settings.database_url, settings.database_pool_size)
        return cls(
            settings=settings,
            db=db,
            users=UserStore(db),
            refresh_tokens=RefreshTokenStore(db),
            analyses=AnalysisStore(db),
            cache=StatusCache(
                settings.redis_url,
                settings.cache_ttl_active_seconds,
                settings.cache_ttl_terminal_seconds,
            ),
            limiter=RateLimiter(settings.redis_url),
            objects=ObjectStore(
                settings.bucket,
                settings.aws_region,
                settings.aws_endpoint_url,
                settings.s3_public_endpoint_url,
            ),
            sqs=sqs_client(settings.aws_region, settings.aws_endpoint_url),
        )

    def close(self) -> None:
        self.db.close()
        self.cache.close()
        self.limiter.close()
