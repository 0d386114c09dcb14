"""``realtone-local``: run the whole stack in the foreground (what ``make run`` calls)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from realtone_local.stack import ENV_FILE, DevStack, StackOptions


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    # A second Ctrl-C (or a SIGTERM from a supervisor) must not cut the shutdown short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stop(signal.Signals(signum).name)


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    options = StackOptions(localstack_port=args.localstack_port, api_port=args.api_port)
    try:
        with DevStack(options) as stack:
            stack.start_worker()
            stack.start_webhook_worker()
            stack.start_api()
            stack.write_env(ENV_FILE)
            print(
                f"\nRealTone is running\n"
                f"  web UI     {stack.api_url}/\n"
                f"  API docs   {stack.api_url}/docs\n"
                f"  health     {stack.api_url}/health\n"
                f"  S3/SQS     {stack.env['REALTONE_AWS_ENDPOINT_URL']} (LocalStack)\n"
                f"  webhooks   delivered by a local worker (log: webhooks.log)\n"
                f"  logs       {options.log_dir}/\n"
                f"Press Ctrl-C to stop.\n",
                flush=True,
            )
            while True:
                for child in stack.children:
                    if not child.alive():
                        print(f"{child.name} exited; its log:\n{child.tail()}", file=sys.stderr)
                        return 1
                time.sleep(0.5)
    except _Stop as stop:
        print(f"\n[realtone] {stop}: stopping everything", file=sys.stderr, flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def invoke(args: argparse.Namespace) -> int:
    from realtone_local.invoke import invoke as run_handler
    from realtone_local.invoke import load_event, render

    env_file = Path(args.env_file)
    if not env_file.exists():
        print(
            f"{env_file} not found: start the stack with `make run` first (or pass --env-file)",
            file=sys.stderr,
        )
        return 2
    values = dict(item.split("=", 1) for item in args.set)
    event = load_event(Path(args.event), values)
    print(render(run_handler(args.function, event, json.loads(env_file.read_text()))))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="realtone-local",
        description=(
            "Run RealTone on this machine: Postgres and Redis (the configured ones when "
            "reachable, else private ones), LocalStack S3+SQS, the API, a scorer worker and a"
            " webhook worker."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="start everything in the foreground; Ctrl-C stops it all")
    p_run.add_argument("--api-port", type=int, default=int(os.environ.get("API_PORT", "8000")))
    p_run.add_argument(
        "--localstack-port", type=int, default=int(os.environ.get("LOCALSTACK_PORT", "4566"))
    )
    p_run.set_defaults(func=run)
    p_inv = sub.add_parser(
        "invoke",
        help="replay an event file through a real handler (like `sam local invoke`)",
        description=(
            "Call a Lambda handler in-process with an event file, against the services of a "
            "running `make run` (read from its env file). ${NAME} placeholders in the file "
            "are filled from --set NAME=VALUE."
        ),
    )
    p_inv.add_argument("--function", required=True, choices=["api", "scorer", "migrations"])
    p_inv.add_argument(
        "--event", required=True, help="event JSON, e.g. tests/events/api-health.json"
    )
    p_inv.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    p_inv.add_argument("--env-file", default=str(ENV_FILE), help=f"default: {ENV_FILE}")
    p_inv.set_defaults(func=invoke)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
