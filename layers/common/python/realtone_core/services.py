"""The adapters a process needs, built once from its settings (module scope in a Lambda)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from realtone_core.cache import StatusCache
from realtone_core.config import CoreSettings
from realtone_core.db import Database
from realtone_core.s3 import ObjectStore
from realtone_core.sqs import sqs_client
from realtone_core.store import AnalysisStore


@dataclass
class Services:
    """What every function that serves or scores analyses talks to."""

    settings: CoreSettings
    db: Database
    analyses: AnalysisStore
    cache: StatusCache
    objects: ObjectStore
    sqs: Any

    @classmethod
    def from_settings(
        cls, settings: CoreSettings, public_endpoint_url: str | None = None
    ) -> Services:
        db = Database(settings.database_url, settings.database_pool_size)
        return cls(
            settings=settings,
            db=db,
            analyses=AnalysisStore(db),
            cache=StatusCache(
                settings.redis_url,
                settings.cache_ttl_active_seconds,
                settings.cache_ttl_terminal_seconds,
            ),
            objects=ObjectStore(
                settings.bucket,
                settings.aws_region,
                settings.aws_endpoint_url,
                public_endpoint_url,
            ),
            sqs=sqs_client(settings.aws_region, settings.aws_endpoint_url),
        )

    def close(self) -> None:
        self.db.close()
        self.cache.close()
