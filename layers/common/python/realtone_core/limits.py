"""Fixed-window rate limits kept in Redis (login attempts, registrations, analyses, upload
bytes, decoded audio seconds).

Counting is done first, with one atomic increment, and the decision is taken on the count
that includes the caller: concurrent requests cannot all read "under the limit" before any
of them is counted.

A limit that cannot be checked because Redis is down lets the request through (logged):
abuse limits must not turn a cache outage into an outage of the whole service.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from uuid import UUID

import redis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window_seconds: int


# Give back only what is still counted in the window (a give-back after the window rolled
# over must not start the next window below zero).
_GIVE_BACK = """
if redis.call('exists', KEYS[1]) == 1 then return redis.call('decrby', KEYS[1], ARGV[1]) end
return 0
"""

# Charge one item (an analysis) up to ``total`` units, once: a retry that charges the same
# total again pays nothing more, a larger total pays the difference. -1: over the limit
# (nothing charged).
_CHARGE_ONCE = """
local already = tonumber(redis.call('get', KEYS[2]) or '0')
local extra = tonumber(ARGV[1]) - already
if extra <= 0 then return 0 end
local used = redis.call('incrby', KEYS[1], extra)
if used > tonumber(ARGV[2]) then
  redis.call('decrby', KEYS[1], extra)
  return -1
end
redis.call('expire', KEYS[1], ARGV[3])
redis.call('set', KEYS[2], ARGV[1], 'EX', ARGV[3])
return extra
"""


class RateLimiter:
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._give_back = self._client.register_script(_GIVE_BACK)
        self._charge_once = self._client.register_script(_CHARGE_ONCE)

    def _key(self, limit: Limit, subject: str, now: float) -> tuple[str, int]:
        window = int(now // limit.window_seconds)
        retry_after = int((window + 1) * limit.window_seconds - now) + 1
        return f"realtone:limit:{limit.name}:{subject}:{window}", retry_after

    def take(self, limit: Limit, subject: str, amount: int = 1) -> int | None:
        """Count ``amount`` now; seconds to wait when that passes the limit (then nothing
        stays counted), else None."""
        key, retry_after = self._key(limit, subject, time.time())
        try:
            with self._client.pipeline() as pipe:
                pipe.incrby(key, amount)
                pipe.expire(key, limit.window_seconds + 1)
                used, _ = pipe.execute()
            if int(used) > limit.limit:
                self._give_back(keys=[key], args=[amount])
                return retry_after
        except redis.RedisError as exc:
            log.warning("rate limit %s unchecked: %s", limit.name, exc)
        return None

    def give_back(self, limit: Limit, subject: str, amount: int = 1) -> None:
        """Uncount what ``take`` counted (say, a login that turned out to be right)."""
        key, _ = self._key(limit, subject, time.time())
        try:
            self._give_back(keys=[key], args=[amount])
        except redis.RedisError as exc:
            log.warning("rate limit %s not given back: %s", limit.name, exc)

    def charge_once(self, limit: Limit, subject: str, item: str, total: int) -> int | None:
        """Charge ``item`` (counted once, however often this is called) up to ``total``;
        seconds to wait when that would pass the limit (nothing charged), else None."""
        key, retry_after = self._key(limit, subject, time.time())
        charged = f"realtone:charged:{limit.name}:{item}"
        try:
            extra = self._charge_once(
                keys=[key, charged], args=[total, limit.limit, limit.window_seconds + 1]
            )
        except redis.RedisError as exc:
            log.warning("quota %s unchecked: %s", limit.name, exc)
            return None
        return retry_after if int(extra) < 0 else None

    def used(self, limit: Limit, subject: str) -> int:
        """What is counted in the current window (0 when unknown)."""
        key, _ = self._key(limit, subject, time.time())
        try:
            return int(self._client.get(key) or 0)
        except redis.RedisError:
            return 0

    def close(self) -> None:
        self._client.close()


class AudioQuota:
    """Seconds of decoded audio per owner and (UTC) day, each analysis charged once."""

    def __init__(self, limiter: RateLimiter, seconds_per_day: int) -> None:
        self._limiter = limiter
        self.limit = Limit("audio-seconds", seconds_per_day, 24 * 3600)

    def charge(self, owner_id: UUID, analysis_id: UUID, seconds: int) -> int | None:
        """Charge the analysis up to ``seconds``; seconds until the quota renews when that
        would pass it (then nothing is charged), else None."""
        return self._limiter.charge_once(self.limit, str(owner_id), str(analysis_id), seconds)

    def used(self, owner_id: UUID) -> int:
        return self._limiter.used(self.limit, str(owner_id))
