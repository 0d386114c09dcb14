"""``realtone``: the command-line client of a RealTone deployment."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from realtone_cli import config, render
from realtone_cli.analyze import check_file, upload, wait
from realtone_cli.client import ApiError, Client, NotLoggedIn

EXIT_REAL, EXIT_FAKE, EXIT_ERROR = 0, 1, 2

DESCRIPTION = """Find out whether a recorded voice is real or synthetic.

Files are uploaded straight to the deployment's storage, cut into 4-second windows and
scored; you get a score per window and a verdict: real, likely fake, fake or inconclusive.
"""
EPILOG = """examples:
  realtone register --email me@example.com
  realtone analyze voicemail.m4a call.wav
  realtone analyze --json clip.wav | jq .
  realtone history
  realtone --api https://api.example.com login

The API is --api, else $REALTONE_API, else the one you logged in to, else
http://127.0.0.1:8000 (make run). Credentials live in $XDG_CONFIG_HOME/realtone (mode 600).
"""


def _version() -> str:
    try:
        return version("realtone")
    except PackageNotFoundError:
        return "unknown"


def _api(args: argparse.Namespace, creds: config.Credentials | None) -> str:
    return (
        args.api or os.environ.get("REALTONE_API") or (creds.api if creds else config.DEFAULT_API)
    )


def _client(args: argparse.Namespace) -> Client:
    creds = config.load()
    api = _api(args, creds)
    # A session belongs to the API it was opened on.
    return Client(api, creds if creds and creds.api.rstrip("/") == api.rstrip("/") else None)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass("Password: ")


def cmd_login(args: argparse.Namespace) -> int:
    client = _client(args)
    email = args.email or input("Email: ").strip()
    creds = client.login(email, _password(args))
    path = config.save(creds)
    print(f"logged in to {client.api} as {email} (credentials in {path})")
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    client = _client(args)
    email = args.email or input("Email: ").strip()
    password = _password(args)
    client.register(email, password)
    config.save(client.login(email, password))
    print(f"account created and logged in to {client.api} as {email}")
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    print("logged out" if config.forget() else "not logged in")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    client = _client(args)
    quiet = args.json or args.quiet
    results: list[dict[str, Any]] = []
    code = EXIT_REAL
    for name in args.files:
        path = Path(name)
        problem = check_file(path)
        if problem:
            results.append({"file": name, "error": {"code": "local_file", "message": problem}})
            print(f"error: {name}: {problem}", file=sys.stderr)
            code = EXIT_ERROR
            continue
        try:
            created = upload(client, path, quiet)
            final = wait(client, created["id"], args.timeout, quiet)
        except ApiError as exc:
            results.append({"file": name, "error": {"code": exc.code, "message": exc.message}})
            print(f"error: {name}: {exc.message} ({exc.code})", file=sys.stderr)
            code = EXIT_ERROR
            continue
        results.append({"file": name, "analysis": final})
        if not args.json:
            print(render.analysis_report(final))
        if final["status"] != "completed":
            code = EXIT_ERROR
        elif final["summary"]["verdict"] in ("fake", "likely_fake") and code != EXIT_ERROR:
            code = EXIT_FAKE
    if args.json:
        print(json.dumps(results, indent=2))
    return code


def cmd_history(args: argparse.Namespace) -> int:
    client = _client(args)
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": args.limit}
        if cursor:
            params["cursor"] = cursor
        page = client.request("GET", "/v1/analyses", params=params).json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not args.all or not cursor:
            break
    print(json.dumps(items, indent=2) if args.json else render.history_table(items))
    if cursor and not args.json:
        print("(more: --all)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    analysis = _client(args).request("GET", f"/v1/analyses/{args.id}").json()
    print(json.dumps(analysis, indent=2) if args.json else render.analysis_report(analysis))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    _client(args).request("DELETE", f"/v1/analyses/{args.id}")
    print(f"deleted {args.id}")
    return 0


def cmd_tool(args: argparse.Namespace) -> int:
    """`eval` and `train` run the scorer's own code locally (they need the full install)."""
    try:
        if args.command == "eval":
            from realtone_scorer.evaluate import main as tool
        else:
            from realtone_scorer.train import main as tool
    except ImportError as exc:
        print(
            f"error: `realtone {args.command}` needs the scorer installed (make install): {exc}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return int(tool(args.rest))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realtone",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--api", help="base URL of the RealTone API (or set REALTONE_API)")
    parser.add_argument("--version", action="version", version=f"realtone {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def account(name: str, help_text: str, func: Any) -> None:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--email", help="asked for when missing")
        p.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
        p.set_defaults(func=func)

    account("register", "create an account and log in", cmd_register)
    account(
        "login", "log in; the session is saved (mode 600) and refreshed automatically", cmd_login
    )
    p = sub.add_parser(
        "logout",
        help="forget the saved session",
        description="Delete the saved credentials ($XDG_CONFIG_HOME/realtone/credentials.json)."
        " Analyses stay on the server; log in again to see them.",
    )
    p.set_defaults(func=cmd_logout)

    p = sub.add_parser(
        "analyze",
        help="analyse audio files and print their verdicts",
        description="Upload each file straight to storage (with a progress bar), wait for the"
        " result (with a spinner) and print a table of windows and the verdict.",
        epilog="exit codes: 0 nothing was found fake (every file real or inconclusive),"
        " 1 a file is fake or likely fake, 2 something failed (a file could not be read,"
        " uploaded or analysed; this wins over 1)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="WAV, MP3, OGG, FLAC, M4A/AAC or WebM audio"
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON document (for scripts), nothing else"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar or spinner")
    p.add_argument(
        "--timeout", type=float, default=600, help="seconds to wait for each result (default 600)"
    )
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser(
        "history",
        help="list your analyses, newest first",
        description="List your analyses, newest first.",
    )
    p.add_argument("--limit", type=int, default=20, help="per page (1-100, default 20)")
    p.add_argument("--all", action="store_true", help="follow every page")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("show", help="show one analysis", description="Show one analysis.")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "delete",
        help="delete an analysis and its audio",
        description="Delete an analysis: its audio, results and cached status.",
    )
    p.add_argument("id")
    p.set_defaults(func=cmd_delete)

    for name, text in (
        ("eval", "measure a detector on a labelled set (EER, AUC, DET curve)"),
        ("train", "fine-tune a detector on labelled audio"),
    ):
        p = sub.add_parser(name, help=text, add_help=False, description=text)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=cmd_tool)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except NotLoggedIn:
        print("error: not logged in, or the session expired: run `realtone login`", file=sys.stderr)
    except ApiError as exc:
        print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
