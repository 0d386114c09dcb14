"""``realtone analyze``: upload each file straight to S3, then wait for its result."""

from __future__ import annotations

import mimetypes
import time
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from realtone_cli import render
from realtone_cli.client import ApiError, Client

TERMINAL = {"completed", "failed", "expired"}
_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".webm": "audio/webm",
}


def content_type(path: Path) -> str:
    return (
        _TYPES.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


class _ProgressReader:
    """A file object whose reads drive a progress bar (httpx streams the multipart body)."""

    def __init__(self, raw: BinaryIO, progress: render.Progress) -> None:
        self._raw = raw
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._progress.advance(len(data))
        return data


def check_file(path: Path) -> str | None:
    """A local reason the file cannot be analysed, or None."""
    if not path.exists():
        return "no such file"
    if not path.is_file():
        return "not a regular file"
    if path.stat().st_size == 0:
        return "the file is empty"
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        return f"cannot read it: {exc.strerror}"
    return None


def upload(client: Client, path: Path, quiet: bool) -> dict[str, Any]:
    size = path.stat().st_size
    created = client.request(
        "POST",
        "/v1/analyses",
        json={
            "filename": path.name,
            "content_type": content_type(path),
            "size_bytes": size,
        },
    ).json()
    upload_spec = created["upload"]
    progress = render.Progress(f"uploading {path.name}", size)
    with path.open("rb") as raw, httpx.Client(timeout=300) as s3:
        body: Any = raw if quiet else _ProgressReader(raw, progress)
        try:
            response = s3.post(
                upload_spec["url"],
                data=upload_spec["fields"],
                files={"file": (path.name, body, upload_spec["fields"]["Content-Type"])},
            )
        except httpx.TransportError as exc:
            raise ApiError(0, "upload_failed", f"the upload to storage failed: {exc}") from exc
    if not quiet:
        progress.finish()
    if response.status_code not in (200, 201, 204):
        reason = (
            response.text.split("<Message>")[1].split("</Message>")[0]
            if "<Message>" in response.text
            else ""
        )
        raise ApiError(
            response.status_code,
            "upload_refused",
            f"storage refused the upload: {reason or response.status_code}",
        )
    analysis: dict[str, Any] = created["analysis"]
    return analysis


def wait(client: Client, analysis_id: str, timeout: float, quiet: bool) -> dict[str, Any]:
    spinner = render.Spinner()
    etag: str | None = None
    current: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            headers = {"If-None-Match": etag} if etag else {}
            response = client.request("GET", f"/v1/analyses/{analysis_id}", headers=headers)
            if response.status_code == 200:
                current = response.json()
                etag = response.headers.get("ETag")
            if current.get("status") in TERMINAL:
                return current
            if not quiet:
                spinner.show(render.STATUS_WORDS.get(current.get("status", ""), "waiting"))
            render.sleep(float(response.headers.get("Retry-After", "1")))
    finally:
        if not quiet:
            spinner.finish()
    raise ApiError(
        0, "timeout", f"no result after {timeout:.0f} s (status: {current.get('status')})"
    )
