"""E2E fixtures: the API (uvicorn), a scorer worker and the webhook worker running as `make run`
starts them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from realtone_local.procs import wait_until
from realtone_local.stack import DevStack
from tests.accounts import sign_up


@pytest.fixture(scope="package")
def running(stack: DevStack) -> Iterator[DevStack]:
    worker = stack.start_worker()
    webhooks = stack.start_webhook_worker()
    api = stack.start_api()
    # The worker has loaded its model (and published its card) once /health names it: on a
    # busy machine that can come well after the API answers.
    wait_until(lambda: _scorer_ready(stack.api_url), 180, "waiting for the scorer", worker)
    yield stack
    for child in (api, webhooks, worker):
        child.stop()
        stack.children.remove(child)


@pytest.fixture
def api(running: DevStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running.api_url, timeout=30) as client:
        yield client


@pytest.fixture
def signed_up(api: httpx.Client) -> Callable[[], dict[str, str]]:
    return lambda: sign_up(api)


def wait_terminal(
    api: httpx.Client, ident: str, headers: dict[str, str], timeout: float = 60
) -> dict[str, Any]:
    """Poll like a client: honour Retry-After and send If-None-Match."""
    deadline = time.monotonic() + timeout
    etag = None
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = api.get(
            f"/v1/analyses/{ident}",
            headers={**headers, **({"If-None-Match": etag} if etag else {})},
        )
        if r.status_code == 200:
            body = r.json()
            etag = r.headers["ETag"]
            if body["status"] in ("completed", "failed", "expired"):
                return body
        else:
            assert r.status_code == 304
        time.sleep(min(float(r.headers.get("Retry-After", "1")), 0.25))
    raise AssertionError(f"analysis {ident} did not finish in {timeout} s; last: {body}")


def _scorer_ready(api_url: str) -> bool:
    try:
        return bool(httpx.get(f"{api_url}/health", timeout=5).json()["model"].get("name"))
    except (httpx.HTTPError, ValueError, KeyError):
        return False
