"""The HTTP client: bearer auth with transparent refresh, errors in the API's shape."""

from __future__ import annotations

from typing import Any

import httpx

from realtone_cli import config


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.status = status
        self.code = code
        self.message = message


class NotLoggedIn(Exception):
    pass


def _error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, error["code"], error["message"])
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "http_error", f"HTTP {response.status_code}")


class Client:
    def __init__(
        self, api: str, credentials: config.Credentials | None, timeout: float = 30
    ) -> None:
        self.api = api.rstrip("/")
        self.credentials = credentials
        self.http = httpx.Client(base_url=self.api, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, auth: bool, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if auth:
            if self.credentials is None:
                raise NotLoggedIn
            headers["Authorization"] = f"Bearer {self.credentials.access_token}"
        try:
            return self.http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(
                0, "unreachable", f"cannot reach the RealTone API at {self.api}: {exc}"
            ) from exc

    def request(
        self, method: str, path: str, *, auth: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """Send; on a 401 refresh the session once and retry. Raises ApiError for errors."""
        response = self._send(method, path, auth, **kwargs)
        if response.status_code == 401 and auth and self._refresh():
            response = self._send(method, path, auth, **kwargs)
        if response.status_code >= 400:
            if response.status_code == 401 and auth:
                raise NotLoggedIn
            raise _error(response)
        return response

    def _refresh(self) -> bool:
        if self.credentials is None:
            return False
        response = self._send(
            "POST",
            "/v1/auth/refresh",
            False,
            json={"refresh_token": self.credentials.refresh_token},
        )
        if response.status_code != 200:
            return False
        tokens = response.json()
        # Refresh tokens rotate: the old one is spent, so the new pair is saved at once.
        self.credentials.access_token = tokens["access_token"]
        self.credentials.refresh_token = tokens["refresh_token"]
        config.save(self.credentials)
        return True

    def login(self, email: str, password: str) -> config.Credentials:
        response = self.request(
            "POST", "/v1/auth/login", auth=False, json={"email": email, "password": password}
        )
        tokens = response.json()
        self.credentials = config.Credentials(
            self.api, email, tokens["access_token"], tokens["refresh_token"]
        )
        return self.credentials

    def register(self, email: str, password: str) -> dict[str, Any]:
        data: dict[str, Any] = self.request(
            "POST", "/v1/auth/register", auth=False, json={"email": email, "password": password}
        ).json()
        return data
