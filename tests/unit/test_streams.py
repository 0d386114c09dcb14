"""What an event stream tells a client, from the documents it reads (no Redis, no HTTP)."""

from __future__ import annotations

import asyncio
import json
import uuid

from realtone_api.streams import Cursor, StreamOptions, event_stream, next_events
from realtone_core.cache import CachedAnalysis
from realtone_core.lifecycle import not_found
from realtone_core.models import Status
from tests.sse import read_events

OWNER = uuid.uuid4()


def doc(status: str, windows: int = 0, total: int | None = None) -> bytes:
    chunks = [{"chunk_id": i, "score": i / 100} for i in range(windows)]
    progress = {"windows_done": windows, "windows_total": total} if total else None
    return json.dumps(
        {"id": "a", "status": status, "chunks": chunks, "progress": progress}
    ).encode()


def test_a_new_client_gets_the_status_then_the_windows_so_far():
    events, seen = next_events(Cursor(), doc("processing", 8, 30))
    assert [(e.name, e.cursor.id) for e in events] == [
        ("status", "processing:0"),
        ("windows", "processing:8"),
    ]
    assert "chunks" not in json.loads(events[0].data)
    assert json.loads(events[1].data)["progress"] == {"windows_done": 8, "windows_total": 30}
    assert seen == Cursor(Status.PROCESSING, 8)


def test_only_new_windows_are_sent_and_the_end_carries_the_whole_document():
    events, seen = next_events(Cursor(Status.PROCESSING, 8), doc("processing", 16, 30))
    assert [e.name for e in events] == ["windows"]
    assert [c["chunk_id"] for c in json.loads(events[0].data)["chunks"]] == list(range(8, 16))
    final = doc("completed", 30)
    events, seen = next_events(seen, final)
    assert [(e.name, e.cursor.id) for e in events] == [
        ("windows", "processing:30"),
        ("completed", "completed:30"),
    ]
    assert events[1].data == final and seen.finished
    assert next_events(seen, final) == ([], seen)


def test_nothing_new_sends_nothing_and_a_shorter_timeline_is_not_replayed():
    seen = Cursor(Status.PROCESSING, 16)
    # e.g. a document rebuilt from Postgres while the scorer's cache entry expired
    assert next_events(seen, doc("processing", 0)) == ([], seen)
    assert next_events(seen, doc("processing", 16, 30)) == ([], seen)


def test_failed_and_expired_end_the_stream_as_failed():
    for status in ("failed", "expired"):
        events, seen = next_events(Cursor(Status.AWAITING_UPLOAD), doc(status))
        assert [e.name for e in events] == ["failed"] and seen.finished


def test_last_event_ids_are_read_back_and_nonsense_starts_over():
    assert Cursor.parse("processing:12") == Cursor(Status.PROCESSING, 12)
    for junk in (None, "", "x:1", "processing:-3", "processing:", "completed"):
        assert Cursor.parse(junk) == Cursor()


class Reads:
    """Documents in turn; the last one repeats."""

    def __init__(self, *bodies: bytes | Exception) -> None:
        self.bodies = list(bodies)

    async def __call__(self) -> CachedAnalysis:
        body = self.bodies.pop(0) if len(self.bodies) > 1 else self.bodies[0]
        if isinstance(body, Exception):
            raise body
        return CachedAnalysis(OWNER, Status(json.loads(body)["status"]), body)


class Quiet:
    """A waiter nobody wakes (each wait times out) or that is always woken."""

    def __init__(self, woken: bool = False) -> None:
        self.woken, self.waits = woken, []

    async def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        await asyncio.sleep(0 if self.woken else timeout)
        return self.woken


def run(reads, waiter, seen=Cursor(), heartbeat=0.02, max_seconds=10.0) -> list[str]:
    async def collect() -> list[bytes]:
        stream = event_stream(reads, waiter, seen, StreamOptions(heartbeat, max_seconds))
        return [part async for part in stream]

    return b"".join(asyncio.run(collect())).decode().split("\n")


def test_a_quiet_stream_sends_heartbeats_and_ends_at_its_time_limit():
    lines = run(Reads(doc("awaiting_upload")), Quiet(), heartbeat=0.02, max_seconds=0.1)
    assert lines[0] == "retry: 2000"
    events = list(read_events(lines))
    assert [e.event for e in events if not e.comment] == ["status"]
    assert 3 <= sum(e.comment for e in events) <= 6  # ~ every 20 ms for 100 ms


def test_a_stream_follows_the_documents_until_the_end():
    reads = Reads(doc("queued"), doc("processing", 8, 16), doc("completed", 16))
    events = [e for e in read_events(run(reads, Quiet(woken=True))) if not e.comment]
    assert [(e.event, e.id) for e in events] == [
        ("status", "queued:0"),
        ("status", "processing:0"),
        ("windows", "processing:8"),
        ("windows", "processing:16"),
        ("completed", "completed:16"),
    ]


def test_an_analysis_deleted_mid_stream_ends_it():
    gone = not_found()
    events = list(read_events(run(Reads(doc("processing"), gone), Quiet(woken=True))))
    assert [e.event for e in events] == ["status"]
