"""The HTTP client of the RealTone API: bearer auth, one transparent refresh, typed errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from realtone_cli import config

LOGIN_HINT = "run `realtone login` (or `realtone register` to create an account)"
SESSION_EXPIRED = "Session expired: run `realtone login`"


class ApiError(Exception):
    """An error answer of the API (``{"error": {"code", "message"}}``) or no answer at all.

    ``status`` is the HTTP status, 0 when the API could not be reached.
    """

    def __init__(
        self, status: int, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{message} ({code})")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Worth trying again later: unreachable, rate limited or a server-side failure."""
        return self.status == 0 or self.status == 429 or self.status >= 500

    @property
    def detail(self) -> str:
        """The message, with when to try again if the API said so."""
        if self.retry_after is not None and self.status in (429, 503):
            return f"{self.message}; try again in {self.retry_after:.0f} s"
        return self.message

    def describe(self) -> str:
        """``message (code)``, as printed after ``error:``."""
        return f"{self.detail} ({self.code})"


class NotLoggedIn(Exception):
    """No usable session: never logged in, logged in elsewhere, or the session expired."""

    def __init__(self, message: str = f"not logged in: {LOGIN_HINT}") -> None:
        super().__init__(message)
        self.message = message


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (HTTP dates are not used by the API: treated as absent)."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_from(response: httpx.Response) -> ApiError:
    """The API's error document as an ApiError; something sensible for anything else."""
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        reason = response.reason_phrase or "error"
        code, message = "http_error", f"HTTP {response.status_code} {reason} from the API"
    return ApiError(response.status_code, code, message, retry_after(response))


@dataclass
class Poll:
    """One ``GET /v1/analyses/{id}``: the document (None on 304), its ETag and Retry-After."""

    analysis: dict[str, Any] | None
    etag: str | None
    retry_after: float | None


@dataclass(frozen=True)
class ServerEvent:
    """One server-sent event of an analysis (``status``, ``windows``, ``completed``,
    ``failed``); ``id`` is what to resume from."""

    name: str
    id: str | None
    data: dict[str, Any]


class StreamUnavailable(Exception):
    """The API answered the event stream with something else (an older API, a proxy)."""


def parse_events(lines: Iterator[str]) -> Iterator[ServerEvent]:
    """Events from the lines of a ``text/event-stream`` (comments, i.e. heartbeats, skipped)."""
    fields: dict[str, list[str]] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                yield ServerEvent(
                    fields.get("event", ["message"])[-1],
                    fields["id"][-1] if "id" in fields else None,
                    json.loads("\n".join(fields["data"])),
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))


class Client:
    def __init__(
        self,
        api: str,
        credentials: config.Credentials | None,
        *,
        timeout: float = 30,
        transport: httpx.BaseTransport | None = None,
        not_logged_in: str | None = None,
    ) -> None:
        self.api = api.rstrip("/")
        self.credentials = credentials
        # Why there is no session, when there is none (said instead of the generic hint).
        self.not_logged_in = not_logged_in or f"not logged in: {LOGIN_HINT}"
        # Also used for the uploads to storage (tests route both through one fake).
        self.transport = transport
        self.http = httpx.Client(base_url=self.api, timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -- transport -------------------------------------------------------------------------

    def _send(self, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return self.http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise ApiError(
                0, "unreachable", f"cannot reach the RealTone API at {self.api}: {reason}"
            ) from exc

    def request(
        self, method: str, path: str, *, auth: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """Send a request; on a 401 refresh the session once and retry.

        Raises ApiError for any status >= 400 and NotLoggedIn when there is no session or
        it cannot be refreshed.
        """
        token: str | None = None
        if auth:
            if self.credentials is None:
                raise NotLoggedIn(self.not_logged_in)
            token = self.credentials.access_token
        response = self._send(method, path, token, **kwargs)
        if response.status_code == 401 and token is not None:
            if not self._refresh(token):
                raise NotLoggedIn(SESSION_EXPIRED)
            assert self.credentials is not None
            response = self._send(method, path, self.credentials.access_token, **kwargs)
            if response.status_code == 401:
                raise NotLoggedIn(SESSION_EXPIRED)
        if response.status_code >= 400:
            raise error_from(response)
        return response

    def _refresh(self, used_access_token: str) -> bool:
        """Trade the refresh token for a new pair and save it; False when it is refused.

        Refresh tokens rotate (the old one is spent, and reusing it revokes the session),
        so the new pair is saved at once, under a lock shared with other ``realtone``
        processes; one that finds a pair newer than the one it used simply adopts it.
        """
        if self.credentials is None:
            return False
        with config.locked():
            saved = config.load()
            if (
                saved is not None
                and saved.belongs_to(self.api)
                and saved.email == self.credentials.email
                and saved.access_token != used_access_token
            ):
                self.credentials = saved
                return True
            response = self._send(
                "POST",
                "/v1/auth/refresh",
                None,
                json={"refresh_token": self.credentials.refresh_token},
            )
            if response.status_code in (400, 401, 403, 422):
                return False
            if response.status_code != 200:
                raise error_from(response)
            tokens = response.json()
            self.credentials = config.Credentials(
                api=self.credentials.api,
                email=self.credentials.email,
                access_token=tokens["access_token"],
                refresh_token=tokens["refresh_token"],
            )
            config.save(self.credentials)
        return True

    # -- the API ---------------------------------------------------------------------------

    def register(self, email: str, password: str) -> dict[str, Any]:
        body = {"email": email, "password": password}
        data: dict[str, Any] = self.request(
            "POST", "/v1/auth/register", auth=False, json=body
        ).json()
        return data

    def logout(self, refresh_token: str) -> None:
        """End the session on the server (its refresh tokens stop working). A token the API
        no longer accepts means there is nothing left to end."""
        response = self._send(
            "POST", "/v1/auth/logout", None, json={"refresh_token": refresh_token}
        )
        if response.status_code >= 400 and response.status_code not in (401, 422):
            raise error_from(response)

    def login(self, email: str, password: str) -> config.Credentials:
        body = {"email": email, "password": password}
        tokens = self.request("POST", "/v1/auth/login", auth=False, json=body).json()
        self.credentials = config.Credentials(
            api=self.api,
            email=email,
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
        )
        return self.credentials

    def me(self) -> dict[str, Any]:
        data: dict[str, Any] = self.request("GET", "/v1/auth/me").json()
        return data

    def create_analysis(
        self,
        filename: str,
        content_type: str,
        size_bytes: int,
        idempotency_key: str,
        callback_url: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/analyses`` → ``{analysis, upload: {url, fields, expires_at, max_bytes}}``
        (and ``webhook_secret`` when a ``callback_url`` made the account's secret)."""
        body: dict[str, Any] = {
            "filename": filename,
            "content_type": content_type,
            "size_bytes": size_bytes,
        }
        if callback_url is not None:
            body["callback_url"] = callback_url
        data: dict[str, Any] = self.request(
            "POST", "/v1/analyses", json=body, headers={"Idempotency-Key": idempotency_key}
        ).json()
        return data

    def list_deliveries(self, analysis_id: str) -> list[dict[str, Any]]:
        """``GET /v1/analyses/{id}/deliveries``: the webhook deliveries and their tries."""
        data = self.request("GET", f"/v1/analyses/{analysis_id}/deliveries").json()
        items: list[dict[str, Any]] = data["items"]
        return items

    def get_analysis(self, analysis_id: str, etag: str | None = None) -> Poll:
        headers = {"If-None-Match": etag} if etag else {}
        response = self.request("GET", f"/v1/analyses/{analysis_id}", headers=headers)
        if response.status_code == 304:
            return Poll(None, etag, retry_after(response))
        return Poll(response.json(), response.headers.get("ETag"), retry_after(response))

    def events(
        self, analysis_id: str, last_event_id: str | None, read_timeout: float
    ) -> Iterator[ServerEvent]:
        """Follow the analysis's event stream until the server ends it. Raises ApiError as
        ``request`` does, and StreamUnavailable when the answer is not an event stream."""
        if self.credentials is None:
            raise NotLoggedIn(self.not_logged_in)
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        for attempt in range(2):
            headers["Authorization"] = f"Bearer {self.credentials.access_token}"
            timeout = httpx.Timeout(self.http.timeout.connect, read=read_timeout)
            try:
                with self.http.stream(
                    "GET", f"/v1/analyses/{analysis_id}/events", headers=headers, timeout=timeout
                ) as response:
                    if response.status_code == 401 and attempt == 0:
                        if not self._refresh(self.credentials.access_token):
                            raise NotLoggedIn(SESSION_EXPIRED)
                        continue
                    if response.status_code == 204:  # the end was already seen
                        return
                    if response.status_code >= 400:
                        response.read()
                        raise error_from(response)
                    kind = response.headers.get("content-type", "")
                    if response.status_code != 200 or not kind.startswith("text/event-stream"):
                        raise StreamUnavailable(f"HTTP {response.status_code} {kind}")
                    yield from parse_events(response.iter_lines())
                    return
            except httpx.TransportError as exc:
                reason = str(exc) or type(exc).__name__
                raise ApiError(0, "unreachable", f"the event stream broke off: {reason}") from exc

    def list_analyses(self, limit: int, cursor: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        data: dict[str, Any] = self.request("GET", "/v1/analyses", params=params).json()
        return data

    def delete_analysis(self, analysis_id: str) -> None:
        self.request("DELETE", f"/v1/analyses/{analysis_id}")

    def account(self) -> dict[str, Any]:
        """``GET /v1/account`` → ``{id, email, created_at, retention_days}``."""
        data: dict[str, Any] = self.request("GET", "/v1/account").json()
        return data

    def update_account(self, **settings: Any) -> dict[str, Any]:
        data: dict[str, Any] = self.request("PATCH", "/v1/account", json=settings).json()
        return data

    def delete_account(self) -> None:
        self.request("DELETE", "/v1/account")

    # -- voices ----------------------------------------------------------------------------

    def enroll_voice(self, name: str, sources: list[tuple[str, int]]) -> dict[str, Any]:
        """``POST /v1/voices`` → ``{id, name, sources, created_at}``."""
        body = {
            "name": name,
            "sources": [{"analysis_id": a, "speaker": s} for a, s in sources],
        }
        data: dict[str, Any] = self.request("POST", "/v1/voices", json=body).json()
        return data

    def list_voices(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.request("GET", "/v1/voices").json()["items"]
        return items

    def delete_voice(self, voice_id: str) -> None:
        self.request("DELETE", f"/v1/voices/{voice_id}")

    def search_voices(
        self, query: dict[str, Any], limit: int, cursor: str | None
    ) -> dict[str, Any]:
        """``POST /v1/voices/search`` with ``{analysis_id, speaker}`` or ``{voice_id}``."""
        body = {**query, "limit": limit, **({"cursor": cursor} if cursor else {})}
        data: dict[str, Any] = self.request("POST", "/v1/voices/search", json=body).json()
        return data
