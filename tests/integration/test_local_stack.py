"""The local stack's own housekeeping: what a test run leaves in shared services."""

from __future__ import annotations

import pytest
import redis

from realtone_local.redis_server import claim_empty_database, flush_database

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
