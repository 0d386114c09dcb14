"""Event-stream wake-ups through the real Redis: every API process hears every write."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from realtone_api.streams import Broadcaster
from realtone_core.models import Analysis, Status

pytestmark = pytest.mark.integration


def analysis(ident: uuid.UUID, status: Status) -> Analysis:
    now = datetime.now(UTC)
    return Analysis(
        id=ident,
        status=status,
        filename="a.wav",
        content_type="audio/wav",
        size_bytes=1,
        created_at=now,
        updated_at=now,
    )


class Process(threading.Thread):
    """An API process's event loop with its broadcaster and one stream on ``ident``."""

    def __init__(self, redis_url: str, ident: uuid.UUID) -> None:
        super().__init__(daemon=True)
        self.redis_url, self.analysis_id = redis_url, ident
        self.ready, self.woken = threading.Event(), threading.Event()
        self.live = False

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        broadcaster = Broadcaster(self.redis_url)
        broadcaster.start()
        async with broadcaster.watch(self.analysis_id) as waiter:
            while not broadcaster.live:
                await asyncio.sleep(0.01)
            self.live = True
            self.ready.set()
            if await waiter.wait(10):
                self.woken.set()
        await broadcaster.close()


def test_a_write_by_the_scorer_wakes_streams_in_every_api_process(stack, services):
    ident = uuid.uuid4()
    processes = [Process(stack.env["REALTONE_REDIS_URL"], ident) for _ in range(2)]
    for p in processes:
        p.start()
        assert p.ready.wait(10)
    started = time.monotonic()
    services.cache.put(uuid.uuid4(), analysis(ident, Status.PROCESSING))
    for p in processes:
        assert p.woken.wait(5)
        p.join(5)
    assert time.monotonic() - started < 1.0


def test_streams_keep_reading_while_redis_is_unreachable():
    async def main() -> tuple[bool, bool, float]:
        broadcaster = Broadcaster("redis://127.0.0.1:1/0")  # nothing listens there
        broadcaster.start()
        async with broadcaster.watch(uuid.uuid4()) as waiter:
            await asyncio.sleep(0.2)
            t0 = time.monotonic()
            woke = await waiter.wait(30)  # re-read soon instead of waiting for a wake-up
            waited = time.monotonic() - t0
        live = broadcaster.live
        await broadcaster.close()
        return live, woke, waited

    live, woke, waited = asyncio.run(main())
    assert not live and woke and waited < 1.5


def test_where_streams_are_served_elsewhere_the_api_redirects_there(
    client, new_user, services, monkeypatch
):
    headers = new_user()
    ident = client.post(
        "/v1/analyses",
        headers=headers,
        json={"filename": "a.wav", "content_type": "audio/wav", "size_bytes": 100},
    ).json()["analysis"]["id"]
    base = "https://abc123.lambda-url.eu-central-1.on.aws/"
    monkeypatch.setattr(services.settings, "stream_base_url", base)
    issued = client.post(f"/v1/analyses/{ident}/stream-token", headers=headers).json()
    assert issued["url"].startswith(f"{base}v1/analyses/{ident}/events?token=")
    answer = client.get(
        f"/v1/analyses/{ident}/events", params={"token": "t"}, follow_redirects=False
    )
    assert answer.status_code == 307
    assert answer.headers["location"] == f"{base}v1/analyses/{ident}/events?token=t"
