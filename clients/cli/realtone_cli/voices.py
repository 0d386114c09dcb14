"""``realtone voices``: enrol voices, list and delete them, and find the analyses in which a
voice speaks. A file given where an analysis is expected is uploaded and analysed first
(as ``realtone analyze`` does), then its main speaker is used: the one with the most speech."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realtone_cli import render
from realtone_cli.analyze import Options, upload_one, wait_for_result
from realtone_cli.client import ApiError, Client
from realtone_cli.upload import check_file

_ANALYSIS = re.compile(
    r"^(?P<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"(?::(?P<speaker>\d+))?$"
)


@dataclass(frozen=True)
class SpeakerRef:
    """A speaker of an analysis; ``file`` when the analysis was made from a file here."""

    analysis_id: str
    speaker: int
    file: str | None = None


def parse_ref(text: str) -> tuple[str, int | None] | None:
    """``ANALYSIS_ID`` or ``ANALYSIS_ID:SPEAKER`` → (id, speaker or None); None: not one."""
    found = _ANALYSIS.match(text.strip())
    if found is None:
        return None
    speaker = found["speaker"]
    return found["id"].lower(), int(speaker) if speaker is not None else None


def main_speaker(analysis: dict[str, Any]) -> int:
    """The speaker with the most speech (the scorer numbers them so: speaker 0)."""
    speakers = (analysis.get("summary") or {}).get("speakers") or []
    timed = [s for s in speakers if isinstance(s, dict) and "speaker" in s]
    if not timed:
        return 0
    return int(max(timed, key=lambda s: float(s.get("seconds") or 0))["speaker"])


def analyse_file(client: Client, path: Path, options: Options) -> dict[str, Any]:
    """Upload the file as an analysis and wait for it to complete (ApiError otherwise)."""
    problem = check_file(path)
    if problem:
        raise ApiError(0, "local_file", f"{path}: {problem}")
    created = upload_one(client, path, options)
    final = wait_for_result(client, created, options.clock() + options.timeout, options)
    if final.get("status") != "completed":
        error = final.get("error") or {}
        why = error.get("message") or final.get("status")
        raise ApiError(
            0,
            str(error.get("code") or final.get("status")),
            f"{path.name}: the analysis did not complete ({why})",
        )
    return final


def resolve(client: Client, item: str, options: Options) -> SpeakerRef:
    """An analysis id (with its speaker, default the main one), or a file to analyse."""
    ref = parse_ref(item)
    if ref is not None:
        ident, speaker = ref
        if speaker is None:
            speaker = main_speaker(client.get_analysis(ident).analysis or {})
        return SpeakerRef(ident, speaker)
    if not Path(item).exists():
        raise ApiError(0, "local_file", f"{item}: neither an analysis id nor a file")
    analysis = analyse_file(client, Path(item), options)
    return SpeakerRef(str(analysis["id"]), main_speaker(analysis), item)


def voices_table(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no voices enrolled yet"
    lines = [f"{'created (UTC)':<17} {'name':<24} {'sources':>7}  id"]
    for v in items:
        created = str(v.get("created_at", ""))[:16].replace("T", " ")
        name = str(v.get("name", ""))
        name = name if len(name) <= 24 else name[:23] + "~"
        lines.append(f"{created:<17} {name:<24} {len(v.get('sources') or []):>7}  {v.get('id')}")
    return "\n".join(lines)


def search_table(items: list[dict[str, Any]], color: bool = False) -> str:
    if not items:
        return "no analysis with this voice"
    lines = [
        f"{'created (UTC)':<17} {'similarity':>10} {'speaker':>7}  {'verdict':<12}"
        f" {'file':<28} analysis"
    ]
    for hit in items:
        created = str(hit.get("created_at", ""))[:16].replace("T", " ")
        name = str(hit.get("filename", ""))
        name = name if len(name) <= 28 else name[:27] + "~"
        verdict = str(hit.get("verdict") or "")
        shown = render.paint_verdict(verdict, color) + " " * max(0, 12 - len(verdict))
        lines.append(
            f"{created:<17} {hit.get('similarity', 0):>10.3f} {hit.get('speaker', ''):>7}"
            f"  {shown} {name:<28} {hit.get('analysis_id')}"
        )
    return "\n".join(lines)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
