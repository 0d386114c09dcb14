"""Load test against a running stack (`make run`, or any deployment with --api).

Phase 1: N users each register, log in, create analyses and upload short clips straight to
S3 with the presigned POST, then poll their status (ETag/304, Retry-After) until done — all
concurrently. Phase 2: an open-loop polling phase at a fixed request rate against status
reads. Phase 3 (``--ramp``): open-loop steps at rising rates, to show what one API process
holds before p99 passes ``--p99-limit-ms`` (50 ms). Afterwards it checks that every created
analysis reached a terminal state and that every upload has exactly one result (one row per
window, scored once), reading Postgres when the stack's env file is there.

    .venv/bin/python bench/load.py                      # 50 users, 500 req/s for 20 s
    .venv/bin/python bench/load.py --ramp 500,750,1000,1250,1500
    .venv/bin/python bench/load.py --users 10 --rate 100 --seconds 5

All its users sign up from one address, past the default per-client registration limit
(20 an hour): start the stack with ``REALTONE_REGISTRATIONS_PER_CLIENT=100 make run``.

Exit code 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = {"completed", "failed", "expired"}


def clip(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16_000)) / 16_000
    x = 0.3 * np.sin(2 * np.pi * (150 + 50 * rng.random()) * t) + 0.02 * rng.standard_normal(len(t))
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), 16_000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    requests: int = 0
    errors: list[str] = field(default_factory=list)

    def p99(self) -> float:
        lat = sorted(self.latencies_ms) or [0.0]
        return lat[min(len(lat) - 1, int(len(lat) * 0.99))]

    def summary(self, seconds: float) -> str:
        lat = sorted(self.latencies_ms) or [0.0]
        p99 = self.p99()
        return (
            f"{self.requests} requests in {seconds:.1f} s = {self.requests / seconds:.0f} req/s; "
            f"status reads p50 {statistics.median(lat):.1f} ms, p99 {p99:.1f} ms; "
            f"errors {len(self.errors)}"
        )


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def request(
    session: aiohttp.ClientSession,
    stats: Stats,
    method: str,
    url: str,
    *,
    timed: bool = False,
    **kwargs: Any,
) -> Reply | None:
    """One request; 5xx, 429 and transport errors count as errors."""
    started = time.perf_counter()
    stats.requests += 1
    try:
        async with session.request(method, url, **kwargs) as response:
            reply = Reply(
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                await response.read(),
            )
    except (TimeoutError, aiohttp.ClientError) as exc:
        stats.errors.append(f"{method} {url.split('?')[0]}: {type(exc).__name__}")
        return None
    if reply.status >= 500 or reply.status == 429:
        stats.errors.append(f"{method} {url.split('?')[0]}: {reply.status}")
    elif timed:
        stats.latencies_ms.append((time.perf_counter() - started) * 1000)
    return reply


async def user_session(
    session: aiohttp.ClientSession,
    api: str,
    index: int,
    clips: int,
    seconds: float,
    stats: Stats,
    created: dict[str, tuple[str, dict[str, str]]],
) -> None:
    email = f"load-{uuid.uuid4().hex[:10]}@example.com"
    creds = {"email": email, "password": "load-password"}
    await request(session, stats, "POST", f"{api}/v1/auth/register", json=creds)
    login = await request(session, stats, "POST", f"{api}/v1/auth/login", json=creds)
    if login is None or login.status != 200:
        stats.errors.append(f"login of user {index} failed")
        return
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    mine = []
    for n in range(clips):
        data = clip(seconds, seed=index * 1000 + n + int(time.time()))
        body = {"filename": f"clip-{n}.wav", "content_type": "audio/wav", "size_bytes": len(data)}
        r = await request(session, stats, "POST", f"{api}/v1/analyses", headers=headers, json=body)
        if r is None or r.status != 201:
            stats.errors.append(f"create: {r.status if r else 'no response'}")
            continue
        created_body = r.json()
        form = aiohttp.FormData()
        for key, value in created_body["upload"]["fields"].items():
            form.add_field(key, value)
        form.add_field("file", data, filename="clip.wav", content_type="audio/wav")
        sent = await request(session, stats, "POST", created_body["upload"]["url"], data=form)
        if sent is None or sent.status != 204:
            stats.errors.append(f"upload: {sent.status if sent else 'no response'}")
            continue
        ident = created_body["analysis"]["id"]
        created[ident] = (ident, headers)
        mine.append(ident)
    etags: dict[str, str] = {}
    pending = set(mine)
    deadline = time.monotonic() + 300
    while pending and time.monotonic() < deadline:
        wait = 1.0
        for ident in list(pending):
            extra = {"If-None-Match": etags[ident]} if ident in etags else {}
            r = await request(
                session,
                stats,
                "GET",
                f"{api}/v1/analyses/{ident}",
                headers={**headers, **extra},
                timed=True,
            )
            if r is None:
                continue
            wait = float(r.headers.get("retry-after", "1"))
            if r.status == 200:
                etags[ident] = r.headers["etag"]
                if r.json()["status"] in TERMINAL:
                    pending.discard(ident)
        await asyncio.sleep(wait)
    if pending:
        stats.errors.append(f"{len(pending)} analyses of user {index} not finished in time")


async def polling_phase(
    session: aiohttp.ClientSession,
    api: str,
    targets: list[tuple[str, dict[str, str]]],
    rate: float,
    seconds: float,
) -> tuple[Stats, float]:
    """Open loop: requests start on schedule whether or not earlier ones have finished."""
    stats = Stats()
    tasks = []
    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        ident, headers = targets[i % len(targets)]
        tasks.append(
            asyncio.create_task(
                request(
                    session, stats, "GET", f"{api}/v1/analyses/{ident}", headers=headers, timed=True
                )
            )
        )
    await asyncio.gather(*tasks)
    return stats, time.perf_counter() - started


def check_results(
    api_url: str, created: dict[str, tuple[str, dict[str, str]]], seconds: float, env_file: Path
) -> list[str]:
    problems = []
    expected_windows = len([s for s in np.arange(0, seconds, 4.0) if seconds - s >= 0.5])
    with httpx.Client(base_url=api_url, timeout=30) as client:
        for ident, headers in created.values():
            got = client.get(f"/v1/analyses/{ident}", headers=headers).json()
            if got["status"] not in TERMINAL:
                problems.append(f"{ident} ended {got['status']}")
            elif got["status"] == "completed" and len(got["chunks"]) != expected_windows:
                problems.append(
                    f"{ident} has {len(got['chunks'])} windows, expected {expected_windows}"
                )
    if env_file.exists() and created:
        import psycopg

        env = json.loads(env_file.read_text())
        with psycopg.connect(env["REALTONE_DATABASE_URL"]) as conn:
            rows = conn.execute(
                "SELECT a.id::text, a.status, count(c.chunk_id), count(DISTINCT c.chunk_id)"
                " FROM analyses a LEFT JOIN analysis_chunks c ON c.analysis_id = a.id"
                " WHERE a.id = ANY(%s::uuid[]) GROUP BY a.id, a.status",
                (list(created),),
            ).fetchall()
        if len(rows) != len(created):
            problems.append(f"{len(created) - len(rows)} created analyses missing from Postgres")
        for ident, status, chunks, distinct in rows:
            if status == "completed" and (chunks != expected_windows or distinct != chunks):
                problems.append(f"{ident}: {chunks} chunk rows ({distinct} distinct) in Postgres")
        print(f"Postgres: {len(rows)} analyses checked, one result each", flush=True)
    return problems


async def main_async(args: argparse.Namespace) -> int:
    api = args.api.rstrip("/")
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=args.connections)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        stats = Stats()
        health = await request(session, stats, "GET", f"{api}/health")
        print(f"target {api}: health {health.json().get('status') if health else 'unreachable'}")
        created: dict[str, tuple[str, dict[str, str]]] = {}
        started = time.perf_counter()
        await asyncio.gather(
            *(
                user_session(session, api, i, args.clips, args.clip_seconds, stats, created)
                for i in range(args.users)
            )
        )
        took = time.perf_counter() - started
        print(
            f"phase 1: {args.users} users, {len(created)} uploads scored; {stats.summary(took)}",
            flush=True,
        )
        targets = list(created.values())
        if not targets:
            print("nothing was created; cannot run the polling phase")
            return 1
        poll_stats, poll_took = await polling_phase(session, api, targets, args.rate, args.seconds)
        print(f"phase 2: target {args.rate:.0f} req/s; {poll_stats.summary(poll_took)}", flush=True)
        held = 0.0
        for rate in [float(r) for r in args.ramp.split(",") if r.strip()]:
            step, step_took = await polling_phase(session, api, targets, rate, args.step_seconds)
            print(f"phase 3: target {rate:.0f} req/s; {step.summary(step_took)}", flush=True)
            if step.errors or step.p99() > args.p99_limit_ms:
                break
            held = step.requests / step_took
        if args.ramp:
            print(
                f"capacity: one API process held {held:.0f} req/s"
                f" with p99 <= {args.p99_limit_ms:g} ms"
            )
    problems = check_results(api, created, args.clip_seconds, Path(args.env_file))
    errors = stats.errors + poll_stats.errors
    for line in (problems + errors)[:20]:
        print("  problem:", line)
    ok = not problems and not errors
    print(f"checks: {'all analyses terminal, one result each, no errors' if ok else 'FAILED'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--clips", type=int, default=2, help="uploads per user")
    parser.add_argument("--clip-seconds", type=float, default=5.0)
    parser.add_argument(
        "--rate", type=float, default=500.0, help="status reads per second in phase 2"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="length of phase 2")
    parser.add_argument("--connections", type=int, default=200, help="client connection pool")
    parser.add_argument(
        "--ramp", default="", help="phase 3: comma-separated rates (req/s), e.g. 500,750,1000"
    )
    parser.add_argument("--step-seconds", type=float, default=8.0, help="length of a ramp step")
    parser.add_argument("--p99-limit-ms", type=float, default=50.0, help="where the ramp stops")
    parser.add_argument(
        "--env-file",
        default=str(ROOT / ".local" / "stack-env.json"),
        help="the running stack's settings (written by `make run`), to check Postgres directly",
    )
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
