"""The API as `make run` starts it (uvicorn) does not take X-Forwarded-For from a local
process as the client's address: rotating it no longer escapes the per-client limit."""

from __future__ import annotations

import uuid

import httpx
import pytest

from realtone_local.procs import Child, free_port, wait_until
from realtone_local.stack import DevStack

pytestmark = pytest.mark.e2e


def test_a_rotated_forwarded_for_is_one_client(running: DevStack, tmp_path):
    # An API of its own with a small per-client limit (the shared one keeps the default).
    port = free_port()
    env = {**running.env, "REALTONE_LOGIN_FAILURES_PER_CLIENT": "3"}
    api = Child("api-limits", running.api_command(port), tmp_path / "api.log", env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url), 60, "waiting for the API", api)
        # Earlier failed logins from 127.0.0.1 in this run count too: at most 3 get through.
        codes = []
        with httpx.Client(base_url=url, timeout=30) as c:
            for i in range(5):
                codes.append(
                    c.post(
                        "/v1/auth/login",
                        json={"email": f"xff-{uuid.uuid4().hex[:8]}@example.com", "password": "x"},
                        headers={"X-Forwarded-For": f"198.51.100.{i + 1}"},
                    ).status_code
                )
    finally:
        api.stop()
    assert codes.count(429) >= 2 and codes[-1] == 429, codes


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code < 500
    except httpx.HTTPError:
        return False
