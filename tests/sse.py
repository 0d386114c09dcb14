"""A plain reader of server-sent events for the tests (the wire format, not our client)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Received:
    event: str
    id: str | None
    data: Any  # parsed JSON; None for heartbeats
    comment: bool = False


def read_events(lines: Iterable[str]) -> Iterator[Received]:
    """Events (and heartbeat comments) from the lines of an event stream."""
    fields: dict[str, list[str]] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                yield Received(
                    fields.get("event", ["message"])[-1],
                    fields["id"][-1] if "id" in fields else None,
                    json.loads("\n".join(fields["data"])),
                )
            fields = {}
        elif line.startswith(":"):
            yield Received("", None, None, comment=True)
        else:
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))


def without_speakers(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Windows as published while scoring: speakers are told apart only once every window
    is known, so the final document's windows carry them and the earlier ones do not."""
    return [{**c, "speaker": None, "overlap": False} for c in chunks]
