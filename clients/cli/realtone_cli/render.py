"""Terminal output: progress bars and status lines on stderr, reports and tables on stdout.

Bars and spinners are drawn only when stderr is a terminal; otherwise a few plain lines
say how far things are, so logs of scripted runs stay readable.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

VERDICTS = {
    "fake": "most of the speech looks synthetic",
    "likely_fake": "some of the speech looks synthetic",
    "real": "no window looks synthetic",
    "inconclusive": "no speech to judge, or too close to call",
}
STATUS_WORDS = {
    "awaiting_upload": "waiting for the upload to arrive",
    "queued": "queued for analysis",
    "processing": "analysing",
    "completed": "done",
    "failed": "failed",
    "expired": "the upload never arrived",
}
ERRORS = {
    "unsupported_format": "this is not an audio format RealTone accepts",
    "corrupt_audio": "the file is damaged or not audio",
    "empty_audio": "the file contains no sound",
    "too_short": "the audio is too short (under half a second)",
    "too_long": "the audio is longer than the limit",
    "too_large": "the file is larger than the limit",
    "upload_missing": "the upload never arrived",
    "unsupported_sample_rate": "the audio's sample rate is outside 8-384 kHz",
    "quota_exceeded": "today's allowance of analysed audio is used up",
    "internal_error": "RealTone could not finish the analysis; try again later",
}
BAR_WIDTH = 20


def _stderr() -> TextIO:
    return sys.stderr


def use_color(stream: TextIO) -> bool:
    """ANSI colours only on a terminal, and never with NO_COLOR set or TERM=dumb."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _paint(text: str, code: str, color: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if color else text


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


SPARK_WIDTH = 40
_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(scores: list[float | None]) -> str:
    """Window scores as bars, low (real) to high (synthetic); ``·`` for unjudged windows."""
    return "".join(
        "·" if s is None else _SPARKS[min(int(s * len(_SPARKS)), len(_SPARKS) - 1)] for s in scores
    )


class Progress:
    """An upload progress bar on stderr when it is a terminal; lines at 25 % steps otherwise."""

    REDRAW_SECONDS = 0.1

    def __init__(
        self,
        label: str,
        total: int,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream or _stderr()
        self.tty = self.stream.isatty()
        self.clock = clock
        self.started = clock()
        self._drawn_at = -1.0
        self._next_step = 25
        self._finished = False

    def reset(self) -> None:
        """The body is being sent again from its start (httpx rewinds the file)."""
        self.done = 0

    def advance(self, amount: int) -> None:
        self.done = min(self.total, self.done + amount)
        pct = self.done * 100 // self.total
        if self.tty:
            now = self.clock()
            complete = self.done == self.total and amount > 0
            if complete or now - self._drawn_at >= self.REDRAW_SECONDS:
                self._drawn_at = now
                self._draw(pct, now)
        elif pct >= self._next_step:
            self.stream.write(f"{self.label}: {pct}% of {human_bytes(self.total)}\n")
            self.stream.flush()
            self._next_step = (pct // 25 + 1) * 25

    def _draw(self, pct: int, now: float) -> None:
        elapsed = max(now - self.started, 1e-6)
        rate = f"{human_bytes(self.done / elapsed)}/s"
        filled = pct * BAR_WIDTH // 100
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        tail = f" [{bar}] {pct:3d}%  {human_bytes(self.done)} / {human_bytes(self.total)}  {rate}"
        width = shutil.get_terminal_size((80, 24)).columns - 1
        label = self.label[: max(8, width - len(tail))]
        self.stream.write(f"\r{label}{tail}"[: width + 1] + "\033[K")
        self.stream.flush()

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class StatusLine:
    """A spinner with the status in words while a result is awaited.

    On a terminal it animates (call ``sleep`` to wait while it spins); otherwise it prints
    a line when the status changes and a "still ..." line every ``every`` seconds.
    """

    FRAMES = "|/-\\"

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        every: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        sleeper: Callable[[float], None] = time.sleep,
    ) -> None:
        self.label = label
        self.stream = stream or _stderr()
        self.tty = self.stream.isatty()
        self.every = every
        self.clock = clock
        self.sleeper = sleeper
        self.started = clock()
        self.text = ""
        self._frames = itertools.cycle(self.FRAMES)
        self._printed_at = 0.0
        self._width = 0

    def update(self, text: str) -> None:
        now = self.clock()
        if self.tty:
            self.text = text
            self._draw()
            return
        if text != self.text:
            self.stream.write(f"{self.label}: {text}\n")
            self._printed_at = now
        elif now - self._printed_at >= self.every:
            self.stream.write(f"{self.label}: still {text} ({now - self.started:.0f} s)\n")
            self._printed_at = now
        self.stream.flush()
        self.text = text

    def _draw(self) -> None:
        elapsed = self.clock() - self.started
        line = f"{next(self._frames)} {self.label}: {self.text} ({elapsed:.0f} s)"
        width = shutil.get_terminal_size((80, 24)).columns - 1
        line = line[:width]
        self.stream.write("\r" + line.ljust(self._width))
        self._width = len(line)
        self.stream.flush()

    def sleep(self, seconds: float) -> None:
        """Wait, animating the spinner on a terminal."""
        end = self.clock() + seconds
        while True:
            left = end - self.clock()
            if left <= 0:
                return
            self.sleeper(min(left, 0.1 if self.tty else left))
            if self.tty and self.text:
                self._draw()

    def finish(self) -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def bar(score: float | None, width: int = BAR_WIDTH) -> str:
    if score is None:
        return ""
    filled = round(min(max(score, 0.0), 1.0) * width)
    return "#" * filled + "." * (width - filled)


def _score(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "n/a"


def _verdict(verdict: str, color: bool) -> str:
    code = {"fake": "1;31", "likely_fake": "1;33", "real": "1;32"}.get(verdict, "1")
    return _paint(verdict, code, color)


paint_verdict = _verdict


# Why a window or a file could not be judged (DESIGN §7: reason), in plain words.
REASONS = {
    "no_speech": "no speech",
    "music_or_noise": "music/noise",
    "clipped": "clipped",
    "too_short": "too little speech",
}


def _who(chunk: dict[str, Any]) -> str:
    if chunk.get("speaker") is not None:
        return str(chunk["speaker"])
    return "2 voices" if chunk.get("overlap") else "-"


def window_table(chunks: list[dict[str, Any]], threshold: float | None) -> list[str]:
    speakers = any(c.get("speaker") is not None or c.get("overlap") for c in chunks)
    lines = ["  window    start      end" + ("   speaker" if speakers else "") + "      score"]
    for c in chunks:
        voiced = c.get("score") is not None
        score = _score(c["score"]) if voiced else REASONS.get(c.get("reason") or "", "no speech")
        mark = ""
        if voiced and threshold is not None and c["score"] >= threshold:
            mark = "  <- fake"
        who = f"  {_who(c):>8}" if speakers else ""
        lines.append(
            f"  {c['chunk_id']:>6}  {c['start_time_seconds']:6.1f}s  {c['end_time_seconds']:6.1f}s"
            f"{who}  {score:>9}  {bar(c['score'] if voiced else None)}{mark}".rstrip()
        )
    return lines


def speaker_lines(summary: dict[str, Any], color: bool = False) -> list[str]:
    """A verdict per voice, and the alert when one imitates an enrolled voice."""
    lines = []
    for s in summary.get("speakers") or []:
        known = s.get("enrolled_voice")
        like = f", sounds like {known['name']} ({_score(known['similarity'])})" if known else ""
        verdict = _verdict(s["verdict"], color)
        lines.append(
            f"  speaker {s['speaker']}: {verdict} (score {_score(s['score'])};"
            f" {s['seconds']:.0f} s, {s['share'] * 100:.0f} % of the audio{like})"
        )
    alert = summary.get("impersonation")
    if alert:
        text = (
            f"  ALERT:   speaker {alert['speaker']} sounds like {alert['name']}"
            f" ({_score(alert['similarity'])}) and the voice is synthetic"
        )
        lines.append(_paint(text, "1;31", color))
    return lines


def model_lines(model: dict[str, Any] | None, color: bool = False) -> list[str]:
    if not model:
        return []
    facts = [f"sha256 {str(model.get('sha256') or '?')[:12]}"]
    facts.append("trained" if model.get("trained") else "untrained")
    if model.get("calibrated"):
        facts.append("calibrated")
    lines = [f"  model:   {model.get('name', '?')} {model.get('version', '')} ({', '.join(facts)})"]
    if not model.get("trained"):
        warning = (
            "  warning: this model is untrained (a development model): its scores and"
            " verdicts mean nothing"
        )
        lines.append(_paint(warning, "33", color))
    return lines


def analysis_report(a: dict[str, Any], color: bool = False) -> str:
    """The human report of one analysis: windows, verdict, model card."""
    lines = [f"{a.get('filename', '?')}  (analysis {a.get('id', '?')})"]
    status = a.get("status", "")
    if status in ("failed", "expired"):
        error = a.get("error") or {}
        code = error.get("code") or status
        explained = ERRORS.get(code, STATUS_WORDS.get(status, status))
        detail = error.get("message")
        text = f"  {_paint('failed', '1;31', color)}: {explained} ({code})"
        lines.append(text + (f"\n  server said: {detail}" if detail else ""))
        return "\n".join(lines)
    if status != "completed":
        lines.append(f"  status:  {STATUS_WORDS.get(status, status)}")
        return "\n".join(lines)
    summary = a.get("summary") or {}
    threshold = summary.get("threshold")
    chunks = a.get("chunks") or []
    lines.extend(window_table(chunks, threshold))
    verdict = summary.get("verdict", "?")
    voiced = [c for c in chunks if c.get("score") is not None]
    fakes = sum(1 for c in voiced if threshold is not None and c["score"] >= threshold)
    explained = VERDICTS.get(verdict, verdict)
    if summary.get("reason"):
        explained = f"nothing could be judged: {REASONS.get(summary['reason'], summary['reason'])}"
    lines.append(f"  verdict: {_verdict(verdict, color)} - {explained}")
    lines.append(
        f"  score:   {_score(summary.get('score'))} overall (threshold {_score(threshold)};"
        f" {fakes} of {len(voiced)} speech windows at or above it)"
    )
    lines.extend(speaker_lines(summary, color))
    lines.extend(model_lines(a.get("model"), color))
    if a.get("duration_seconds") is not None:
        processing = a.get("processing_ms")
        took = f", analysed in {processing / 1000:.1f} s" if processing is not None else ""
        lines.append(f"  audio:   {a['duration_seconds']:.1f} s{took}")
    gone = audio_gone(a.get("audio_deleted"))
    if gone:
        lines.append(f"  stored:  {gone}")
    return "\n".join(lines)


def audio_gone(deleted: dict[str, Any] | None) -> str | None:
    """Why the audio of an analysis is no longer kept (its account's retention), if it is not."""
    if not deleted:
        return None
    if deleted.get("reason") == "zero_retention":
        return "audio not kept: zero-retention (deleted as soon as it was analysed)"
    days = deleted.get("retention_days")
    return f"audio deleted after {days} day{'s' if days != 1 else ''} (the account's retention)"


def retention_words(value: int | str) -> str:
    """The account's retention setting in words."""
    if value == "zero":
        return "zero-retention: uploaded audio is deleted as soon as it is analysed"
    return f"uploaded audio is kept {value} day{'s' if value != 1 else ''}, then deleted"


def history_table(items: list[dict[str, Any]], color: bool = False) -> str:
    if not items:
        return "no analyses yet"
    header = (
        f"{'created (UTC)':<17} {'status':<15} {'verdict':<12} {'score':>5}"
        f" {'length':>7}  {'file':<28} id"
    )
    lines = [header]
    for a in items:
        summary = a.get("summary") or {}
        error = a.get("error") or {}
        verdict = summary.get("verdict") or error.get("code") or ""
        score = f"{summary['score']:.2f}" if summary.get("score") is not None else ""
        duration = a.get("duration_seconds")
        length = f"{duration:.1f}s" if duration is not None else ""
        created = str(a.get("created_at", ""))[:16].replace("T", " ")
        name = str(a.get("filename", ""))
        name = name if len(name) <= 28 else name[:27] + "~"
        shown = _verdict(verdict, color) + " " * max(0, 12 - len(verdict))
        lines.append(
            f"{created:<17} {a.get('status', ''):<15} {shown} {score:>5}"
            f" {length:>7}  {name:<28} {a.get('id', '')}"
        )
    return "\n".join(lines)


def batch_table(
    rows: list[tuple[str, dict[str, Any] | None, dict[str, str] | None]], color: bool = False
) -> str:
    """One line per file of a batch: verdict, score, windows judged, file, and the analysis
    id (``realtone show ID`` for its windows) or what went wrong."""
    lines = [f"{'verdict':<12} {'score':>5} {'windows':>8}  {'file':<32} analysis / error"]
    for file, a, error in rows:
        summary = (a or {}).get("summary") or {}
        verdict = str(summary.get("verdict") or "error")
        score = "" if summary.get("score") is None else f"{summary['score']:.3f}"
        chunks = (a or {}).get("chunks") or []
        judged = sum(c.get("score") is not None for c in chunks)
        windows = f"{judged}/{len(chunks)}" if chunks else ""
        name = file if len(file) <= 32 else "~" + file[-31:]
        shown = _verdict(verdict, color) + " " * max(0, 12 - len(verdict))
        tail = f"{error['message']} ({error['code']})" if error else str((a or {}).get("id", ""))
        lines.append(f"{shown} {score:>5} {windows:>8}  {name:<32} {tail}")
    return "\n".join(lines)


class BatchProgress:
    """One line for many files: ``3 of 10 done (2 real, 1 fake) · 4 running``; redrawn on a
    terminal, a line per finished file otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or _stderr()
        self.tty = self.stream.isatty()

    def update(self, outcomes: list[str], running: int) -> None:
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome] = counts.get(outcome, 0) + 1
        detail = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        text = f"{len(outcomes)} of {self.total} done ({detail}) · {running} running"
        if self.tty:
            self.stream.write("\r" + text + "\033[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def tally(outcomes: list[str]) -> str:
    """``3 files: 1 real, 1 likely_fake, 1 error``."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    order = ["fake", "likely_fake", "real", "inconclusive", "error"]
    parts = [f"{counts[k]} {k}" for k in order if k in counts]
    parts += [f"{n} {k}" for k, n in counts.items() if k not in order]
    return f"{len(outcomes)} files: " + ", ".join(parts)


def deliveries_report(items: list[dict[str, Any]]) -> str:
    """The webhook deliveries of an analysis, one line per try."""
    if not items:
        return "no webhook deliveries (no callback_url and no account webhook_url)"
    lines = []
    for d in items:
        lines.append(f"{d['event']} -> {d['url']}: {d['status']} (delivery {d['id']})")
        for a in d.get("attempts") or []:
            answer = f"HTTP {a['status_code']}" if a.get("status_code") else ""
            if a.get("error"):
                answer = f"{answer} {a['error']}".strip()
            retry = f", next try {a['next_retry_at']}" if a.get("next_retry_at") else ""
            lines.append(
                f"  try {a['attempt']} at {a['started_at']}: {answer} in {a['duration_ms']} ms"
                f"{retry}"
            )
        if d["status"] == "pending" and d.get("next_attempt_at") and not d.get("attempts"):
            lines.append(f"  first try due {d['next_attempt_at']}")
    return "\n".join(lines)
