"""Local checks and the upload itself: a multipart POST straight to storage (S3).

The API hands out a presigned POST (``{url, fields}``); the client sends every field and
then the file. The audio never passes through the API.
"""

from __future__ import annotations

import mimetypes
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import httpx

from realtone_cli import render
from realtone_cli.client import ApiError

# The types the API accepts, by extension (mimetypes does not know all of them everywhere).
CONTENT_TYPES = {
    ".wav": "audio/wav",
    ".wave": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".webm": "audio/webm",
}
UNKNOWN_TYPE = "application/octet-stream"
UPLOAD_TIMEOUT = httpx.Timeout(60.0, connect=15.0)


def content_type(path: Path) -> str:
    """The Content-Type to declare, from the extension; application/octet-stream if unknown.

    (The server sniffs the bytes anyway: the name only decides whether an upload URL is
    handed out.)
    """
    return (
        CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or UNKNOWN_TYPE
    )


def check_file(path: Path) -> str | None:
    """Why the file cannot be analysed, found locally before anything is sent; None if fine."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if path.is_dir():
        return "is a directory, not an audio file"
    if not path.is_file():
        return "not a regular file"
    if st.st_size == 0:
        return "the file is empty"
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    return None


class ProgressReader:
    """The file handed to httpx: each read advances the progress bar.

    ``fileno``/``seek``/``tell`` are passed through so httpx can size the multipart body
    and send a Content-Length (S3 refuses a chunked POST).
    """

    def __init__(self, raw: BinaryIO, progress: render.Progress | None) -> None:
        self._raw = raw
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if self._progress is not None:
            self._progress.advance(len(data))
        return data

    def fileno(self) -> int:
        return self._raw.fileno()

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._raw.seek(offset, whence)
        if position == 0 and self._progress is not None:
            self._progress.reset()
        return position


def storage_error(response: httpx.Response) -> ApiError:
    """S3 answers errors in XML: ``<Error><Code>…</Code><Message>…</Message></Error>``."""
    code = message = ""
    try:
        root = ET.fromstring(response.content)
        code = (root.findtext("Code") or "").strip()
        message = (root.findtext("Message") or "").strip()
    except ET.ParseError:
        message = response.text.strip()[:200]
    described = f"HTTP {response.status_code}" + (f" {code}" if code else "")
    text = f"storage refused the upload ({described})" + (f": {message}" if message else "")
    return ApiError(response.status_code, "upload_refused", text)


def send_to_storage(
    spec: dict[str, Any],
    path: Path,
    declared_type: str,
    progress: render.Progress | None = None,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """POST every field of the presigned form and then the file to ``spec["url"]``.

    Raises ApiError (code ``upload_refused`` or ``upload_failed``) when it does not arrive.
    """
    fields = {str(k): str(v) for k, v in (spec.get("fields") or {}).items()}
    file_type = fields.get("Content-Type", declared_type)
    with (
        path.open("rb") as raw,
        httpx.Client(timeout=UPLOAD_TIMEOUT, transport=transport) as storage,
    ):
        body = cast(IO[bytes], ProgressReader(raw, progress))
        try:
            response = storage.post(
                spec["url"], data=fields, files={"file": (path.name, body, file_type)}
            )
        except httpx.TransportError as exc:
            host = httpx.URL(spec["url"]).host
            reason = str(exc) or type(exc).__name__
            raise ApiError(
                0, "upload_failed", f"the upload to storage at {host} failed: {reason}"
            ) from exc
        finally:
            if progress is not None:
                progress.finish()
    if response.status_code not in (200, 201, 204):
        raise storage_error(response)
