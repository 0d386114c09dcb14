"""Terminal output: progress bars, spinners, window tables and verdicts."""

from __future__ import annotations

import itertools
import sys
import time
from typing import Any, TextIO

VERDICTS = {
    "fake": "FAKE - most of the speech looks synthetic",
    "likely_fake": "LIKELY FAKE - some windows look synthetic",
    "real": "REAL - no window looks synthetic",
    "inconclusive": "INCONCLUSIVE - no speech to judge (or too close to call)",
}
STATUS_WORDS = {
    "awaiting_upload": "waiting for the upload",
    "queued": "queued for analysis",
    "processing": "analysing",
    "completed": "done",
    "failed": "failed",
    "expired": "upload window expired",
}
ERRORS = {
    "unsupported_format": "this is not an audio format RealTone accepts",
    "corrupt_audio": "the file is damaged or not audio",
    "empty_audio": "the file contains no sound",
    "too_short": "the audio is too short (under half a second)",
    "too_long": "the audio is longer than the limit",
    "too_large": "the file is larger than the limit",
    "upload_missing": "the upload never arrived",
    "internal_error": "RealTone could not finish the analysis; try again later",
}


class Progress:
    """A progress bar on stderr when it is a terminal; a few plain lines otherwise."""

    def __init__(self, label: str, total: int, stream: TextIO = sys.stderr) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream
        self.tty = stream.isatty()
        self._last_pct = -25

    def advance(self, amount: int) -> None:
        self.done += amount
        pct = min(100, int(self.done * 100 / self.total))
        if self.tty:
            filled = pct * 30 // 100
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {pct:3d}%")
            self.stream.flush()
        elif pct >= self._last_pct + 25:
            self._last_pct = pct - pct % 25
            self.stream.write(f"{self.label}: {pct}%\n")

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")


class Spinner:
    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.frames = itertools.cycle("|/-\\")
        self.last = ""

    def show(self, text: str) -> None:
        if self.tty:
            self.stream.write(f"\r{next(self.frames)} {text}   ")
            self.stream.flush()
        elif text != self.last:
            self.stream.write(f"{text}\n")
        self.last = text

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * (len(self.last) + 6) + "\r")


def bar(score: float | None, width: int = 20) -> str:
    if score is None:
        return ""
    filled = round(score * width)
    return "#" * filled + "." * (width - filled)


def analysis_report(a: dict[str, Any]) -> str:
    lines = [f"{a['filename']}  ({a['id']})"]
    if a["status"] == "failed":
        error = a.get("error") or {}
        lines.append(
            f"  failed: {ERRORS.get(error.get('code', ''), error.get('message', ''))}"
            f" ({error.get('code')})"
        )
        return "\n".join(lines)
    if a["status"] != "completed":
        lines.append(f"  {STATUS_WORDS.get(a['status'], a['status'])}")
        return "\n".join(lines)
    lines.append("  window   start    end      score")
    for c in a["chunks"]:
        score = "no speech" if not c["voiced"] or c["score"] is None else f"{c['score']:.3f}"
        lines.append(
            f"  {c['chunk_id']:>6}  {c['start_time_seconds']:6.1f}s {c['end_time_seconds']:6.1f}s"
            f"  {score:>9}  {bar(c['score'] if c['voiced'] else None)}"
        )
    s = a["summary"]
    overall = f"{s['score'] * 100:.0f} %" if s.get("score") is not None else "n/a"
    lines.append(
        f"  verdict: {VERDICTS.get(s['verdict'], s['verdict'])} (overall score {overall},"
        f" threshold {s['threshold']})"
    )
    model = a.get("model") or {}
    if model:
        lines.append(f"  model: {model['name']} {model['version']}")
        if not model.get("trained"):
            lines.append(
                "  WARNING: this model is untrained (a development model): its scores mean nothing."
            )
    if a.get("duration_seconds") is not None:
        lines.append(
            f"  duration {a['duration_seconds']:.1f} s,"
            f" analysed in {a.get('processing_ms') or 0} ms"
        )
    return "\n".join(lines)


def history_table(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no analyses yet"
    lines = [f"{'created':<20} {'status':<16} {'verdict':<13} {'file':<30} id"]
    for a in items:
        verdict = (
            (a.get("summary") or {}).get("verdict") or (a.get("error") or {}).get("code") or ""
        )
        created = a["created_at"][:19].replace("T", " ")
        lines.append(
            f"{created:<20} {a['status']:<16} {verdict:<13} {a['filename'][:30]:<30} {a['id']}"
        )
    return "\n".join(lines)


def sleep(seconds: float) -> None:
    time.sleep(seconds)
