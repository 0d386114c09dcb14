"""ASGI middleware: request body size limit and security headers."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from realtone_api.settings import ApiSettings


class BodySizeLimit:
    """Refuses request bodies over ``max_bytes`` with 413 ``too_large`` in the contract's
    error shape, whether or not they declare a Content-Length. (FastAPI's own
    ``max_body_size`` answers a declared oversize length in plain text.) Audio never
    passes through here: it goes straight to S3."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"error": {"code": "too_large", "message": f"Request body over {self.max_bytes} bytes"}}
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(HTTPException):
    """FastAPI passes an HTTPException raised while reading the body on unchanged (any other
    error there becomes a 400); the app's handler renders it as 413 ``too_large``."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request body over {max_bytes} bytes")


def s3_origins(settings: ApiSettings) -> list[str]:
    """Where the browser sends uploads and fetches audio from."""
    if settings.s3_public_endpoint_url:
        parts = urlsplit(settings.s3_public_endpoint_url)
        return [f"{parts.scheme}://{parts.netloc}"]
    region = settings.aws_region
    return [
        f"https://{settings.bucket}.s3.{region}.amazonaws.com",
        f"https://s3.{region}.amazonaws.com",
    ]


def security_headers(settings: ApiSettings) -> list[tuple[bytes, bytes]]:
    s3 = " ".join(s3_origins(settings))
    streams = ""
    if settings.stream_base_url:  # event streams served by another deployment
        parts = urlsplit(settings.stream_base_url)
        streams = f" {parts.scheme}://{parts.netloc}"
    csp = (
        "default-src 'self'; "
        f"connect-src 'self' {s3}{streams}; "
        f"media-src 'self' blob: {s3}; "
        "img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"form-action 'self' {s3}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
    values = {
        "content-security-policy": csp,
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "permissions-policy": "microphone=(self), camera=(), geolocation=()",
        "cross-origin-opener-policy": "same-origin",
    }
    return [(k.encode(), v.encode()) for k, v in values.items()]


class SecurityHeaders:
    """Adds the browser-hardening headers to every response (the UI and the API)."""

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.headers = security_headers(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {k.lower() for k, _ in message.get("headers", [])}
                extra: list[Any] = [(k, v) for k, v in self.headers if k not in existing]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AccessLog:
    """One structured log line per request: method, path, status and duration."""

    def __init__(self, app: ASGIApp, logger: Any) -> None:
        self.app = app
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.logger.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
