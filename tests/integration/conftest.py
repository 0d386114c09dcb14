"""Integration fixtures: the real services, the app in-process, and queue helpers."""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import httpx
import pytest
from fastapi.testclient import TestClient

from realtone_local.stack import REGION, DevStack
from tests.accounts import sign_up


@pytest.fixture
def services(stack: DevStack) -> Any:
    """The adapters the app uses right now (a test that swaps the environment, like the
    fault tests, gets them rebuilt; settings patched here reach the app)."""
    from realtone_api.deps import get_services

    return get_services()


@pytest.fixture(scope="session")
def client(stack: DevStack) -> Iterator[TestClient]:
    from realtone_api.main import create_app

    # A client address of its own per run: per-client login limits live in the shared Redis
    # and must not carry over from earlier runs or from the fuzzer.
    address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    with TestClient(create_app(), raise_server_exceptions=False, client=(address, 50000)) as c:
        yield c


@pytest.fixture
def new_user(client: TestClient) -> Callable[[], dict[str, str]]:
    """Registers and logs in a fresh user; returns its Authorization header."""
    return lambda: sign_up(client)


def upload_via_post(upload: dict[str, Any], data: bytes, content_type: str) -> httpx.Response:
    """The multipart POST a browser sends: every policy field, then the file."""
    return httpx.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("upload", data, content_type)},
        timeout=30,
    )


class QueueProbe:
    """Receives the scorer queue's messages in tests, where no worker is running."""

    def __init__(self, services: Any) -> None:
        self.sqs = services.sqs
        self.url = services.settings.queue_url
        # Where the scorer moves heavy users' uploads (the API does not know it).
        self.heavy_url = os.environ.get("REALTONE_HEAVY_QUEUE_URL")

    def drain(self) -> None:
        for url in filter(None, (self.url, self.heavy_url)):
            while True:
                msgs = self.sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not msgs:
                    break
                for m in msgs:
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def wait_for_key(self, key_part: str, timeout: float = 10) -> list[dict[str, Any]]:
        """Messages whose body mentions ``key_part`` (left in flight for the caller)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            found = [m for m in msgs if key_part in m["Body"]]
            if found:
                return found
        raise AssertionError(f"no queue message for {key_part} within {timeout} s")


@pytest.fixture
def queue(services: Any) -> QueueProbe:
    probe = QueueProbe(services)
    probe.drain()
    return probe


def s3_body_key(message: dict[str, Any]) -> str:
    return json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"]


class _ResponseCatcher(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def response_url():
    _ResponseCatcher.received = []
    server = HTTPServer(("127.0.0.1", 0), _ResponseCatcher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/response", _ResponseCatcher.received
    server.shutdown()


def cfn_event(url: str, request_type: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": url,
        "StackId": f"arn:aws:cloudformation:{REGION}:123456789012:stack/realtone/1",
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "DatabaseMigrations",
        "ResourceType": "Custom::RealToneMigrations",
        "ResourceProperties": {},
    }
