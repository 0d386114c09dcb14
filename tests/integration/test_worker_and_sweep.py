"""The long-polling worker and the sweep against the real queue, DLQ, Postgres and S3."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from realtone_core.models import Status
from realtone_core.sweep import run_sweep
from realtone_scorer.runtime import get_runtime
from realtone_scorer.worker import Worker
from tests.audio import wav_bytes
from tests.integration.conftest import upload_via_post

pytestmark = pytest.mark.integration


def create(client, headers, data=None, filename="clip.wav"):
    # Fresh bytes each time, so no upload reuses an earlier identical one's result.
    data = data if data is not None else wav_bytes(2.0, seed=uuid.uuid4().int % 2**32)
    body = client.post(
        "/v1/analyses",
        headers=headers,
        json={"filename": filename, "content_type": "audio/wav", "size_bytes": len(data)},
    ).json()
    return body, data


def upload(client, headers, data=None):
    body, data = create(client, headers, data)
    assert upload_via_post(body["upload"], data, "audio/wav").status_code == 204
    return body["analysis"]["id"]


@pytest.fixture
def worker(services, scorer_ready):
    return Worker(
        get_runtime().settings,
        batch_size=10,
        wait_seconds=1,
        visibility_seconds=2,
        sweep_every_seconds=3600,
    )


@pytest.fixture(scope="module")
def scorer_ready(stack):
    from realtone_scorer.handler import lambda_handler
    from realtone_scorer.runtime import get_scorer

    get_scorer()
    return lambda_handler


def queue_arn(services):
    attrs = services.sqs.get_queue_attributes(
        QueueUrl=services.settings.queue_url, AttributeNames=["QueueArn"]
    )
    return attrs["Attributes"]["QueueArn"]


def test_worker_scores_and_deletes(client, new_user, queue, worker, scorer_ready, services):
    headers = new_user()
    ident = upload(client, headers)
    deadline = time.monotonic() + 10
    while services.analyses.get(uuid.UUID(ident)).status != Status.COMPLETED:
        assert time.monotonic() < deadline
        worker.poll_once(scorer_ready, queue_arn(services))
    # Nothing is left behind on the queue.
    leftover = services.sqs.receive_message(QueueUrl=queue.url, WaitTimeSeconds=1).get(
        "Messages", []
    )
    assert leftover == []


def test_heartbeat_hides_a_long_message_from_other_workers(
    client, new_user, queue, worker, services
):
    headers = new_user()
    ident = upload(client, headers)
    seen_elsewhere: list[str] = []

    def slow_handler(event, context):
        # 3 x the 2-s visibility: without the heartbeat the message would reappear.
        end = time.monotonic() + 6
        while time.monotonic() < end:
            got = services.sqs.receive_message(QueueUrl=queue.url, WaitTimeSeconds=1).get(
                "Messages", []
            )
            seen_elsewhere.extend(m["MessageId"] for m in got)
        return {"batchItemFailures": []}

    assert worker.poll_once(slow_handler, queue_arn(services)) == 1
    assert seen_elsewhere == []
    time.sleep(2.5)
    assert (
        services.sqs.receive_message(QueueUrl=queue.url, WaitTimeSeconds=1).get("Messages", [])
        == []
    )
    assert ident


def test_sigterm_while_busy_finishes_the_message_first(client, new_user, queue, worker, services):
    import signal

    headers = new_user()
    upload(client, headers)
    finished = threading.Event()

    def handler(event, context):
        worker.handle_signal(signal.SIGTERM, None)  # arrives mid-message: no exit yet
        time.sleep(0.5)
        finished.set()
        return {"batchItemFailures": []}

    assert worker.poll_once(handler, queue_arn(services)) == 1
    assert finished.is_set() and worker.stop.is_set()
    assert (
        services.sqs.receive_message(QueueUrl=queue.url, WaitTimeSeconds=1).get("Messages", [])
        == []
    )
    # Idle, a signal exits at once.
    with pytest.raises(SystemExit):
        worker.handle_signal(signal.SIGTERM, None)


def test_a_message_that_keeps_failing_reaches_the_dlq_and_fails_the_analysis(
    client, new_user, queue, worker, scorer_ready, services, monkeypatch, stack
):
    from realtone_scorer.runtime import get_scorer

    def broken(windows):
        raise RuntimeError("simulated model failure")

    monkeypatch.setattr(get_scorer().detector, "score", broken)
    dlq_url = stack.outputs["ScoreDeadLetterQueueUrl"]
    headers = new_user()
    ident = upload(client, headers)
    arn = queue_arn(services)
    deadline = time.monotonic() + 40
    moved = []
    while time.monotonic() < deadline and not moved:
        worker.poll_once(scorer_ready, arn)
        moved = services.sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=0).get(
            "Messages", []
        )
        time.sleep(0.5)
    assert moved, "the message never reached the DLQ"
    assert ident in moved[0]["Body"]
    record = services.analyses.get(uuid.UUID(ident))
    assert record.status == Status.FAILED and record.error_code == "internal_error"
    got = client.get(f"/v1/analyses/{ident}", headers=headers).json()
    assert got["error"]["code"] == "internal_error"


def _age(services, ident, **columns):
    assignments = ", ".join(f"{k} = %s" for k in columns)
    with services.db.connection() as conn:
        conn.execute(f"UPDATE analyses SET {assignments} WHERE id = %s", (*columns.values(), ident))


def test_sweep_expires_requeues_and_fails(client, new_user, queue, services):
    headers = new_user()
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    # 1: the upload window closed with no upload.
    never, _ = create(client, headers)
    _age(services, never["analysis"]["id"], upload_expires_at=long_ago)
    # 2: the upload arrived but its S3 event was lost.
    lost, data = create(client, headers)
    assert upload_via_post(lost["upload"], data, "audio/wav").status_code == 204
    queue.drain()
    _age(services, lost["analysis"]["id"], upload_expires_at=long_ago)
    # 3: a scorer died while processing (lease ran out), one attempt used.
    died = upload(client, headers)
    queue.drain()
    _age(services, died, status="processing", claimed_at=long_ago, attempts=1)
    # 4: the same, but out of attempts.
    spent = upload(client, headers)
    queue.drain()
    _age(services, spent, status="processing", claimed_at=long_ago, attempts=3)

    report = run_sweep(services, services.settings.queue_url)

    assert report.expired == [never["analysis"]["id"]]
    assert set(report.requeued) == {lost["analysis"]["id"], died}
    assert report.failed == [spent]
    get = lambda i: client.get(f"/v1/analyses/{i}", headers=headers).json()  # noqa: E731
    assert get(never["analysis"]["id"])["status"] == "expired"
    assert get(lost["analysis"]["id"])["status"] == "queued"
    assert get(spent)["error"]["code"] == "internal_error"
    bodies = [m["Body"] for m in queue.wait_for_key("uploads/", timeout=5)]
    assert any(lost["analysis"]["id"] in b for b in bodies) and any(died in b for b in bodies)
    # A second sweep right away sends nothing new.
    again = run_sweep(services, services.settings.queue_url)
    assert (again.expired, again.requeued, again.failed) == ([], [], [])
    queue.drain()


def test_requeued_analyses_complete(client, new_user, queue, worker, scorer_ready, services):
    headers = new_user()
    died = upload(client, headers)
    queue.drain()
    _age(
        services,
        died,
        status="processing",
        claimed_at=datetime.now(UTC) - timedelta(hours=1),
        attempts=1,
    )
    assert run_sweep(services, services.settings.queue_url).requeued == [died]
    deadline = time.monotonic() + 15
    while services.analyses.get(uuid.UUID(died)).status != Status.COMPLETED:
        assert time.monotonic() < deadline, services.analyses.get(uuid.UUID(died))
        worker.poll_once(scorer_ready, queue_arn(services))


def test_windows_of_several_messages_share_forward_passes(
    client, new_user, queue, services, scorer_ready, monkeypatch
):
    import realtone_scorer.handler as handler_module
    from realtone_scorer.pooling import PooledDetector
    from realtone_scorer.runtime import get_scorer

    base = get_scorer()
    pool = PooledDetector(base.detector, max_windows=64)
    pooled = replace(base, detector=pool)
    monkeypatch.setattr(handler_module, "get_scorer", lambda: pooled)
    headers = new_user()
    idents = [
        upload(client, headers, wav_bytes(9.0, seed=uuid.uuid4().int % 2**32)) for _ in range(4)
    ]
    time.sleep(1)  # let all four notifications reach the queue
    w = Worker(
        get_runtime().settings,
        batch_size=10,
        wait_seconds=1,
        visibility_seconds=30,
        sweep_every_seconds=3600,
    )
    deadline = time.monotonic() + 30
    while any(services.analyses.get(uuid.UUID(i)).status != Status.COMPLETED for i in idents):
        assert time.monotonic() < deadline
        w.poll_once(scorer_ready, queue_arn(services))
    for i in idents:
        assert len(services.analyses.chunks(uuid.UUID(i))) == 3
    assert pool.passes < 4  # 12 windows of 4 uploads in fewer passes than uploads
