"""Fixed-window rate limits kept in Redis (login attempts, analyses, upload bytes).

A limit that cannot be checked because Redis is down lets the request through (logged):
abuse limits must not turn a cache outage into an outage of the whole service.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window_seconds: int


class RateLimiter:
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def _key(self, limit: Limit, subject: str, now: float) -> tuple[str, int]:
        window = int(now // limit.window_seconds)
        retry_after = int((window + 1) * limit.window_seconds - now) + 1
        return f"realtone:limit:{limit.name}:{subject}:{window}", retry_after

    def exceeded(self, limit: Limit, subject: str, amount: int = 0) -> int | None:
        """Seconds to wait when ``amount`` more would pass the limit, else None (no count)."""
        key, retry_after = self._key(limit, subject, time.time())
        try:
            used = int(self._client.get(key) or 0)
        except redis.RedisError as exc:
            log.warning("rate limit %s unchecked: %s", limit.name, exc)
            return None
        return retry_after if used + max(amount, 1) > limit.limit else None

    def add(self, limit: Limit, subject: str, amount: int = 1) -> None:
        key, _ = self._key(limit, subject, time.time())
        try:
            with self._client.pipeline() as pipe:
                pipe.incrby(key, amount)
                pipe.expire(key, limit.window_seconds + 1)
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("rate limit %s not counted: %s", limit.name, exc)

    def close(self) -> None:
        self._client.close()
