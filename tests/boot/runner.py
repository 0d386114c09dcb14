"""Run in a fresh process with exactly a function's environment: import the handler's module
(its init phase, as a cold start), call the handler with each event, write the responses.

``python -m tests.boot.runner module:attribute events.json responses.json``
Imports nothing of RealTone itself, so the function's own imports are what is tested.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import time
import uuid
from typing import Any


class Context:
    """What a handler reads of the Lambda context."""

    def __init__(self) -> None:
        region = os.environ["AWS_REGION"]
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"))
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}"
        )
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "boot-test"
        self._deadline = time.monotonic() + 900

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    target, events_path, out_path = sys.argv[1:4]
    module_name, attribute = target.split(":")
    with open(events_path) as f:
        events: list[dict[str, Any]] = json.load(f)
    # Function logs go to stdout as on Lambda; responses go to the file.
    handler = getattr(importlib.import_module(module_name), attribute)
    responses = []
    for event in events:
        with contextlib.redirect_stdout(sys.stderr):
            responses.append(handler(event, Context()))
    with open(out_path, "w") as f:
        json.dump(responses, f, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
