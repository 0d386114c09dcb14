"""Webhooks on the running stack as `make run` starts it: the scorer worker finishes an
analysis, the webhook worker process delivers it, signed, to a receiver on loopback."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from realtone_core.webhooks import verify_signature
from tests.audio import wav_bytes

pytestmark = pytest.mark.e2e


@pytest.fixture
def hook():
    hits: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            at = time.time()
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hits.append({"at": at, "headers": dict(self.headers.items()), "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", hits
    server.shutdown()
    server.server_close()


def test_a_result_reaches_the_callback_url_signed_and_soon(api, signed_up, hook):
    url, hits = hook
    headers = signed_up()
    data = wav_bytes(6.0, seed=21)
    created = api.post(
        "/v1/analyses",
        headers=headers,
        json={
            "filename": "e2e.wav",
            "content_type": "audio/wav",
            "size_bytes": len(data),
            "callback_url": url,
        },
    ).json()
    upload = created["upload"]
    posted = httpx.post(
        upload["url"], data=upload["fields"], files={"file": ("e2e.wav", data, "audio/wav")}
    )
    assert posted.status_code == 204
    deadline = time.monotonic() + 120
    while not hits:
        assert time.monotonic() < deadline, "no webhook within 120 s"
        time.sleep(0.01)
    (hit,) = hits
    assert verify_signature(
        created["webhook_secret"], hit["headers"]["RealTone-Signature"], hit["body"]
    )
    document = json.loads(hit["body"])
    assert document["id"] == created["analysis"]["id"] and document["status"] == "completed"
    latency = hit["at"] - datetime.fromisoformat(document["updated_at"]).timestamp()
    print(f"\nwebhook latency on the running stack: {latency * 1000:.0f} ms")
    assert 0 <= latency < 10
    # The receiver answers before the try is logged: wait for the log.
    deadline = time.monotonic() + 10
    while True:
        log = api.get(f"/v1/analyses/{document['id']}/deliveries", headers=headers).json()
        (delivery,) = log["items"]
        if delivery["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert delivery["status"] == "succeeded" and delivery["attempts"][0]["status_code"] == 204
