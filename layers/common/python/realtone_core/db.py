"""Postgres connection pool, reused across Lambda invocations and API requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

CONNECT_TIMEOUT_SECONDS = 5
# The pool retries a lost connection with a doubling delay until it gives up; the next request
# then starts afresh. Left at psycopg_pool's 300 s, a 20-s outage meant answering 503 for up to
# 20 s more after the database was back; giving up early bounds that to a few seconds.
RECONNECT_GIVE_UP_SECONDS = 6


class Database:
    """A lazily opened pool: a module-level instance costs nothing until first used."""

    def __init__(self, url: str, max_size: int = 4) -> None:
        self.url = url
        self._max_size = max_size
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> ConnectionPool:
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=self._max_size,
                    timeout=CONNECT_TIMEOUT_SECONDS,
                    reconnect_timeout=RECONNECT_GIVE_UP_SECONDS,
                    kwargs={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
                    # A connection broken by a database restart is replaced, not handed out.
                    check=ConnectionPool.check_connection,
                    open=False,
                    name="realtone",
                )
                self._pool.open(wait=False)
            return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection inside a transaction: committed on success, rolled back on error."""
        with self._get_pool().connection() as conn:
            yield conn

    def ping(self) -> None:
        with self.connection() as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
