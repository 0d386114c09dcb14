"""Event streams through one API process, against a running stack (`make run`).

Opens ``--streams`` event streams (``GET /v1/analyses/{id}/events``) on ``--analyses``
analyses of one user, then writes progress documents for those analyses into the status
cache exactly as the scorer does (``StatusCache.put``: set + pub/sub announcement), one
window more each time, at ``--rate`` writes per second for ``--seconds``. Every stream gets
the new windows of its analysis after each write (several writes that land before a stream
reads are one event). Prints the events delivered per second through the one API process
and the latency from each write to the client seeing it, next to the baseline measured in
the same run:
``--pollers`` clients polling ``GET /v1/analyses/{id}`` as the API tells them (ETag,
``Retry-After``: 1 s) and when they first see each write.

    .venv/bin/python bench/events.py                       # 200 streams, 100 writes/s, 20 s
    .venv/bin/python bench/events.py --streams 500 --rate 200

The last line: ``events_per_second=… p50_ms=… p99_ms=… poll_p50_ms=… poll_p99_ms=…``.
Exit code 1 when an event was lost (a stream saw fewer windows than were written).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common" / "python")]

from realtone_core.cache import StatusCache  # noqa: E402
from realtone_core.models import Analysis, Chunk, Progress, Status  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def sign_up(http: aiohttp.ClientSession, api: str) -> dict[str, str]:
    credentials = {
        "email": f"events-{uuid.uuid4().hex[:8]}@example.com",
        "password": "bench-pass-1",
    }
    async with http.post(f"{api}/v1/auth/register", json=credentials) as r:
        assert r.status == 201, await r.text()
    async with http.post(f"{api}/v1/auth/login", json=credentials) as r:
        token = (await r.json())["access_token"]
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Seen:
    """What the clients of one kind saw: latencies from a write to seeing it, events, windows."""

    latencies: list[float] = field(default_factory=list)
    events: int = 0
    windows: int = 0


async def follow(
    http: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    written: dict[tuple[str, int], float],
    seen: Seen,
    ident: str,
    opened: asyncio.Event,
) -> None:
    async with http.get(url, headers=headers) as r:
        assert r.status == 200, await r.text()
        event = ""
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
                opened.set()
            elif line.startswith("data: ") and event == "windows":
                data = json.loads(line[6:])
                done = data["progress"]["windows_done"]
                now = time.perf_counter()
                first = data["chunks"][0]["chunk_id"] + 1
                seen.latencies += [
                    (now - written[(ident, k)]) * 1000 for k in range(first, done + 1)
                ]
                seen.events += 1
                seen.windows += len(data["chunks"])
                if done >= data["progress"]["windows_total"]:
                    return


async def poll(
    http: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    written: dict[tuple[str, int], float],
    seen: Seen,
    ident: str,
    total: int,
) -> None:
    """The baseline: a client polling as the API tells it (ETag, Retry-After)."""
    etag, last = None, 0
    while last < total:
        extra = {"If-None-Match": etag} if etag else {}
        async with http.get(url, headers={**headers, **extra}) as r:
            seen.events += 1
            if r.status == 200:
                etag = r.headers.get("ETag")
                body = await r.json()
                done = (body.get("progress") or {}).get("windows_done", 0)
                if done > last and (ident, done) in written:
                    now = time.perf_counter()
                    seen.latencies += [
                        (now - written[(ident, k)]) * 1000 for k in range(last + 1, done + 1)
                    ]
                    seen.windows += done - last
                    last = done
            wait = float(r.headers.get("Retry-After", "1"))
        await asyncio.sleep(wait)


def document(ident: str, done: int, total: int) -> Analysis:
    now = datetime.now(UTC)
    chunks = [
        Chunk(
            chunk_id=i,
            start_time_seconds=4.0 * i,
            end_time_seconds=4.0 * i + 4,
            score=0.1,
            voiced=True,
        )
        for i in range(done)
    ]
    return Analysis(
        id=uuid.UUID(ident),
        status=Status.PROCESSING,
        filename="bench.wav",
        content_type="audio/wav",
        size_bytes=1,
        created_at=now,
        updated_at=now,
        chunks=chunks,
        progress=Progress(windows_done=done, windows_total=total),
    )


async def main(args: argparse.Namespace) -> int:
    env = json.loads(Path(args.env_file).read_text())
    cache = StatusCache(env["REALTONE_REDIS_URL"], 300, 300)
    api = args.api.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        headers = await sign_up(http, api)
        async with http.get(f"{api}/v1/auth/me", headers=headers) as r:
            owner = uuid.UUID((await r.json())["id"])
        idents = []
        for _ in range(args.analyses):
            body = {"filename": "bench.wav", "content_type": "audio/wav", "size_bytes": 1000}
            async with http.post(f"{api}/v1/analyses", headers=headers, json=body) as r:
                idents.append((await r.json())["analysis"]["id"])
        writes_each = int(args.rate * args.seconds / len(idents))
        # As the scorer does before it publishes windows: the analyses are processing, in
        # Postgres and in the cache (nothing is uploaded; no scorer touches them).
        with psycopg.connect(env["REALTONE_DATABASE_URL"], autocommit=True) as db:
            db.execute(
                "UPDATE analyses SET status = 'processing' WHERE id = ANY(%s)",
                ([uuid.UUID(i) for i in idents],),
            )
        for ident in idents:
            cache.put(owner, document(ident, 0, writes_each))
        written: dict[tuple[str, int], float] = {}
        streamed, polled = Seen(), Seen()
        opened = [asyncio.Event() for _ in range(args.streams)]
        readers = [
            asyncio.create_task(
                follow(
                    http,
                    f"{api}/v1/analyses/{idents[i % len(idents)]}/events",
                    headers,
                    written,
                    streamed,
                    idents[i % len(idents)],
                    opened[i],
                )
            )
            for i in range(args.streams)
        ]
        await asyncio.wait_for(asyncio.gather(*(o.wait() for o in opened)), 60)
        pollers = [
            asyncio.create_task(
                poll(
                    http,
                    f"{api}/v1/analyses/{idents[i % len(idents)]}",
                    headers,
                    written,
                    polled,
                    idents[i % len(idents)],
                    writes_each,
                )
            )
            for i in range(args.pollers)
        ]
        print(f"{args.streams} streams and {args.pollers} pollers on {len(idents)} analyses")
        # Writes, round robin over the analyses, at the rate asked for.
        interval = 1.0 / args.rate
        started = time.perf_counter()
        n = 0
        for step in range(1, writes_each + 1):
            for ident in idents:
                await asyncio.sleep(max(0.0, started + n * interval - time.perf_counter()))
                written[(ident, step)] = time.perf_counter()
                cache.put(owner, document(ident, step, writes_each))
                n += 1
        await asyncio.wait_for(asyncio.gather(*readers, *pollers), 60)
        elapsed = time.perf_counter() - started
        for ident in idents:
            async with http.delete(f"{api}/v1/analyses/{ident}", headers=headers):
                pass
    expected = args.streams * writes_each
    print(
        f"{n} writes in {elapsed:.1f} s; streams: {streamed.events} events carrying"
        f" {streamed.windows}/{expected} windows; pollers: {polled.events} requests"
    )
    print(
        f"events_per_second={streamed.events / elapsed:.0f}"
        f" windows_per_second={streamed.windows / elapsed:.0f}"
        f" p50_ms={percentile(streamed.latencies, 0.5):.1f}"
        f" p99_ms={percentile(streamed.latencies, 0.99):.1f}"
        f" poll_p50_ms={percentile(polled.latencies, 0.5):.0f}"
        f" poll_p99_ms={percentile(polled.latencies, 0.99):.0f}"
    )
    return 0 if streamed.windows >= expected else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--analyses", type=int, default=20)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--pollers", type=int, default=50, help="polling clients (baseline)")
    parser.add_argument("--rate", type=float, default=100.0, help="cache writes per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--env-file", default=str(ROOT / ".local" / "stack-env.json"))
    sys.exit(asyncio.run(main(parser.parse_args())))
