"""Loading the event files of ``tests/events/`` with their ``${NAME}`` placeholders filled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"


def load_event(name: str, **values: str) -> dict[str, Any]:
    text = (EVENTS / name).read_text()
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    return json.loads(text)
