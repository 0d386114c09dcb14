"""Signed webhooks against the real services: Postgres (deliveries made by the trigger),
LocalStack SQS (the webhook queue, with visibility as the retry delay), the scorer handler
finishing analyses, the webhook handler driven by the local worker as ``make run`` runs it,
and a real HTTP receiver on loopback (allowed with REALTONE_ENV=dev only)."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from realtone_core.config import WebhookSettings
from realtone_core.models import Status
from realtone_core.sweep import run_sweep
from realtone_core.webhooks import (
    Done,
    Target,
    UrlPolicy,
    WebhookSender,
    WebhookStore,
    post,
    verify_signature,
)
from realtone_local.stack import REGION
from realtone_local.webhooks import WebhookWorker
from realtone_scorer.worker import LocalLambdaContext, to_lambda_event
from tests.audio import JUNK, wav_bytes
from tests.integration.conftest import QueueProbe, upload_via_post

pytestmark = pytest.mark.integration

QUEUE_ARN = f"arn:aws:sqs:{REGION}:000000000000:q"


@dataclass
class Hit:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on loopback that records every request and answers ``status``."""

    status: Callable[[int], int] = lambda n: 200
    delay: float = 0.0
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.hits.append(
                    Hit(time.monotonic(), self.path, dict(self.headers.items()), body)
                )
                time.sleep(receiver.delay)
                code = receiver.status(len(receiver.hits))
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                # The sender may have given up waiting (the timeout test).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(b"ok" if code < 300 else b"receiver says no " * 100)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/realtone"

    def wait_for(self, count: int, timeout: float = 30) -> list[Hit]:
        deadline = time.monotonic() + timeout
        while len(self.hits) < count:
            assert time.monotonic() < deadline, f"{len(self.hits)} of {count} requests came"
            time.sleep(0.02)
        return self.hits


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(**kwargs: Any) -> Receiver:
        started.append(Receiver(**kwargs))
        return started[-1]

    yield start
    for r in started:
        r.server.shutdown()
        r.server.server_close()


@pytest.fixture
def deliverer(stack, services, monkeypatch) -> Iterator[Callable[..., Any]]:
    """Starts the local webhook worker (a thread) over the real handler, with a schedule of
    seconds; returns its runtime."""
    from realtone_api import webhook_handler

    workers: list[tuple[WebhookWorker, threading.Thread]] = []

    def start(
        delays: tuple[int, ...] = (1, 1, 1, 1, 1),
        allow_loopback: bool = True,
        timeout: float = 2.0,
    ) -> Any:
        settings = WebhookSettings.load().model_copy(
            update={
                "webhook_retry_delays": list(delays),
                "webhook_retry_jitter": 0.0,
                "webhook_allow_loopback": allow_loopback,
                "webhook_timeout_seconds": timeout,
            }
        )
        runtime = webhook_handler.WebhookRuntime.from_settings(settings)
        monkeypatch.setattr(webhook_handler, "get_runtime", lambda: runtime)
        worker = WebhookWorker(
            services.sqs, settings.webhook_queue_url, REGION, webhook_handler.handler, 1
        )
        _drain(services.sqs, settings.webhook_queue_url)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        workers.append((worker, thread))
        return runtime

    yield start
    for worker, thread in workers:
        worker.stop.set()
        thread.join(10)


def _drain(sqs: Any, url: str) -> None:
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for m in msgs:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def create(client, headers, data: bytes, name: str, callback_url: str | None = None) -> dict:
    body: dict[str, Any] = {"filename": name, "content_type": "audio/wav", "size_bytes": len(data)}
    if callback_url is not None:
        body["callback_url"] = callback_url
    created = client.post("/v1/analyses", headers=headers, json=body)
    assert created.status_code == 201, created.text
    assert upload_via_post(created.json()["upload"], data, "audio/wav").status_code == 204
    return created.json()


def score(queue: QueueProbe, ident: str) -> float:
    """Run the scorer handler on the upload's message; returns when it finished."""
    from realtone_scorer.handler import lambda_handler

    messages = queue.wait_for_key(ident)
    lambda_handler(to_lambda_event(messages, QUEUE_ARN, REGION), LocalLambdaContext())
    finished = time.monotonic()
    for m in messages:
        queue.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"])
    return finished


def deliveries(client, headers, ident: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/analyses/{ident}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def wait_settled(client, headers, ident: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        items = deliveries(client, headers, ident)
        if items and items[0]["status"] != "pending":
            return items[0]
        assert time.monotonic() < deadline, items
        time.sleep(0.1)


def test_completed_analysis_is_delivered_signed_with_the_full_document(
    client, new_user, queue, receiver, deliverer
):
    deliverer()
    hook = receiver()
    headers = new_user()
    created = create(client, headers, wav_bytes(9.0, seed=3), "hook.wav", hook.url)
    secret = created["webhook_secret"]
    assert secret.startswith("whsec_")
    ident = created["analysis"]["id"]
    # The secret is shown once: the account says when it was made, never what it is.
    account = client.get("/v1/account", headers=headers).json()
    assert account["webhook_secret"] is None and account["webhook_secret_created_at"]
    assert account["webhook_url"] is None  # a callback_url is not the account's default
    finished = score(queue, ident)
    (hit,) = hook.wait_for(1)
    latency = hit.at - finished
    print(f"\nwebhook latency (scorer finished -> receiver got it): {latency * 1000:.0f} ms")
    assert hit.path == "/hooks/realtone"
    assert hit.headers["RealTone-Event"] == "analysis.completed"
    assert hit.headers["Content-Type"] == "application/json"
    assert verify_signature(secret, hit.headers["RealTone-Signature"], hit.body)
    assert not verify_signature("whsec_wrong", hit.headers["RealTone-Signature"], hit.body)
    document = json.loads(hit.body)
    assert document == client.get(f"/v1/analyses/{ident}", headers=headers).json()
    assert document["status"] == "completed" and len(document["chunks"]) == 3
    assert document["summary"]["verdict"] in {"fake", "likely_fake", "real", "inconclusive"}
    (delivery,) = [wait_settled(client, headers, ident)]
    assert delivery["id"] == hit.headers["RealTone-Delivery"]
    assert (delivery["event"], delivery["url"], delivery["status"]) == (
        "analysis.completed",
        hook.url,
        "succeeded",
    )
    (attempt,) = delivery["attempts"]
    assert attempt["attempt"] == 1 and attempt["status_code"] == 200
    assert attempt["error"] is None and attempt["next_retry_at"] is None
    assert attempt["duration_ms"] >= 0 and attempt["response_excerpt"] == "ok"
    # Only the owner sees the log.
    stranger = new_user()
    gone = client.get(f"/v1/analyses/{ident}/deliveries", headers=stranger)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert client.get("/v1/analyses/nope/deliveries", headers=headers).status_code == 404


def test_failing_receiver_is_retried_on_schedule_then_recorded_failed(
    client, new_user, queue, receiver, deliverer
):
    delays = (1, 2, 1, 2, 1)  # seconds, like the production minutes
    deliverer(delays=delays)
    hook = receiver(status=lambda n: 500)
    headers = new_user()
    created = create(client, headers, JUNK, "junk.wav", hook.url)
    ident = created["analysis"]["id"]
    score(queue, ident)  # not audio: the analysis fails
    hits = hook.wait_for(6, timeout=60)
    delivery = wait_settled(client, headers, ident)
    gaps = [b.at - a.at for a, b in itertools.pairwise(hits)]
    print(f"\nretry gaps observed for delays {delays}: {[round(g, 2) for g in gaps]} s")
    for gap, delay in zip(gaps, delays, strict=True):
        # Visibility hides the message for the delay; the worker's 1-s long poll adds to it.
        assert delay - 0.1 <= gap <= delay + 2.5, gaps
    time.sleep(2.5)
    assert len(hook.hits) == 6  # no seventh try
    ids = {h.headers["RealTone-Delivery"] for h in hits}
    assert ids == {delivery["id"]}
    assert {h.headers["RealTone-Event"] for h in hits} == {"analysis.failed"}
    document = json.loads(hits[0].body)
    assert document["status"] == "failed" and document["error"]["code"] == "corrupt_audio"
    assert delivery["status"] == "failed" and delivery["next_attempt_at"] is None
    attempts = delivery["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4, 5, 6]
    assert {a["status_code"] for a in attempts} == {500}
    assert all(len(a["response_excerpt"]) <= 300 for a in attempts)
    assert all(a["next_retry_at"] for a in attempts[:-1]) and attempts[-1]["next_retry_at"] is None
    for a, delay in zip(attempts, delays, strict=False):
        wait = datetime.fromisoformat(a["next_retry_at"]) - datetime.fromisoformat(a["started_at"])
        assert timedelta(seconds=delay) <= wait <= timedelta(seconds=delay + 1)


def test_account_default_endpoint_and_secret_rotation(client, new_user, queue, receiver, deliverer):
    deliverer()
    hook = receiver()
    headers = new_user()
    account = client.get("/v1/account", headers=headers).json()
    assert {k: account[k] for k in ("webhook_url", "webhook_secret_created_at")} == {
        "webhook_url": None,
        "webhook_secret_created_at": None,
    }
    assert account["webhook_secret"] is None
    patched = client.patch("/v1/account", headers=headers, json={"webhook_url": hook.url})
    assert patched.status_code == 200, patched.text
    first_secret = patched.json()["webhook_secret"]
    assert patched.json()["webhook_url"] == hook.url and first_secret.startswith("whsec_")
    # Set again: the secret exists already, so it is not shown.
    again = client.patch("/v1/account", headers=headers, json={"webhook_url": hook.url})
    assert again.json()["webhook_secret"] is None
    # An analysis without callback_url goes to the account's endpoint.
    one = create(client, headers, wav_bytes(5.0, seed=4), "one.wav")
    assert one["webhook_secret"] is None
    score(queue, one["analysis"]["id"])
    (first,) = hook.wait_for(1)
    assert json.loads(first.body)["id"] == one["analysis"]["id"]
    assert verify_signature(first_secret, first.headers["RealTone-Signature"], first.body)
    # Rotation: the new secret is shown once and signs from now on; the old one no longer.
    rotated = client.post("/v1/account/webhook-secret", headers=headers)
    assert rotated.status_code == 201
    new_secret = rotated.json()["webhook_secret"]
    assert new_secret != first_secret
    two = create(client, headers, wav_bytes(5.0, seed=5), "two.wav")
    score(queue, two["analysis"]["id"])
    second = hook.wait_for(2)[1]
    assert verify_signature(new_secret, second.headers["RealTone-Signature"], second.body)
    assert not verify_signature(first_secret, second.headers["RealTone-Signature"], second.body)
    # Cleared: later analyses send nothing.
    cleared = client.patch("/v1/account", headers=headers, json={"webhook_url": None})
    assert cleared.json()["webhook_url"] is None
    three = create(client, headers, wav_bytes(5.0, seed=6), "three.wav")
    score(queue, three["analysis"]["id"])
    assert deliveries(client, headers, three["analysis"]["id"]) == []


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://10.0.0.1/hook", "unsafe_webhook_url"),
        ("https://169.254.169.254/latest/meta-data/", "unsafe_webhook_url"),
        ("http://[::ffff:192.168.0.1]/", "unsafe_webhook_url"),
        ("http://0x0a000001/", "unsafe_webhook_url"),
        ("ftp://127.0.0.1/", "invalid_webhook_url"),
        ("http://user:pass@127.0.0.1:9/", "invalid_webhook_url"),
        ("https://no-such-host.invalid/", "invalid_webhook_url"),
    ],
)
def test_unsafe_urls_are_refused_when_set(client, new_user, services, url, code):
    headers = new_user()
    body = {"filename": "a.wav", "content_type": "audio/wav", "size_bytes": 10, "callback_url": url}
    refused = client.post("/v1/analyses", headers=headers, json=body)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == code, refused.text
    # Nothing was created, and no secret was made for a refused target.
    assert client.get("/v1/analyses", headers=headers).json()["items"] == []
    patched = client.patch("/v1/account", headers=headers, json={"webhook_url": url})
    assert patched.status_code == 422 and patched.json()["error"]["code"] == code
    assert client.get("/v1/account", headers=headers).json()["webhook_secret_created_at"] is None


def test_the_address_is_checked_again_at_delivery_time(
    client, new_user, queue, receiver, deliverer
):
    # Accepted while loopback was allowed; by delivery time it is not (as if the name now
    # resolved to loopback): the try is refused and never reaches the receiver.
    deliverer(delays=(1,), allow_loopback=False)
    hook = receiver()
    headers = new_user()
    created = create(client, headers, wav_bytes(5.0, seed=7), "late.wav", hook.url)
    score(queue, created["analysis"]["id"])
    delivery = wait_settled(client, headers, created["analysis"]["id"])
    assert delivery["status"] == "failed" and hook.hits == []
    assert [a["error"][:8] for a in delivery["attempts"]] == ["refused:", "refused:"]
    assert "loopback address (127.0.0.1)" in delivery["attempts"][0]["error"]


def test_the_request_goes_to_the_checked_address_with_the_host_name_kept(receiver):
    hook = receiver()
    port = hook.server.server_port
    target = Target(url="", scheme="http", host="hooks.example.com", port=port, path="/p?q=1")
    result = post(target, "127.0.0.1", b"{}", {"Content-Type": "application/json"}, 2.0)
    assert result.ok and result.status_code == 200
    (hit,) = hook.hits
    assert hit.headers["Host"] == f"hooks.example.com:{port}" and hit.path == "/p?q=1"


def ended_with_callback(client, headers, services, url: str) -> uuid.UUID:
    """An analysis with ``callback_url`` that has ended (failed): its delivery exists."""
    body = {"filename": "x.wav", "content_type": "audio/wav", "size_bytes": 100}
    created = client.post("/v1/analyses", headers=headers, json={**body, "callback_url": url})
    ident = uuid.UUID(created.json()["analysis"]["id"])
    services.analyses.fail(ident, "internal_error", "test")
    return ident


def test_the_next_address_is_tried_when_one_takes_no_connection(
    client, new_user, services, receiver
):
    hook = receiver()
    headers = new_user()
    ident = ended_with_callback(client, headers, services, hook.url)
    store = WebhookStore(services.db)
    (delivery,) = store.for_analysis(ident)
    # The name resolves to two loopback addresses; nothing listens on the first.
    sender = WebhookSender(
        store,
        services.analyses,
        UrlPolicy(require_https=False, allow_loopback=True),
        resolver=lambda host, port: ["127.0.0.2", "127.0.0.1"],
    )
    assert sender.attempt(delivery.id) == Done("succeeded")
    assert len(hook.hits) == 1
    (logged,) = store.for_analysis(ident)
    assert logged.status == "succeeded" and logged.attempts[0].status_code == 200


def test_redirects_are_not_followed_and_slow_receivers_time_out(receiver):
    moved = receiver(status=lambda n: 302)
    target = Target(
        url="", scheme="http", host="127.0.0.1", port=moved.server.server_port, path="/"
    )
    result = post(target, "127.0.0.1", b"{}", {}, 2.0)
    assert not result.ok and result.status_code == 302
    assert "not followed" in (result.error or "") and len(moved.hits) == 1
    closed = Target(
        url="", scheme="http", host="127.0.0.2", port=moved.server.server_port, path="/"
    )
    refused = post(closed, "127.0.0.2", b"{}", {}, 2.0)
    assert not refused.connected and refused.error.startswith("connecting to 127.0.0.2:")
    slow = receiver(delay=1.5)
    target = Target(url="", scheme="http", host="127.0.0.1", port=slow.server.server_port, path="/")
    started = time.monotonic()
    result = post(target, "127.0.0.1", b"{}", {}, 0.5)
    assert result.status_code is None and result.error == "timed out after 0.5 s"
    assert time.monotonic() - started < 1.4


def test_an_expired_upload_is_announced_by_the_sweep(client, new_user, services, receiver):
    hook = receiver()
    headers = new_user()
    body = {"filename": "never.wav", "content_type": "audio/wav", "size_bytes": 100}
    created = client.post("/v1/analyses", headers=headers, json={**body, "callback_url": hook.url})
    ident = uuid.UUID(created.json()["analysis"]["id"])
    with services.db.connection() as conn:
        conn.execute(
            "UPDATE analyses SET upload_expires_at = now() - interval '10 minutes' WHERE id = %s",
            (ident,),
        )
    report = run_sweep(services, services.settings.queue_url)
    assert str(ident) in report.expired
    assert services.analyses.get(ident).status == Status.EXPIRED
    (delivery,) = deliveries(client, headers, str(ident))
    assert delivery["event"] == "analysis.failed" and delivery["id"] in report.webhooks_queued
    # Sent once: a second sweep finds nothing left to queue.
    assert delivery["id"] not in run_sweep(services, services.settings.queue_url).webhooks_queued


def test_deleting_the_analysis_deletes_its_deliveries(client, new_user, services, receiver):
    hook = receiver()
    headers = new_user()
    ident = ended_with_callback(client, headers, services, hook.url)
    store = WebhookStore(services.db)
    (delivery,) = store.for_analysis(ident)
    assert client.delete(f"/v1/analyses/{ident}", headers=headers).status_code == 204
    assert store.get(delivery.id) is None


def test_one_patch_sets_retention_and_the_webhook_endpoint(client, new_user, receiver, services):
    headers = new_user()
    hook = receiver()
    body = {"retention_days": "zero", "webhook_url": hook.url}
    patched = client.patch("/v1/account", headers=headers, json=body)
    assert patched.status_code == 200, patched.text
    account = client.get("/v1/account", headers=headers).json()
    assert (account["retention_days"], account["webhook_url"]) == ("zero", hook.url)
    # A refused URL changes nothing, retention included.
    refused = client.patch(
        "/v1/account",
        headers=headers,
        json={"retention_days": 7, "webhook_url": "http://169.254.169.254/latest"},
    )
    assert refused.status_code == 422
    assert client.get("/v1/account", headers=headers).json()["retention_days"] == "zero"
    # Deleting the account deletes its webhook settings and secret with it.
    user_id = client.get("/v1/auth/me", headers=headers).json()["id"]
    assert client.delete("/v1/account", headers=headers).status_code == 204
    with services.db.connection() as conn:
        left = conn.execute(
            "SELECT count(*) FROM account_webhooks WHERE user_id = %s", (user_id,)
        ).fetchone()
    assert left == (0,)
