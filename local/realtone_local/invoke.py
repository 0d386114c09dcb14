"""Replay an event file through a real handler, like ``sam local invoke`` without Docker.

The handler runs in this process against the services of a running ``make run`` (their
settings are read from the stack's env file) or any environment you provide.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

HANDLERS = {
    "api": ("realtone_api.main", "handler"),
    "scorer": ("realtone_scorer.handler", "lambda_handler"),
    "migrations": ("realtone_api.migrations_resource", "handler"),
}


def load_event(path: Path, values: dict[str, str]) -> dict[str, Any]:
    text = path.read_text()
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    event: dict[str, Any] = json.loads(text)
    return event


def invoke(function: str, event: dict[str, Any], env: dict[str, str]) -> Any:
    import importlib

    from realtone_scorer.worker import LocalLambdaContext

    os.environ.update(env)
    module_name, attribute = HANDLERS[function]
    # The functions log JSON to stdout (as in Lambda); here stdout carries only the result.
    with contextlib.redirect_stdout(sys.stderr):
        handler = getattr(importlib.import_module(module_name), attribute)
        return handler(event, LocalLambdaContext(function_name=f"realtone-{function}-local"))


def render(response: Any) -> str:
    """The handler's response as JSON, with an API body decoded for reading."""
    if isinstance(response, dict) and isinstance(response.get("body"), str):
        with contextlib.suppress(ValueError):
            response = {**response, "body": json.loads(response["body"])}
    return json.dumps(response, indent=2, default=str)
