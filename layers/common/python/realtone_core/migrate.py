"""Apply pending migrations: ``python -m realtone_core.migrate``.

Run on deploy, not on every cold start.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources

import psycopg

# Any constant works; it keeps two deploys from migrating at the same time.
_LOCK_ID = 7_314_159


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("realtone_core.migrations")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), folder.joinpath(name).read_text()) for name in names]


def migrate(database_url: str) -> list[str]:
    """Apply what is missing, each file in its own transaction; returns the versions applied."""
    applied: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for version, sql in migration_files():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql.encode())
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                applied.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied


def main(argv: list[str] | None = None) -> int:
    from realtone_core.config import MigrationSettings

    parser = argparse.ArgumentParser(
        prog="python -m realtone_core.migrate",
        description="Apply RealTone's pending database migrations to REALTONE_DATABASE_URL.",
    )
    parser.add_argument("--database-url", help="defaults to REALTONE_DATABASE_URL")
    args = parser.parse_args(argv)
    url = args.database_url or MigrationSettings.load().database_url
    applied = migrate(url)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
