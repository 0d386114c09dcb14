"""Redis cache of status documents: write-through by the scorer, read-through by the API.

Never the only copy of anything: every failure here is logged and treated as a miss, so a
dead Redis slows status reads down instead of breaking them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

import redis

from realtone_core.models import Analysis, Status

log = logging.getLogger(__name__)

_SOCKET_TIMEOUT_SECONDS = 0.5


def analysis_key(analysis_id: UUID) -> str:
    return f"realtone:analysis:{analysis_id}"


def tombstone_key(analysis_id: UUID) -> str:
    return f"realtone:deleted:{analysis_id}"


# Every document written is announced on this pub/sub channel (the message is its status):
# the API's event streams wake up and re-read it, in whichever process they run.
EVENTS_PATTERN = "realtone:events:*"


def events_channel(analysis_id: UUID) -> str:
    return f"realtone:events:{analysis_id}"


# A document is written only while its analysis has no tombstone: a scorer publishing the
# result of an analysis deleted meanwhile cannot bring it back (checked and set atomically).
# Announced in the same step, so a stream woken by the message reads this document or a later one.
_PUT_UNLESS_DELETED = """
if redis.call('exists', KEYS[2]) == 1 then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('publish', ARGV[3], ARGV[4])
return 1
"""


@dataclass(frozen=True)
class CachedAnalysis:
    """A status document as stored: the owner (to enforce access), its status and the JSON
    body sent to clients as is."""

    owner_id: UUID
    status: Status
    body: bytes


_FORMAT = b"v1"


def _encode(entry: CachedAnalysis) -> bytes:
    # "v1|owner|status|" + body: reading one back needs no JSON parsing of the body.
    return b"|".join(
        (_FORMAT, str(entry.owner_id).encode(), entry.status.value.encode(), entry.body)
    )


def _decode(raw: bytes) -> CachedAnalysis:
    version, owner, status, body = raw.split(b"|", 3)
    if version != _FORMAT:
        raise ValueError(f"unknown cache entry format {version!r}")
    return CachedAnalysis(UUID(owner.decode()), Status(status.decode()), body)


class StatusCache:
    def __init__(self, url: str, ttl_active_seconds: int, ttl_terminal_seconds: int) -> None:
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=_SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=_SOCKET_TIMEOUT_SECONDS,
            health_check_interval=30,
        )
        self._ttl_active = ttl_active_seconds
        self._ttl_terminal = ttl_terminal_seconds
        self._put = self._client.register_script(_PUT_UNLESS_DELETED)

    def ping(self) -> None:
        self._client.ping()

    def get(self, analysis_id: UUID) -> CachedAnalysis | None:
        try:
            raw = self._client.get(analysis_key(analysis_id))
        except redis.RedisError as exc:
            log.warning("status cache read failed: %s", exc)
            return None
        if raw is None:
            return None
        try:
            return _decode(raw if isinstance(raw, bytes) else raw.encode())
        except ValueError:
            log.warning("status cache held an unreadable entry for %s", analysis_id)
            return None

    def put(self, owner_id: UUID, analysis: Analysis) -> CachedAnalysis:
        """Store the document; returns the entry (its body is what the API sends)."""
        entry = CachedAnalysis(owner_id, analysis.status, analysis.model_dump_json().encode())
        # A stale non-terminal entry (say, written just before Redis lost a later update)
        # corrects itself within the short active TTL.
        ttl = self._ttl_terminal if analysis.status.terminal else self._ttl_active
        keys = [analysis_key(analysis.id), tombstone_key(analysis.id)]
        try:
            channel = events_channel(analysis.id)
            self._put(keys=keys, args=[_encode(entry), ttl, channel, analysis.status.value])
        except redis.RedisError as exc:
            log.warning("status cache write failed: %s", exc)
        return entry

    def delete(self, analysis_id: UUID) -> None:
        """Drop the document and leave a tombstone, so no late write brings it back. The
        tombstone outlives any document (the terminal TTL); ids are never reused."""
        self.delete_many([analysis_id])

    def delete_many(self, analysis_ids: Iterable[UUID], batch: int = 500) -> None:
        """``delete`` for many analyses, ``batch`` per round trip."""
        ids = list(analysis_ids)
        try:
            for start in range(0, len(ids), batch):
                with self._client.pipeline() as pipe:
                    for analysis_id in ids[start : start + batch]:
                        pipe.set(tombstone_key(analysis_id), b"1", ex=self._ttl_terminal)
                        pipe.delete(analysis_key(analysis_id))
                    pipe.execute()
        except redis.RedisError as exc:
            log.warning("status cache delete failed: %s", exc)

    def set_json(self, key: str, value: object) -> None:
        try:
            self._client.set(key, json.dumps(value))
        except redis.RedisError as exc:
            log.warning("cache write of %s failed: %s", key, exc)

    def get_json(self, key: str) -> object | None:
        try:
            raw = self._client.get(key)
        except redis.RedisError:
            return None
        return json.loads(raw) if raw else None

    def close(self) -> None:
        self._client.close()
