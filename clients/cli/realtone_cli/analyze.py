"""``realtone analyze``: check each file, upload it straight to storage, wait for its result.

All files are checked locally first, then uploaded one after the other (the service
scores the first while the next one uploads), then their results are awaited in order.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from realtone_cli import render
from realtone_cli.client import ApiError, Client, NotLoggedIn
from realtone_cli.upload import check_file, content_type, send_to_storage

TERMINAL = frozenset({"completed", "failed", "expired"})
FAKE_VERDICTS = frozenset({"fake", "likely_fake"})
EXIT_CLEAN, EXIT_FAKE, EXIT_ERROR = 0, 1, 2


class ResultTimeout(ApiError):
    """No terminal status before the deadline; ``analysis`` is the last state seen."""

    def __init__(self, analysis: dict[str, Any]) -> None:
        status = render.STATUS_WORDS.get(str(analysis.get("status")), analysis.get("status"))
        super().__init__(
            0,
            "timeout",
            f"no result within the time limit (last status: {status});"
            f" see it later with `realtone show {analysis.get('id')}`",
        )
        self.analysis = analysis


@dataclass
class FileResult:
    """What became of one file: its final analysis, an error, or both (a failed analysis)."""

    file: str
    analysis: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    deadline: float = 0.0

    def fail(self, code: str, message: str) -> None:
        self.error = {"code": code, "message": message}

    @property
    def outcome(self) -> str:
        """``error`` or the verdict (``fake``, ``likely_fake``, ``real``, ``inconclusive``)."""
        if self.error is not None or self.analysis is None:
            return "error"
        if self.analysis.get("status") != "completed":
            return "error"
        return str((self.analysis.get("summary") or {}).get("verdict") or "error")

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "analysis": self.analysis, "error": self.error}


def exit_code(results: list[FileResult]) -> int:
    """2 if anything failed (wins: the answer is incomplete), else 1 if any file is fake or
    likely fake, else 0 (every file real or inconclusive)."""
    outcomes = [r.outcome for r in results]
    if not outcomes or "error" in outcomes:
        return EXIT_ERROR
    if any(o in FAKE_VERDICTS for o in outcomes):
        return EXIT_FAKE
    return EXIT_CLEAN


@dataclass
class Options:
    timeout: float = 600.0
    json: bool = False
    # Webhooks: where the API POSTs each result when it is ready.
    callback_url: str | None = None
    quiet: bool = False
    color: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    clock: Callable[[], float] = time.monotonic
    sleeper: Callable[[float], None] = time.sleep

    @property
    def show_progress(self) -> bool:
        return not (self.json or self.quiet)


def _terminal_error(analysis: dict[str, Any]) -> dict[str, str] | None:
    status = analysis.get("status")
    if status == "completed":
        return None
    error = analysis.get("error") or {}
    code = str(error.get("code") or ("upload_missing" if status == "expired" else status))
    message = str(
        error.get("message") or render.ERRORS.get(code) or render.STATUS_WORDS.get(str(status))
    )
    return {"code": code, "message": message}


def _retry_delay(exc: ApiError) -> float | None:
    """Seconds to wait before creating the analysis once more; None: not worth it."""
    if exc.status == 0:  # no answer: the Idempotency-Key makes a second try safe
        return 1.0
    if exc.status == 429 and exc.retry_after is not None and exc.retry_after <= 60:
        return exc.retry_after  # the per-minute limit: wait for the next window
    return None


def upload_one(client: Client, path: Path, options: Options) -> dict[str, Any]:
    """Create the analysis and upload the file; returns the analysis as created."""
    size = path.stat().st_size
    declared = content_type(path)
    key = str(uuid.uuid4())  # the same key on a retry: never two analyses for one file
    try:
        created = client.create_analysis(path.name, declared, size, key, options.callback_url)
    except ApiError as exc:
        wait = _retry_delay(exc)
        if wait is None:
            raise
        options.err.write(f"{path.name}: {exc.message}; trying again in {wait:.0f} s\n")
        options.sleeper(wait)
        created = client.create_analysis(path.name, declared, size, key, options.callback_url)
    if created.get("webhook_secret"):
        # Shown once, whatever the output mode: without it no delivery can be verified.
        options.err.write(
            f"webhook signing secret (shown only now; keep it): {created['webhook_secret']}\n"
        )
    analysis: dict[str, Any] = created["analysis"]
    progress = (
        render.Progress(f"uploading {path.name}", size, stream=options.err)
        if options.show_progress
        else None
    )
    try:
        send_to_storage(created["upload"], path, declared, progress, client.transport)
    except ApiError:
        # Nothing arrived: do not leave an analysis behind that can only expire.
        with contextlib.suppress(ApiError, NotLoggedIn):
            client.delete_analysis(str(analysis["id"]))
        raise
    return analysis


def wait_for_result(
    client: Client, analysis: dict[str, Any], deadline: float, options: Options
) -> dict[str, Any]:
    """Poll until the analysis is terminal, honouring Retry-After and using the ETag.

    Transient trouble (API unreachable, 429, 5xx) is waited out until the deadline.
    Raises ApiError ``timeout`` (with the last state seen) when the deadline passes.
    """
    ident = str(analysis["id"])
    current = analysis
    etag: str | None = None
    status_line = (
        render.StatusLine(
            str(analysis.get("filename", ident)),
            stream=options.err,
            clock=options.clock,
            sleeper=options.sleeper,
        )
        if options.show_progress
        else None
    )
    sleep = status_line.sleep if status_line else options.sleeper
    failures = 0
    try:
        while True:
            delay = 1.0
            try:
                poll = client.get_analysis(ident, etag)
            except ApiError as exc:
                if not exc.transient or options.clock() >= deadline:
                    raise
                failures += 1
                delay = exc.retry_after or min(2.0**failures, 15.0)
                if status_line:
                    status_line.update(
                        f"{render.STATUS_WORDS.get(current['status'], '')}"
                        f" (API trouble: {exc.message}; retrying)"
                    )
            else:
                failures = 0
                if poll.analysis is not None:
                    current, etag = poll.analysis, poll.etag
                if current.get("status") in TERMINAL:
                    return current
                delay = poll.retry_after if poll.retry_after is not None else 1.0
                if status_line:
                    words = render.STATUS_WORDS.get(current["status"], current["status"])
                    progress = current.get("progress")
                    if progress:  # a long file's windows arrive as they are scored
                        words += (
                            f" ({progress['windows_done']}/{progress['windows_total']} windows)"
                        )
                    status_line.update(words)
            left = deadline - options.clock()
            if left <= 0:
                break
            sleep(min(max(delay, 0.05), left))
    finally:
        if status_line:
            status_line.finish()
    raise ResultTimeout(current)


def run(client: Client, files: list[str], options: Options) -> list[FileResult]:
    results = [FileResult(name) for name in files]
    err = options.err

    def report_error(result: FileResult) -> None:
        assert result.error is not None
        err.write(f"error: {result.file}: {result.error['message']} ({result.error['code']})\n")
        err.flush()

    # 1. Every file is checked before anything is sent.
    for result in results:
        problem = check_file(Path(result.file))
        if problem:
            result.fail("local_file", problem)
            report_error(result)

    # 2. Uploads, one after the other.
    session_lost: str | None = None
    for result in results:
        if result.error is not None:
            continue
        if session_lost is not None:
            result.fail("not_logged_in", session_lost)
            continue
        try:
            result.analysis = upload_one(client, Path(result.file), options)
            result.deadline = options.clock() + options.timeout
        except NotLoggedIn as exc:
            session_lost = exc.message
            result.fail("not_logged_in", exc.message)
        except ApiError as exc:
            result.fail(exc.code, exc.detail)
            report_error(result)

    # 3. Results, in order.
    printed = 0
    for result in results:
        if result.error is not None or result.analysis is None:
            continue
        if session_lost is not None:
            result.fail("not_logged_in", session_lost)
            continue
        try:
            final = wait_for_result(client, result.analysis, result.deadline, options)
        except KeyboardInterrupt:
            waiting = [
                r.analysis["id"]
                for r in results
                if r.analysis and r.error is None and r.analysis.get("status") not in TERMINAL
            ]
            err.write("\nstopped waiting; the analyses go on: `realtone show ID` for\n")
            err.writelines(f"  {ident}\n" for ident in waiting)
            raise
        except NotLoggedIn as exc:
            session_lost = exc.message
            result.fail("not_logged_in", exc.message)
            continue
        except ApiError as exc:
            if isinstance(exc, ResultTimeout):
                result.analysis = exc.analysis
            result.fail(exc.code, exc.detail)
            report_error(result)
            continue
        result.analysis = final
        result.error = _terminal_error(final)
        if not options.json:
            separator = "\n" if printed else ""
            options.out.write(separator + render.analysis_report(final, options.color) + "\n")
            options.out.flush()
            printed += 1

    if session_lost is not None:
        err.write(f"error: {session_lost}\n")
    if options.json:
        json.dump([r.as_json() for r in results], options.out, indent=2)
        options.out.write("\n")
    elif len(results) > 1:
        options.out.write(
            ("\n" if printed else "") + render.tally([r.outcome for r in results]) + "\n"
        )
    options.out.flush()
    return results
