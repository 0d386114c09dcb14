"""``realtone analyze``: check each file, upload it straight to storage, wait for its result.

All files are checked locally first (a folder stands for the audio files under it). One
file: an upload bar, then its windows as they are scored, then its report. Several: up to
``--jobs`` at once, each uploaded and followed to its result, under one progress line;
then a summary table.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from realtone_cli import render
from realtone_cli.client import ApiError, Client, NotLoggedIn, StreamUnavailable
from realtone_cli.upload import CONTENT_TYPES, check_file, content_type, send_to_storage

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

    @property
    def impersonation(self) -> bool:
        """A speaker sounds like one of the owner's enrolled voices and is synthetic."""
        summary = (self.analysis or {}).get("summary") or {}
        return bool(summary.get("impersonation"))

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "analysis": self.analysis, "error": self.error}


def exit_code(results: list[FileResult]) -> int:
    """2 if anything failed (wins: the answer is incomplete), else 1 if any file is fake or
    likely fake or imitates an enrolled voice, else 0 (every file real or inconclusive)."""
    outcomes = [r.outcome for r in results]
    if not outcomes or "error" in outcomes:
        return EXIT_ERROR
    if any(o in FAKE_VERDICTS for o in outcomes) or any(r.impersonation for r in results):
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
    # Follow the server's event stream (windows as they are scored); poll where it is not
    # served or breaks off.
    follow: bool = True
    jobs: int = 4  # files uploaded and followed at once

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
    """Follow the analysis until it is terminal: by its event stream, else by polling.

    Transient trouble (API unreachable, 429, 5xx) is waited out until the deadline.
    Raises ApiError ``timeout`` (with the last state seen) when the deadline passes.
    """
    status_line = (
        render.StatusLine(
            str(analysis.get("filename", analysis["id"])),
            stream=options.err,
            clock=options.clock,
            sleeper=options.sleeper,
        )
        if options.show_progress
        else None
    )
    try:
        followed = follow_events(client, analysis, deadline, options, status_line)
        if followed is not None and followed.get("status") in TERMINAL:
            return followed
        return poll_result(client, followed or analysis, deadline, options, status_line)
    finally:
        if status_line:
            status_line.finish()


def _status_words(analysis: dict[str, Any], scores: list[float | None] | None = None) -> str:
    words = render.STATUS_WORDS.get(analysis["status"], analysis["status"])
    progress = analysis.get("progress")
    if progress:  # a long file's windows arrive as they are scored
        words += f" ({progress['windows_done']}/{progress['windows_total']} windows)"
        if scores:
            words += " " + render.sparkline(scores[-render.SPARK_WIDTH :])
    return words


def follow_events(
    client: Client,
    analysis: dict[str, Any],
    deadline: float,
    options: Options,
    status_line: render.StatusLine | None,
) -> dict[str, Any] | None:
    """The terminal document from the event stream, or the last state seen when the stream
    is not served, breaks off or the deadline passes (the caller polls on)."""
    if not options.follow:
        return None
    current = analysis
    scores: list[float | None] = []
    last_id: str | None = None
    while options.clock() < deadline:
        received = 0
        try:
            # Heartbeats come every 15 s: a read that long past them means a dead stream.
            for event in client.events(str(analysis["id"]), last_id, read_timeout=45.0):
                received += 1
                last_id = event.id or last_id
                if event.name in ("completed", "failed"):
                    return event.data
                if event.name == "status":
                    current = {**current, **event.data}
                elif event.name == "windows":
                    current = {**current, "progress": event.data["progress"]}
                    scores += [c.get("score") for c in event.data["chunks"]]
                if status_line:
                    status_line.update(_status_words(current, scores))
                if options.clock() >= deadline:
                    return current
        except (ApiError, StreamUnavailable):
            return current
        if not received:  # a stream that ends at once would only spin: poll instead
            return current
        # The server ended the stream before the end (its time limit): resume.
    return current


def poll_result(
    client: Client,
    analysis: dict[str, Any],
    deadline: float,
    options: Options,
    status_line: render.StatusLine | None,
) -> dict[str, Any]:
    """Poll until the analysis is terminal, honouring Retry-After and using the ETag."""
    ident = str(analysis["id"])
    current = analysis
    etag: str | None = None
    sleep = status_line.sleep if status_line else options.sleeper
    failures = 0
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
                status_line.update(_status_words(current))
        left = deadline - options.clock()
        if left <= 0:
            break
        sleep(min(max(delay, 0.05), left))
    raise ResultTimeout(current)


def expand_inputs(inputs: list[str]) -> list[str]:
    """The files to analyse: files as given; a folder stands for the audio files under it
    (any depth, by extension, hidden ones skipped, in name order). Anything else is kept as
    given, for ``check_file`` to explain."""
    files: list[str] = []
    for given in inputs:
        path = Path(given)
        if not path.is_dir():
            files.append(given)
            continue
        files += sorted(
            str(p)
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in CONTENT_TYPES
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
    return files


class _Session:
    """Shared by the files of one run: once the session is lost, the rest are not sent."""

    def __init__(self) -> None:
        self.lost: str | None = None


def _analyse(client: Client, result: FileResult, options: Options, session: _Session) -> None:
    """Upload one file and follow it to its result, recording what became of it."""
    if session.lost is not None:
        result.fail("not_logged_in", session.lost)
        return
    try:
        result.analysis = upload_one(client, Path(result.file), options)
        result.deadline = options.clock() + options.timeout
        final = wait_for_result(client, result.analysis, result.deadline, options)
    except NotLoggedIn as exc:
        session.lost = exc.message
        result.fail("not_logged_in", exc.message)
        return
    except ApiError as exc:
        if isinstance(exc, ResultTimeout):
            result.analysis = exc.analysis
        result.fail(exc.code, exc.detail)
        return
    result.analysis = final
    result.error = _terminal_error(final)


def _finished(result: FileResult) -> bool:
    """The file got a terminal analysis (its report, or its row, says how it ended)."""
    return result.analysis is not None and result.analysis.get("status") in TERMINAL


def _report_error(result: FileResult, err: TextIO) -> None:
    """An error that kept a file from its result, on stderr (the session's, once, at the end)."""
    if result.error is None or _finished(result):
        return
    if result.error["code"] != "not_logged_in":
        err.write(f"error: {result.file}: {result.error['message']} ({result.error['code']})\n")
        err.flush()


def _stopped(results: list[FileResult], err: TextIO) -> None:
    waiting = [
        r.analysis["id"]
        for r in results
        if r.analysis and r.error is None and r.analysis.get("status") not in TERMINAL
    ]
    err.write("\nstopped waiting; the analyses go on: `realtone show ID` for\n")
    err.writelines(f"  {ident}\n" for ident in waiting)


def _run_many(
    client: Client, pending: list[FileResult], results: list[FileResult], options: Options
) -> _Session:
    """Up to ``options.jobs`` files at once, under one progress line."""
    session = _Session()
    quiet = replace(options, quiet=True)  # the files' own bars and spinners would interleave
    progress = (
        render.BatchProgress(len(pending), stream=options.err) if options.show_progress else None
    )
    lock = threading.Lock()
    queue = list(pending)
    finished: list[str] = []

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                result = queue.pop(0)
            _analyse(client, result, quiet, session)
            with lock:
                finished.append(result.outcome)
                _report_error(result, options.err)
                if progress:
                    progress.update(finished, running=len(pending) - len(finished) - len(queue))

    # Daemon threads: Ctrl-C stops waiting at once (the analyses go on on the server).
    workers = [threading.Thread(target=work, daemon=True) for _ in range(options.jobs)]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            while worker.is_alive():
                worker.join(0.2)
    except KeyboardInterrupt:
        _stopped(results, options.err)
        raise
    finally:
        if progress:
            progress.finish()
    return session


def run(client: Client, inputs: list[str], options: Options) -> list[FileResult]:
    results = [FileResult(name) for name in expand_inputs(inputs)]
    err = options.err
    if not results:
        err.write(f"error: no audio files in {', '.join(inputs)}\n")
        return [FileResult(inputs[0], error={"code": "local_file", "message": "no audio files"})]

    # 1. Every file is checked before anything is sent.
    for result in results:
        problem = check_file(Path(result.file))
        if problem:
            result.fail("local_file", problem)
            _report_error(result, err)
    pending = [r for r in results if r.error is None]

    # 2. Each file uploaded and followed to its result.
    if len(results) == 1 and pending:
        session = _Session()
        try:
            _analyse(client, pending[0], options, session)
        except KeyboardInterrupt:
            _stopped(results, err)
            raise
        _report_error(pending[0], err)
    else:
        session = _run_many(client, pending, results, options)

    # 3. What became of them.
    if session.lost is not None:
        err.write(f"error: {session.lost}\n")
    if options.json:
        json.dump([r.as_json() for r in results], options.out, indent=2)
        options.out.write("\n")
    elif len(results) == 1:
        if _finished(results[0]):
            assert results[0].analysis is not None
            options.out.write(render.analysis_report(results[0].analysis, options.color) + "\n")
    else:
        rows = [(r.file, r.analysis, r.error) for r in results]
        options.out.write(render.batch_table(rows, options.color) + "\n\n")
        options.out.write(render.tally([r.outcome for r in results]) + "\n")
    options.out.flush()
    return results
