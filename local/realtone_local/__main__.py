"""``realtone-local``: run the whole stack in the foreground (what ``make run`` calls)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from types import FrameType

from realtone_local.stack import DevStack, StackOptions


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
            stack.start_api()
            print(
                f"\nRealTone is running\n"
                f"  web UI     {stack.api_url}/\n"
                f"  API docs   {stack.api_url}/docs\n"
                f"  health     {stack.api_url}/health\n"
                f"  S3/SQS     {stack.env['REALTONE_AWS_ENDPOINT_URL']} (LocalStack)\n"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="realtone-local",
        description=(
            "Run RealTone on this machine: Postgres and Redis (the configured ones when "
            "reachable, else private ones), LocalStack S3+SQS, the API and a scorer worker."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="start everything in the foreground; Ctrl-C stops it all")
    p_run.add_argument("--api-port", type=int, default=int(os.environ.get("API_PORT", "8000")))
    p_run.add_argument(
        "--localstack-port", type=int, default=int(os.environ.get("LOCALSTACK_PORT", "4566"))
    )
    p_run.set_defaults(func=run)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
