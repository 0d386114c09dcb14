"""Test accounts: a fresh user per call, signed up and logged in through the API."""

from __future__ import annotations

import uuid
from typing import Any


def sign_up(client: Any, password: str = "s3cret-pass") -> dict[str, str]:
    """Register and log in a new user with ``client`` (httpx or TestClient); returns its
    Authorization header."""
    credentials = {"email": f"user-{uuid.uuid4().hex[:10]}@example.com", "password": password}
    assert client.post("/v1/auth/register", json=credentials).status_code == 201
    tokens = client.post("/v1/auth/login", json=credentials).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}
