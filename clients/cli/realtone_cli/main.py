"""``realtone``: the command-line client of a RealTone deployment (argparse + dispatch)."""

from __future__ import annotations

import argparse
import getpass
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from realtone_cli import analyze, config, render, voices
from realtone_cli.client import ApiError, Client, NotLoggedIn

EXIT_OK, EXIT_FAKE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

DESCRIPTION = """\
Find out whether a recorded voice is real or synthetic ("deepfake").

Files go straight to the deployment's storage, are cut into 4-second windows and scored;
you get a score per window and a verdict: fake, likely_fake, real or inconclusive.
"""
EPILOG = """\
examples:
  realtone register --email me@example.com
  realtone analyze voicemail.m4a call.wav
  realtone analyze --json clip.wav | jq '.[0].analysis.summary'
  realtone history --all
  realtone --api https://realtone.example.com login

which API: --api URL, else $REALTONE_API, else the API you logged in to, else
http://127.0.0.1:8000 (what `make run` serves). The session is kept in
$XDG_CONFIG_HOME/realtone/credentials.json (default ~/.config/realtone/, mode 600).

exit codes: 0 success (for analyze: nothing fake), 1 analyze found a fake or likely fake
file, or a synthetic voice that sounds like one of your enrolled voices, 2 error (not
logged in, API unreachable or refusing, bad file, failed analysis), 130 interrupted.
`realtone COMMAND --help` explains each command.
"""
ACCOUNT_EPILOG = """\
examples:
  realtone {name} --email me@example.com          # asks for the password
  realtone {name} --email me@example.com --password-stdin < password.txt
  realtone --api https://realtone.example.com {name}

The session ({{api, access_token, refresh_token, email}}) is saved in
$XDG_CONFIG_HOME/realtone/credentials.json (default ~/.config/realtone/), mode 600 in a
mode 700 directory. Access tokens are refreshed automatically; when that is no longer
possible, commands say "Session expired: run `realtone login`".

exit codes: 0 {done}, 2 error (wrong password, {extra}API unreachable)
"""
ANALYZE_EPILOG = """\
examples:
  realtone analyze voicemail.m4a
  realtone analyze *.wav --timeout 120
  realtone analyze recordings/ --jobs 8          # every audio file under the folder
  realtone analyze --json call.wav > result.json
  realtone analyze --quiet clip.ogg && echo "nothing fake"

Each file is checked locally first (exists, readable, not empty), then uploaded straight
to storage (progress bar on a terminal), then its result is awaited (spinner with the
status) and printed: one line per 4-second window (score 0..1, higher = more likely
synthetic, or "no speech"), the verdict with the overall score, and the model that scored
it. A warning is printed when that model is untrained (the development model).

--json prints one JSON list on stdout, one entry per file in the order given:
  {"file": NAME, "analysis": Analysis or null, "error": {"code", "message"} or null}
"error" is set when the file could not be checked, uploaded or analysed (a failed
analysis keeps its "analysis" too). Progress and messages go to stderr only.

exit codes:
  0  every file is real or inconclusive (no speech / too close to call)
  1  at least one file is fake or likely_fake, or has a synthetic speaker that sounds like
     one of your enrolled voices (an impersonation), and nothing failed
  2  something failed: a file is missing, unreadable or empty, the upload was refused,
     an analysis failed (corrupt_audio, too_short, ...) or timed out, the API could not
     be reached, or you are not logged in. This wins over 1: the answer is incomplete.
"""
HISTORY_EPILOG = """\
examples:
  realtone history                 # the 20 newest
  realtone history --limit 5
  realtone history --all --json | jq '.items[] | select(.summary.verdict == "fake") | .id'

--json prints {"items": [...], "next_cursor": str or null} (analyses without windows).

exit codes: 0 listed, 2 error (not logged in, API unreachable)
"""
SHOW_EPILOG = """\
examples:
  realtone show 0b0f5f0e-5c2a-4f7e-9d3e-2a6d1f0c9b11
  realtone show 0b0f5f0e-5c2a-4f7e-9d3e-2a6d1f0c9b11 --json | jq .summary

exit codes: 0 shown (whatever the verdict), 2 error ("no such analysis", not logged in)
"""
ACCOUNT_SETTINGS_EPILOG = """\
examples:
  realtone account                       # who you are and how long your audio is kept
  realtone account --retention 7         # keep uploaded audio 7 days, then delete it
  realtone account --retention zero      # zero-retention: delete audio once analysed
  realtone account --json
  realtone account --delete              # asks you to type your email to confirm
  realtone account --delete --yes        # no question (scripts)

Retention: results (verdicts, windows) stay until you delete them; the uploaded audio is
kept for the account's retention, 30 days unless you change it (1-3650), or not at all
with zero-retention: it is deleted as soon as its analysis is completed or failed, and
`realtone show` says "audio not kept". A change applies to audio already stored too:
what it no longer keeps is deleted within minutes.

--delete deletes the account for good: every analysis and its audio, cached results and
sessions. The saved session here is removed too.

exit codes: 0 shown, changed or deleted; 2 error (not logged in, bad --retention, API
unreachable, deletion not confirmed)
"""
DELIVERIES_EPILOG = """\
examples:
  realtone analyze --callback-url https://hooks.example.com/realtone call.wav
  realtone deliveries 0b0f5f0e-5c2a-4f7e-9d3e-2a6d1f0c9b11

exit codes: 0 shown (also when there is none), 2 error ("no such analysis", not logged in)
"""
DELETE_EPILOG = """\
example:
  realtone delete 0b0f5f0e-5c2a-4f7e-9d3e-2a6d1f0c9b11

exit codes: 0 deleted, 2 error ("no such analysis", not logged in, API unreachable)
"""
VOICES_EPILOG = """\
examples:
  realtone voices enroll "Alice" alice-1.wav alice-2.m4a     # files: analysed first
  realtone voices enroll "Bob" 0b0f5f0e-5c2a-4f7e-9d3e-2a6d1f0c9b11:1
  realtone voices list
  realtone voices search suspicious-call.wav                 # where else does it speak?
  realtone voices search 0b0f5f0e-5c2a-4f7e-9d3e-2a6d1f0c9b11:1 --all
  realtone voices search --voice 6d4c0a4e-9a4e-4c51-8f0c-2b1f3e9d7a10
  realtone voices delete 6d4c0a4e-9a4e-4c51-8f0c-2b1f3e9d7a10

The scorer finds the speakers of each recording, numbered by how much they speak (speaker 0
speaks most), with a voice (a speaker embedding) each. Where an analysis is expected you can
give ANALYSIS_ID (its speaker 0, the one with the most speech), ANALYSIS_ID:SPEAKER, or an
audio FILE: it is uploaded and analysed like `realtone analyze` does (it stays in your
history), then its main speaker is used. Only your own analyses are searched. Analyses made
under zero-retention keep no voices, so they can be neither searched for nor enrolled from.

exit codes: 0 done (also when a search finds nothing), 2 error (not logged in, no such
analysis/voice/speaker, a file that could not be analysed, API unreachable)
"""


class UsageProblem(Exception):
    """A problem with what the user gave us (printed as ``error: ...``, exit 2)."""


def _version() -> str:
    try:
        return version("realtone")
    except PackageNotFoundError:
        return "unknown"


def resolve_api(flag: str | None, saved: config.Credentials | None) -> str:
    """--api, else $REALTONE_API, else the API of the saved session, else the local one."""
    return (
        flag
        or os.environ.get("REALTONE_API")
        or (saved.api if saved else None)
        or config.DEFAULT_API
    ).rstrip("/")


def make_client(args: argparse.Namespace) -> Client:
    saved = config.load()
    api = resolve_api(args.api, saved)
    reason = None
    if saved is not None and not saved.belongs_to(api):
        # A session belongs to the API it was opened on; never send its token elsewhere.
        reason = (
            f"not logged in to {api} (your saved session is for {saved.api}):"
            f" run `realtone --api {api} login`"
        )
        saved = None
    return Client(api, saved, not_logged_in=reason)


# -- account commands ------------------------------------------------------------------------


def _ask(prompt: str) -> str:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise UsageProblem("no answer on standard input (pass --email)")
    return line.strip()


def _email(args: argparse.Namespace) -> str:
    if args.email:
        return str(args.email).strip()
    if args.password_stdin:
        raise UsageProblem("--password-stdin needs --email (standard input holds the password)")
    email = _ask("Email: ")
    if not email:
        raise UsageProblem("an email address is needed")
    return email


def _password(args: argparse.Namespace, confirm: bool = False) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            password = getpass.getpass("Password: ")
            if confirm and getpass.getpass("Repeat the password: ") != password:
                raise UsageProblem("the passwords do not match")
        except EOFError as exc:
            raise UsageProblem("no password given (use --password-stdin in scripts)") from exc
    if not password:
        raise UsageProblem("an empty password")
    return password


def cmd_login(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        email = _email(args)
        credentials = client.login(email, _password(args))
        path = config.save(credentials)
    print(f"logged in to {client.api} as {email} (session saved in {path})")
    return EXIT_OK


def cmd_register(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        email = _email(args)
        password = _password(args, confirm=True)
        # The API answers alike whether or not the email already had an account (so that
        # nobody can learn which emails do): logging in is what tells.
        client.register(email, password)
        try:
            credentials = client.login(email, password)
        except ApiError as exc:
            if exc.code == "invalid_credentials":
                raise ApiError(
                    exc.status,
                    exc.code,
                    "registered, but this password does not log in: if the email already has"
                    " an account, use `realtone login` with its password",
                ) from exc
            raise
        path = config.save(credentials)
    print(f"registered {email} on {client.api}; logged in (session saved in {path})")
    return EXIT_OK


def cmd_logout(args: argparse.Namespace) -> int:
    path = config.credentials_path()
    saved = config.load()
    ended = ""
    if saved is not None and saved.refresh_token:
        # The session ends on the server too; the local copy goes whatever happens.
        with Client(saved.api, saved) as client:
            try:
                client.logout(saved.refresh_token)
                ended = f"session ended on {saved.api}; "
            except ApiError as exc:
                print(f"warning: the session could not be ended on the server: {exc.detail}")
    if config.forget():
        print(f"logged out ({ended}removed {path})")
    else:
        print("not logged in; nothing to do")
    return EXIT_OK


def cmd_whoami(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        me = client.me()
    print(f"{me['email']} on {client.api}")
    return EXIT_OK


# -- analyses ----------------------------------------------------------------------------------


def cmd_analyze(args: argparse.Namespace) -> int:
    options = analyze.Options(
        timeout=args.timeout,
        callback_url=args.callback_url,
        json=args.json,
        quiet=args.quiet,
        color=not args.json and render.use_color(sys.stdout),
        jobs=args.jobs,
    )
    with make_client(args) as client:
        results = analyze.run(client, args.files, options)
    return analyze.exit_code(results)


def collect_pages(
    fetch: Callable[[str | None], dict[str, Any]], every: bool
) -> tuple[list[dict[str, Any]], str | None]:
    """The first page (or, with ``every``, all of them) of a paged listing: the items and
    the cursor of what is left."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        items.extend(page.get("items") or [])
        cursor = page.get("next_cursor")
        if not every or not cursor:
            return items, cursor


def show_pages(
    args: argparse.Namespace,
    items: list[dict[str, Any]],
    cursor: str | None,
    table: Callable[[list[dict[str, Any]], bool], str],
) -> int:
    """A listing as JSON or as a table, saying when there is more."""
    if args.json:
        print(json.dumps({"items": items, "next_cursor": cursor}, indent=2))
        return EXIT_OK
    print(table(items, render.use_color(sys.stdout)))
    if cursor:
        print(
            f"(showing the {len(items)} newest; more with --all or a larger --limit)",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        items, cursor = collect_pages(lambda c: client.list_analyses(args.limit, c), args.all)
    return show_pages(args, items, cursor, render.history_table)


def _no_such_analysis(exc: ApiError, ident: str) -> ApiError:
    if exc.status == 404:
        return ApiError(404, exc.code, f"no such analysis: {ident}")
    return exc


def cmd_show(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        try:
            analysis = client.get_analysis(args.id).analysis
        except ApiError as exc:
            raise _no_such_analysis(exc, args.id) from exc
    assert analysis is not None
    if args.json:
        print(json.dumps(analysis, indent=2))
    else:
        print(render.analysis_report(analysis, render.use_color(sys.stdout)))
    return EXIT_OK


def cmd_deliveries(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        try:
            items = client.list_deliveries(args.id)
        except ApiError as exc:
            raise _no_such_analysis(exc, args.id) from exc
    if args.json:
        print(json.dumps({"items": items}, indent=2))
    else:
        print(render.deliveries_report(items))
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        try:
            client.delete_analysis(args.id)
        except ApiError as exc:
            raise _no_such_analysis(exc, args.id) from exc
    print(f"deleted {args.id}")
    return EXIT_OK


def _retention(text: str) -> int | str:
    if text.strip().lower() == "zero":
        return "zero"
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days or zero: {text!r}") from None
    if not 1 <= days <= 3650:
        raise argparse.ArgumentTypeError("days must be from 1 to 3650 (or zero)")
    return days


def _confirm_deletion(args: argparse.Namespace, email: str) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise UsageProblem("deleting the account needs --yes when there is no terminal to ask")
    typed = _ask(
        f"This deletes {email} with every analysis and all its audio, for good.\n"
        "Type the account's email to confirm: "
    )
    if typed.strip().lower() != email.lower():
        raise UsageProblem("not confirmed; nothing was deleted")


def cmd_account(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        if args.delete:
            me = client.account()
            _confirm_deletion(args, me["email"])
            client.delete_account()
            api = client.api
            removed = config.forget()
            print(
                f"deleted the account {me['email']} on {api} with its analyses and audio"
                + ("; removed the saved session" if removed else "")
            )
            return EXIT_OK
        if args.retention is not None:
            me = client.update_account(retention_days=args.retention)
        else:
            me = client.account()
    if args.json:
        print(json.dumps(me, indent=2))
    else:
        print(f"{me['email']} on {client.api}")
        print(f"  retention: {render.retention_words(me['retention_days'])}")
    return EXIT_OK


def _voice_options(args: argparse.Namespace) -> analyze.Options:
    return analyze.Options(timeout=args.timeout, quiet=args.json, json=args.json)


def cmd_voices_list(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        items = client.list_voices()
    print(json.dumps({"items": items}, indent=2) if args.json else voices.voices_table(items))
    return EXIT_OK


def cmd_voices_enroll(args: argparse.Namespace) -> int:
    options = _voice_options(args)
    with make_client(args) as client:
        refs = [voices.resolve(client, item, options) for item in args.sources]
        voice = client.enroll_voice(args.name, [(r.analysis_id, r.speaker) for r in refs])
    if args.json:
        print(json.dumps(voice, indent=2))
        return EXIT_OK
    for ref in refs:
        origin = f" ({ref.file})" if ref.file else ""
        print(f"  from analysis {ref.analysis_id} speaker {ref.speaker}{origin}")
    print(f"enrolled {voice['name']!r} as voice {voice['id']}")
    return EXIT_OK


def cmd_voices_delete(args: argparse.Namespace) -> int:
    with make_client(args) as client:
        try:
            client.delete_voice(args.id)
        except ApiError as exc:
            if exc.status == 404:
                raise ApiError(404, exc.code, f"no such voice: {args.id}") from exc
            raise
    print(f"deleted voice {args.id}")
    return EXIT_OK


def cmd_voices_search(args: argparse.Namespace) -> int:
    if (args.query is None) == (args.voice is None):
        raise UsageProblem("give a FILE or ANALYSIS_ID[:SPEAKER], or --voice VOICE_ID")
    with make_client(args) as client:
        if args.voice is not None:
            query: dict[str, Any] = {"voice_id": args.voice}
        else:
            ref = voices.resolve(client, args.query, _voice_options(args))
            query = {"analysis_id": ref.analysis_id, "speaker": ref.speaker}
            if not args.json:
                voices.say(f"searching for speaker {ref.speaker} of analysis {ref.analysis_id}")
        items, cursor = collect_pages(
            lambda c: client.search_voices(query, args.limit, c), args.all
        )
    return show_pages(args, items, cursor, voices.search_table)


TOOLS = {"eval": "realtone_scorer.evaluate", "train": "realtone_scorer.train"}


def run_tool(command: str, argv: list[str]) -> int:
    """`eval` and `train` run the scorer's own code on this machine, in a process of their own
    (the client never imports server code). Their arguments, --help included, are handed
    over untouched: argparse's REMAINDER would swallow nothing that starts with a dash."""
    module = TOOLS[command]
    if importlib.util.find_spec(module.split(".")[0]) is None:
        print(
            f"error: `realtone {command}` runs the scorer on this machine, which the client alone"
            " does not include. Install RealTone itself with its `tools` extra: from a clone,"
            " `make install` or `pip install -e '.[tools]'`",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return subprocess.run([sys.executable, "-m", module, *argv], check=False).returncode


# -- parser ------------------------------------------------------------------------------------


def _whole(text: str, most: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= most:
        raise argparse.ArgumentTypeError(f"must be from 1 to {most}")
    return value


def _limit(text: str) -> int:
    return _whole(text, 100)


def _jobs(text: str) -> int:
    return _whole(text, 16)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="realtone", description=DESCRIPTION, epilog=EPILOG, formatter_class=raw
    )
    api_help = "base URL of the RealTone API (default: $REALTONE_API, else the one logged in to)"
    parser.add_argument("--api", metavar="URL", help=api_help)
    parser.add_argument("--version", action="version", version=f"realtone {_version()}")
    # --api is also accepted after the command (`realtone analyze --api URL f.wav`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api", metavar="URL", default=argparse.SUPPRESS, help=api_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, summary: str, description: str, epilog: str, func: Callable[..., int]
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=summary,
            description=description,
            epilog=epilog,
            formatter_class=raw,
            parents=[common],
        )
        p.set_defaults(func=func)
        return p

    for name, summary, description, done, extra, func in (
        (
            "register",
            "create an account and log in",
            "Create an account on the API (POST /v1/auth/register), then log in and save the"
            "\nsession. Asks for the email and, twice, the password when they are not given."
            "\nPasswords need at least 8 characters.",
            "registered and logged in",
            "password too short, the email has an account with another password, ",
            cmd_register,
        ),
        (
            "login",
            "log in and save the session",
            "Log in (POST /v1/auth/login) and save the session for the other commands."
            "\nAsks for the email and the password when they are not given.",
            "logged in",
            "",
            cmd_login,
        ),
    ):
        p = command(
            name,
            summary,
            description,
            ACCOUNT_EPILOG.format(name=name, done=done, extra=extra),
            func,
        )
        p.add_argument("--email", help="the account's email (asked for when missing)")
        p.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input (for scripts)",
        )

    command(
        "logout",
        "end the session and forget it",
        "End the session on the API (POST /v1/auth/logout: its refresh token stops working)"
        "\nand delete the saved session ($XDG_CONFIG_HOME/realtone/credentials.json). Your"
        "\nanalyses stay on the server; log in again to see them.",
        "exit codes: 0 (also when there was no session)",
        cmd_logout,
    )
    command(
        "whoami",
        "show who you are logged in as, and where",
        "Check the saved session against the API (GET /v1/auth/me) and print its email.",
        "exit codes: 0 logged in, 2 not logged in / session expired / API unreachable",
        cmd_whoami,
    )

    p = command(
        "account",
        "show or change how long your audio is kept; delete the account",
        "Show the account (GET /v1/account): its email and how long uploaded audio is kept."
        "\nWith --retention, change that (PATCH /v1/account); with --delete, delete the"
        "\naccount and everything of it (DELETE /v1/account).",
        ACCOUNT_SETTINGS_EPILOG,
        cmd_account,
    )
    action = p.add_mutually_exclusive_group()
    action.add_argument(
        "--retention",
        type=_retention,
        metavar="DAYS|zero",
        help="keep uploaded audio DAYS days (1-3650), or zero: delete it once analysed",
    )
    action.add_argument(
        "--delete",
        action="store_true",
        help="delete the account, its analyses and audio for good (asks to confirm)",
    )
    p.add_argument("--yes", action="store_true", help="with --delete: do not ask to confirm")
    p.add_argument("--json", action="store_true", help="print the account as JSON")

    p = command(
        "analyze",
        "analyse audio files and print their verdicts",
        "Analyse audio files: upload each one straight to storage, wait for its result and"
        "\nprint a table of its 4-second windows and the verdict (fake, likely_fake, real or"
        "\ninconclusive). Accepted: WAV, MP3, OGG (Vorbis/Opus), FLAC, M4A/AAC, WebM/Opus.",
        ANALYZE_EPILOG,
        cmd_analyze,
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="audio files to analyse; a folder stands for the audio files under it",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        default=4,
        metavar="N",
        help="files uploaded and followed at once when there are several (1-16, default 4)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout (for scripts) and nothing else",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar, spinner or status lines"
    )
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=600.0,
        metavar="SECONDS",
        help="how long to wait for each result after its upload (default: 600)",
    )
    p.add_argument(
        "--callback-url",
        metavar="URL",
        help="also have each result POSTed (signed) to this https URL when it is ready;"
        " `realtone deliveries ID` shows how that went",
    )

    p = command(
        "history",
        "list your analyses, newest first",
        "List your analyses, newest first (GET /v1/analyses).",
        HISTORY_EPILOG,
        cmd_history,
    )
    p.add_argument(
        "--limit", type=_limit, default=20, metavar="N", help="how many (1-100, default 20)"
    )
    p.add_argument(
        "--all", action="store_true", help="all of them (follows every page, N at a time)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = command(
        "show",
        "show one analysis",
        "Show one analysis: its windows, verdict and model, or its status while it runs.",
        SHOW_EPILOG,
        cmd_show,
    )
    p.add_argument("id", metavar="ID", help="the analysis id (see `realtone history`)")
    p.add_argument("--json", action="store_true", help="print the analysis as JSON")

    p = command(
        "deliveries",
        "show the webhook deliveries of an analysis",
        "Show the webhook deliveries of one analysis (GET /v1/analyses/{id}/deliveries):"
        "\nwhere its result was POSTed, and every try with its answer or error.",
        DELIVERIES_EPILOG,
        cmd_deliveries,
    )
    p.add_argument("id", metavar="ID", help="the analysis id (see `realtone history`)")
    p.add_argument("--json", action="store_true", help="print {items: [...]} as JSON")

    p = command(
        "delete",
        "delete an analysis and its audio",
        "Delete an analysis for good: its audio, its results and its cached status.",
        DELETE_EPILOG,
        cmd_delete,
    )
    p.add_argument("id", metavar="ID", help="the analysis id (see `realtone history`)")

    _voices_parser(sub, common)

    for name, text in (
        ("eval", "measure a detector on a labelled set (EER, AUC, DET curve)"),
        ("train", "fine-tune a detector on labelled audio"),
    ):
        # Listed for --help; main() hands everything after the command to the tool.
        sub.add_parser(name, help=text, add_help=False, description=text)
    return parser


def _voices_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    voices_parser = sub.add_parser(
        "voices",
        help="enrol voices and find the analyses in which a voice speaks",
        description="Who is speaking: enrol a voice under a name from speakers of your"
        "\nanalyses, list and delete enrolled voices, and search your analyses for a voice.",
        epilog=VOICES_EPILOG,
        formatter_class=raw,
    )
    vsub = voices_parser.add_subparsers(dest="voices_command", required=True, metavar="ACTION")

    def action(name: str, summary: str, func: Callable[..., int]) -> argparse.ArgumentParser:
        p = vsub.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=VOICES_EPILOG,
            formatter_class=raw,
            parents=[common],
        )
        p.set_defaults(func=func)
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        return p

    def waits(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--timeout",
            type=_seconds,
            default=600.0,
            metavar="SECONDS",
            help="how long to wait for the result of each FILE analysed (default: 600)",
        )

    action("list", "list your enrolled voices, newest first", cmd_voices_list)
    p = action(
        "enroll", "enrol a voice under a name from speakers of your analyses", cmd_voices_enroll
    )
    p.add_argument("name", metavar="NAME", help="the voice's name (1-100 characters)")
    p.add_argument(
        "sources",
        nargs="+",
        metavar="FILE_OR_ANALYSIS",
        help="audio FILE (analysed first), ANALYSIS_ID (its main speaker) or"
        " ANALYSIS_ID:SPEAKER; up to 20, the voice is their mean",
    )
    waits(p)
    p = action("delete", "delete an enrolled voice", cmd_voices_delete)
    p.add_argument("id", metavar="VOICE_ID", help="the voice id (see `realtone voices list`)")
    p = action(
        "search", "find your analyses in which a voice speaks, newest first", cmd_voices_search
    )
    p.add_argument(
        "query",
        nargs="?",
        metavar="FILE|ANALYSIS_ID[:SPEAKER]",
        help="the voice to look for: a speaker of an analysis, or an audio FILE (analysed first)",
    )
    p.add_argument("--voice", metavar="VOICE_ID", help="look for an enrolled voice instead")
    p.add_argument(
        "--limit", type=_limit, default=20, metavar="N", help="how many (1-100, default 20)"
    )
    p.add_argument("--all", action="store_true", help="all of them (follows every page)")
    waits(p)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in TOOLS:
        return run_tool(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except NotLoggedIn as exc:
        print(f"error: {exc.message}", file=sys.stderr)
    except ApiError as exc:
        print(f"error: {exc.describe()}", file=sys.stderr)
    except UsageProblem as exc:
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `realtone history | head`: the reader left; say nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
