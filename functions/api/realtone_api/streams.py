"""Server-sent events of one analysis (``GET /v1/analyses/{id}/events``).

A stream re-reads the analysis's status document whenever the scorer (or anyone) writes it
and tells the client what it has not seen yet: ``status`` when the status changes,
``windows`` with the new windows of the timeline, then ``completed`` or ``failed`` with the
whole document, and ends. An event's id says what the client has then seen
(``<status>:<windows>``), so a client that reconnects with ``Last-Event-ID`` gets exactly
the rest: the scorer's progressive timeline only ever grows at its end.

Wake-ups come from Redis pub/sub (``realtone_core.cache`` announces every document it
writes), through one subscription per API process; while Redis is unreachable the streams
re-read every second instead, so they keep going on the database alone.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from uuid import UUID

import redis.asyncio as aioredis
from aws_lambda_powertools import Logger
from redis.exceptions import RedisError

from realtone_core.cache import EVENTS_PATTERN, CachedAnalysis
from realtone_core.errors import RealToneError
from realtone_core.models import Status

logger = Logger(service="realtone-api", child=True)

_TERMINAL_EVENT = {Status.COMPLETED: "completed", Status.FAILED: "failed", Status.EXPIRED: "failed"}
# How often a stream re-reads its document while Redis (and so every wake-up) is gone.
_FALLBACK_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Cursor:
    """What a client has seen: the last status and how many windows of the timeline."""

    status: Status | None = None
    windows: int = 0

    @classmethod
    def parse(cls, last_event_id: str | None) -> Cursor:
        """From a ``Last-Event-ID``; anything unreadable starts the stream from the top."""
        if not last_event_id:
            return cls()
        status, _, windows = last_event_id.partition(":")
        try:
            return cls(Status(status), int(windows)) if int(windows) >= 0 else cls()
        except ValueError:
            return cls()

    @property
    def id(self) -> str:
        return f"{self.status.value if self.status else ''}:{self.windows}"

    @property
    def finished(self) -> bool:
        return self.status is not None and self.status.terminal


@dataclass(frozen=True)
class Event:
    name: str
    cursor: Cursor
    data: bytes  # one line of JSON

    def encode(self) -> bytes:
        return b"id: %s\nevent: %s\ndata: %s\n\n" % (
            self.cursor.id.encode(),
            self.name.encode(),
            self.data,
        )


def next_events(seen: Cursor, document: bytes) -> tuple[list[Event], Cursor]:
    """The events that bring a client at ``seen`` up to ``document``, and where it is then."""
    doc = json.loads(document)
    status = Status(doc["status"])
    if seen.finished or (status == seen.status and not doc.get("chunks")):
        return [], seen
    events: list[Event] = []
    cursor = seen
    if status != seen.status and not status.terminal:
        cursor = Cursor(status, seen.windows)
        head = {k: v for k, v in doc.items() if k != "chunks"}
        events.append(Event("status", cursor, _json(head)))
    chunks = doc.get("chunks") or []
    if len(chunks) > cursor.windows:
        progress = doc.get("progress") or {
            "windows_done": len(chunks),
            "windows_total": len(chunks),
        }
        fresh = chunks[cursor.windows :]
        cursor = Cursor(cursor.status, len(chunks))
        events.append(Event("windows", cursor, _json({"chunks": fresh, "progress": progress})))
    if status.terminal:
        cursor = Cursor(status, max(cursor.windows, len(chunks)))
        events.append(Event(_TERMINAL_EVENT[status], cursor, document))
    return events, cursor


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True)
class StreamOptions:
    heartbeat_seconds: float
    max_seconds: float
    retry_ms: int = 2000  # how long an EventSource waits before reconnecting


class Waiter:
    """Wakes one stream when its analysis's document is written."""

    def __init__(self, broadcaster: Broadcaster) -> None:
        self._broadcaster = broadcaster
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """True when woken (or when the document should be re-read anyway), False after
        ``timeout`` of quiet."""
        if not self._broadcaster.live:
            await asyncio.sleep(min(timeout, _FALLBACK_POLL_SECONDS))
            return True
        with suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        woke = self._event.is_set()
        self._event.clear()
        return woke


async def event_stream(
    read: Callable[[], Awaitable[CachedAnalysis]],
    waiter: Waiter,
    seen: Cursor,
    options: StreamOptions,
) -> AsyncIterator[bytes]:
    """The bytes of the stream: events as the document changes, a comment line as heartbeat
    when nothing was sent for ``heartbeat_seconds``, until a terminal status or
    ``max_seconds`` (the client then resumes where it was)."""
    yield b"retry: %d\n\n" % options.retry_ms
    started = last_sent = time.monotonic()
    while True:
        try:
            document = await read()
        except RealToneError:  # deleted meanwhile: reconnecting will say so (404)
            return
        events, seen = next_events(seen, document.body)
        for event in events:
            yield event.encode()
            last_sent = time.monotonic()
        if document.status.terminal:
            return
        now = time.monotonic()
        if now - started >= options.max_seconds:
            return
        budget = min(
            options.heartbeat_seconds - (now - last_sent),
            options.max_seconds - (now - started),
        )
        if budget > 0 and await waiter.wait(budget):
            continue
        # Quiet: keep proxies from closing an idle connection (and re-read all the same,
        # in case a wake-up was lost).
        if time.monotonic() - last_sent >= options.heartbeat_seconds:
            yield b": heartbeat\n\n"
            last_sent = time.monotonic()


class Broadcaster:
    """One pattern subscription to every analysis's channel per API process, fanned out to
    the streams open in it; reconnects with backoff and wakes every stream when it does
    (anything may have been written while it was away)."""

    def __init__(self, redis_url: str) -> None:
        self._url = redis_url
        self._waiters: dict[UUID, set[Waiter]] = {}
        self.live = False
        self._task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._task = self.loop.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    @asynccontextmanager
    async def watch(self, analysis_id: UUID) -> AsyncIterator[Waiter]:
        waiter = Waiter(self)
        self._waiters.setdefault(analysis_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            watching = self._waiters.get(analysis_id, set())
            watching.discard(waiter)
            if not watching:
                self._waiters.pop(analysis_id, None)

    def _wake(self, analysis_id: UUID) -> None:
        for waiter in self._waiters.get(analysis_id, ()):
            waiter.wake()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.wake()

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            client = aioredis.Redis.from_url(self._url, socket_connect_timeout=1.0)
            try:
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                await pubsub.psubscribe(EVENTS_PATTERN)
                self.live, backoff = True, 0.5
                self._wake_all()
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        with suppress(ValueError):
                            self._wake(UUID(message["channel"].rsplit(b":", 1)[1].decode()))
            except (RedisError, OSError) as exc:
                if self.live:
                    logger.warning("event wake-ups lost; streams poll", error=str(exc))
            finally:
                self.live = False
                await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)


_broadcaster: Broadcaster | None = None


def broadcaster(redis_url: str) -> Broadcaster:
    """This process's broadcaster, started on first use in the running event loop."""
    global _broadcaster
    loop = asyncio.get_running_loop()
    if _broadcaster is None or _broadcaster.loop is not loop:
        _broadcaster = Broadcaster(redis_url)
        _broadcaster.start()
    return _broadcaster
