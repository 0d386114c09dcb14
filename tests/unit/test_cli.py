"""The `realtone` CLI without a network: parsing, help, credentials, the HTTP client (refresh,
errors), the upload to storage, polling, rendering and exit codes — all against in-memory
fakes (httpx.MockTransport)."""

from __future__ import annotations

import functools
import io
import json
import os
import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from realtone_cli import analyze, config, main, render, upload
from realtone_cli.client import SESSION_EXPIRED, ApiError, Client, NotLoggedIn

API = "http://api.test"
STORAGE = "http://storage.test/bucket"


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("REALTONE_API", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")  # what the fake terminals are as wide as
    return tmp_path / "cfg"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    """A fake monotonic clock; ``sleep`` advances it and records how long was slept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def chunk(i: int, start: float, end: float, score: float | None) -> dict[str, Any]:
    return {
        "chunk_id": i,
        "start_time_seconds": start,
        "end_time_seconds": end,
        "score": score,
        "voiced": score is not None,
    }


def completed(ident: str, verdict: str = "real", trained: bool = False) -> dict[str, Any]:
    return {
        "id": ident,
        "status": "completed",
        "filename": "clip.wav",
        "content_type": "audio/wav",
        "size_bytes": 10,
        "created_at": "2025-01-02T03:04:05Z",
        "updated_at": "2025-01-02T03:04:06Z",
        "duration_seconds": 10.3,
        "processing_ms": 120,
        "model": {"name": "dev:tiny", "version": "1", "sha256": "ab" * 32, "trained": trained},
        "summary": {
            "verdict": verdict,
            "score": 0.61 if verdict in ("fake", "likely_fake") else 0.2,
            "max_score": 0.7,
            "mean_score": 0.4,
            "fake_chunk_ratio": 0.5,
            "threshold": 0.5,
        },
        "chunks": [chunk(0, 0.0, 4.0, 0.7), chunk(1, 4.0, 8.0, None), chunk(2, 8.0, 10.3, 0.2)],
        "error": None,
    }


class FakeService:
    """The RealTone API and S3 in memory, as far as the CLI uses them."""

    def __init__(
        self,
        verdict: str = "real",
        fail: str | None = None,
        statuses: tuple[str, ...] = ("queued", "processing", "processing"),
        storage_status: int = 204,
        retry_after: str = "2",
    ) -> None:
        self.verdict = verdict
        self.fail = fail
        self.statuses = statuses
        self.storage_status = storage_status
        self.retry_after = retry_after
        self.log: list[httpx.Request] = []
        self.bodies: dict[str, bytes] = {}
        self.polls: dict[str, int] = {}
        self.analyses: dict[str, dict[str, Any]] = {}
        self.account: dict[str, Any] | None = {
            "id": str(uuid.uuid4()),
            "email": "me@example.com",
            "created_at": "2025-01-02T03:04:05Z",
            "retention_days": 30,
        }
        self.callbacks: dict[str, str] = {}

    def deliveries(self, ident: str) -> list[dict[str, Any]]:
        if ident not in self.callbacks:
            return []
        attempt = {
            "attempt": 1,
            "started_at": "2025-01-02T03:04:07Z",
            "duration_ms": 12,
            "status_code": 500,
            "error": None,
            "response_excerpt": "no",
            "next_retry_at": "2025-01-02T03:05:07Z",
        }
        return [
            {
                "id": "d-1",
                "event": "analysis.completed",
                "url": self.callbacks[ident],
                "status": "pending",
                "created_at": "2025-01-02T03:04:06Z",
                "next_attempt_at": "2025-01-02T03:05:07Z",
                "completed_at": None,
                "attempts": [
                    attempt,
                    {
                        **attempt,
                        "attempt": 2,
                        "status_code": None,
                        "error": "timed out after 10 s",
                        "next_retry_at": None,
                    },
                ],
            }
        ]

    def document(self, ident: str) -> dict[str, Any]:
        n = self.polls[ident]
        if n < len(self.statuses):
            return {**self.analyses[ident], "status": self.statuses[n]}
        if self.fail:
            return {
                **self.analyses[ident],
                "status": "failed",
                "error": {"code": self.fail, "message": "The audio header is invalid"},
            }
        return {**completed(ident, self.verdict), "filename": self.analyses[ident]["filename"]}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.log.append(request)
        url = str(request.url)
        if url.startswith(STORAGE):
            self.bodies[request.headers.get("content-length", "chunked")] = request.read()
            if self.storage_status == 204:
                return httpx.Response(204)
            xml = (
                "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
                "<Message>Invalid according to Policy: Policy expired.</Message></Error>"
            )
            return httpx.Response(self.storage_status, text=xml)
        if request.headers.get("authorization") != "Bearer acc" or self.account is None:
            return httpx.Response(401, json={"error": {"code": "invalid_token", "message": "x"}})
        path, method = request.url.path, request.method
        if path == "/v1/account":
            if method == "DELETE":
                self.account = None
                return httpx.Response(204)
            if method == "PATCH":
                self.account.update(json.loads(request.content))
            return httpx.Response(200, json=self.account)
        if method == "POST" and path == "/v1/analyses":
            body = json.loads(request.content)
            ident = str(uuid.uuid4())
            callback_url = body.pop("callback_url", None)
            self.analyses[ident] = {"id": ident, "status": "awaiting_upload", **body}
            self.polls[ident] = -1
            fields = {"key": f"u/{ident}", "Content-Type": body["content_type"], "policy": "p"}
            upload_spec = {"url": STORAGE, "fields": fields, "expires_at": "x", "max_bytes": 1}
            created = {"analysis": self.analyses[ident], "upload": upload_spec}
            if callback_url is not None:
                self.callbacks[ident] = callback_url
                created["webhook_secret"] = None if len(self.callbacks) > 1 else "whsec_once"
            return httpx.Response(201, json=created)
        deliveries = re.fullmatch(r"/v1/analyses/([^/]+)/deliveries", path)
        if deliveries:
            if deliveries[1] not in self.analyses:
                return httpx.Response(404, json={"error": {"code": "not_found", "message": "No"}})
            return httpx.Response(200, json={"items": self.deliveries(deliveries[1])})
        if path.endswith("/events"):  # an API without event streams: the CLI polls
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "No"}})
        match = re.fullmatch(r"/v1/analyses/([^/]+)", path)
        if match and match[1] not in self.analyses:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "No"}})
        if match and method == "DELETE":
            del self.analyses[match[1]]
            return httpx.Response(204)
        if match and method == "GET":
            ident = match[1]
            self.polls[ident] += 1
            doc = self.document(ident)
            etag = '"' + str(hash(json.dumps(doc, sort_keys=True))) + '"'
            headers = {"ETag": etag}
            if doc["status"] not in analyze.TERMINAL:
                headers["Retry-After"] = self.retry_after
            if request.headers.get("if-none-match") == etag:
                return httpx.Response(304, headers=headers)
            return httpx.Response(200, json=doc, headers=headers)
        if path == "/v1/analyses":
            items = [completed(str(i)) for i in range(int(request.url.params["limit"]))]
            cursor = request.url.params.get("cursor")
            return httpx.Response(
                200, json={"items": items, "next_cursor": None if cursor else "c"}
            )
        raise AssertionError(f"unexpected {method} {url}")


def client_for(handler: Any, access: str = "acc", refresh: str = "ref") -> Client:
    creds = config.Credentials(API, "me@example.com", access, refresh)
    return Client(API, creds, transport=httpx.MockTransport(handler))


@pytest.fixture
def logged_in() -> config.Credentials:
    creds = config.Credentials(API, "me@example.com", "acc", "ref")
    config.save(creds)
    return creds


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeService]:
    """`main.main` talks to a FakeService (API and storage) instead of the network."""
    fake = FakeService(retry_after="0")
    monkeypatch.setattr(
        main, "Client", functools.partial(Client, transport=httpx.MockTransport(fake))
    )
    yield fake


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.wav"
    path.write_bytes(b"RIFF" + bytes(range(256)) * 1000)
    return path


# -- parsing and help ---------------------------------------------------------------------------

COMMANDS = [
    "analyze",
    "login",
    "register",
    "logout",
    "whoami",
    "account",
    "history",
    "show",
    "deliveries",
    "delete",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself_with_examples_and_exit_codes(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main.main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: realtone {command}")
    assert "exit codes" in out
    if command not in ("logout", "whoami"):
        assert "example" in out


def test_top_level_help_lists_commands_api_and_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main.main(["--help"])
    out = capsys.readouterr().out
    for word in (*COMMANDS, "eval", "train", "REALTONE_API", "--api", "--version", "exit codes"):
        assert word in out


def test_analyze_help_documents_the_exit_code_rules(capsys):
    with pytest.raises(SystemExit):
        main.main(["analyze", "--help"])
    out = capsys.readouterr().out
    assert "0  every file is real or inconclusive" in out
    assert "1  at least one file is fake or likely_fake" in out
    assert "2  something failed" in out and "--timeout" in out and "--json" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main.main(["--version"])
    assert exit_.value.code == 0
    assert re.fullmatch(r"realtone \S+\n", capsys.readouterr().out)


def test_parsing_options_before_and_after_the_command():
    parser = main.build_parser()
    args = parser.parse_args(["--api", "http://a", "analyze", "x.wav", "y.wav", "--json"])
    assert (args.api, args.files, args.json, args.timeout) == (
        "http://a",
        ["x.wav", "y.wav"],
        True,
        600,
    )
    assert parser.parse_args(["analyze", "--api", "http://b", "x.wav"]).api == "http://b"
    assert parser.parse_args(["history"]).limit == 20
    args = parser.parse_args(["history", "--limit", "5", "--all", "--json"])
    assert (args.limit, args.all, args.json) == (5, True, True)
    assert parser.parse_args(["login", "--email", "e@x", "--password-stdin"]).password_stdin


@pytest.mark.parametrize(
    "argv",
    [
        ["analyze"],
        ["analyze", "x.wav", "--timeout", "0"],
        ["analyze", "x.wav", "--timeout", "soon"],
        ["history", "--limit", "0"],
        ["history", "--limit", "101"],
        ["show"],
        ["frobnicate"],
        [],
    ],
)
def test_bad_arguments_are_usage_errors_with_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main.main(argv)
    assert exit_.value.code == 2
    assert "usage: realtone" in capsys.readouterr().err


def test_which_api(monkeypatch):
    saved = config.Credentials("http://saved/", "e", "a", "r")
    assert main.resolve_api(None, None) == config.DEFAULT_API == "http://127.0.0.1:8000"
    assert main.resolve_api(None, saved) == "http://saved"
    monkeypatch.setenv("REALTONE_API", "http://env")
    assert main.resolve_api(None, saved) == "http://env"
    assert main.resolve_api("http://flag/", saved) == "http://flag"


# -- credentials --------------------------------------------------------------------------------


def test_credentials_file_is_0600_in_a_0700_dir(config_home):
    os.umask(0o000)  # even with the most permissive umask
    try:
        config_home.mkdir(mode=0o755)
        (config_home / "realtone").mkdir(mode=0o755)
        # A leftover temporary file with loose permissions is never reused.
        leftover = config_home / "realtone" / f".credentials.json.{os.getpid()}.tmp"
        leftover.write_text("{}")
        leftover.chmod(0o644)
        path = config.save(config.Credentials("http://x", "a@b.c", "acc", "ref"))
    finally:
        os.umask(0o022)
    assert path == config_home / "realtone" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {
        "api": "http://x",
        "email": "a@b.c",
        "access_token": "acc",
        "refresh_token": "ref",
    }
    assert sorted(p.name for p in path.parent.iterdir()) == ["credentials.json"]


def test_credentials_default_to_dot_config(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.credentials_path() == tmp_path / ".config" / "realtone" / "credentials.json"


def test_credentials_round_trip_forget_and_garbage(config_home):
    creds = config.Credentials("http://x", "a@b.c", "acc", "ref")
    config.save(creds)
    assert config.load() == creds
    assert config.forget() and config.load() is None and not config.forget()
    config.credentials_path().write_text("{not json")
    assert config.load() is None
    config.credentials_path().write_text('{"api": 1, "email": "e", "access_token": "a"}')
    assert config.load() is None


def test_login_saves_the_session_and_logout_ends_and_removes_it(monkeypatch, capsys):
    ended: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/auth/logout":
            ended.append(json.loads(request.content))
            return httpx.Response(204)
        assert request.url.path == "/v1/auth/login"
        assert json.loads(request.content) == {"email": "me@example.com", "password": "pw-1234567"}
        return httpx.Response(200, json={"access_token": "A", "refresh_token": "R"})

    monkeypatch.setattr(
        main, "Client", functools.partial(Client, transport=httpx.MockTransport(handler))
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("pw-1234567\n"))
    argv = ["--api", API, "login", "--email", "me@example.com", "--password-stdin"]
    assert main.main(argv) == 0
    assert config.load() == config.Credentials(API, "me@example.com", "A", "R")
    assert stat.S_IMODE(config.credentials_path().stat().st_mode) == 0o600
    assert "logged in to http://api.test as me@example.com" in capsys.readouterr().out
    assert main.main(["logout"]) == 0 and not config.credentials_path().exists()
    assert ended == [{"refresh_token": "R"}]  # revoked on the server, not only forgotten
    assert "session ended on http://api.test" in capsys.readouterr().out
    assert main.main(["logout"]) == 0
    assert "not logged in" in capsys.readouterr().out


def test_logout_forgets_the_session_even_when_the_api_is_unreachable(monkeypatch, capsys):
    config.save(config.Credentials("http://127.0.0.1:9", "me@example.com", "A", "R"))
    assert main.main(["logout"]) == 0 and not config.credentials_path().exists()
    out = capsys.readouterr().out
    assert "could not be ended on the server" in out and "logged out (removed" in out


def test_register_says_what_to_do_when_the_email_has_another_password(monkeypatch, capsys):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/auth/register":  # the same answer for a taken email
            return httpx.Response(201, json={"id": "1", "email": "e@x.io", "created_at": "t"})
        return httpx.Response(
            401, json={"error": {"code": "invalid_credentials", "message": "Wrong"}}
        )

    monkeypatch.setattr(
        main, "Client", functools.partial(Client, transport=httpx.MockTransport(handler))
    )
    monkeypatch.setattr(main.getpass, "getpass", lambda prompt: "same-password")
    assert main.main(["register", "--email", "e@x.io"]) == 2
    err = capsys.readouterr().err
    assert "realtone login" in err and "(invalid_credentials)" in err
    assert config.load() is None


def test_login_prompts_for_what_is_missing(monkeypatch, capsys):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "A", "refresh_token": "R"})

    monkeypatch.setattr(
        main, "Client", functools.partial(Client, transport=httpx.MockTransport(handler))
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("typed@example.com\n"))
    monkeypatch.setattr(main.getpass, "getpass", lambda prompt: "secret-pw")
    assert main.main(["login"]) == 0
    assert "Email: " in capsys.readouterr().err
    assert config.load().email == "typed@example.com"  # type: ignore[union-attr]


def test_register_then_login_and_mismatched_passwords(monkeypatch, capsys):
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/v1/auth/register":
            return httpx.Response(201, json={"id": "1", "email": "e@x.io", "created_at": "t"})
        return httpx.Response(200, json={"access_token": "A", "refresh_token": "R"})

    monkeypatch.setattr(
        main, "Client", functools.partial(Client, transport=httpx.MockTransport(handler))
    )
    answers = iter(["pw-1", "pw-2"])
    monkeypatch.setattr(main.getpass, "getpass", lambda prompt: next(answers))
    assert main.main(["register", "--email", "e@x.io"]) == 2
    assert "the passwords do not match" in capsys.readouterr().err and seen == []
    monkeypatch.setattr(main.getpass, "getpass", lambda prompt: "same-password")
    assert main.main(["register", "--email", "e@x.io"]) == 0
    assert seen == ["/v1/auth/register", "/v1/auth/login"]
    assert config.load().access_token == "A"  # type: ignore[union-attr]


def test_password_stdin_needs_an_email(capsys):
    assert main.main(["login", "--password-stdin"]) == 2
    assert "--password-stdin needs --email" in capsys.readouterr().err


# -- the HTTP client ----------------------------------------------------------------------------


def test_an_expired_access_token_is_refreshed_once_and_the_new_pair_saved(logged_in):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.url.path, request.headers.get("authorization")))
        if request.url.path == "/v1/auth/refresh":
            assert json.loads(request.content) == {"refresh_token": "ref"}
            return httpx.Response(200, json={"access_token": "new-acc", "refresh_token": "new-ref"})
        if request.headers["authorization"] != "Bearer new-acc":
            return httpx.Response(401, json={"error": {"code": "invalid_token", "message": "old"}})
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    client = client_for(handler)
    assert client.list_analyses(20)["items"] == []
    assert calls == [
        ("/v1/analyses", "Bearer acc"),
        ("/v1/auth/refresh", None),
        ("/v1/analyses", "Bearer new-acc"),
    ]
    # Refresh tokens rotate: the new pair is on disk at once, still owner-only.
    assert config.load() == config.Credentials(API, "me@example.com", "new-acc", "new-ref")
    assert stat.S_IMODE(config.credentials_path().stat().st_mode) == 0o600


def test_a_pair_refreshed_by_another_process_is_adopted_not_refreshed_again(logged_in):
    # Another `realtone` refreshed (and so spent "ref") after this one loaded the file.
    config.save(config.Credentials(API, "me@example.com", "acc-2", "ref-2"))
    paths = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        assert request.url.path != "/v1/auth/refresh"
        if request.headers["authorization"] == "Bearer acc":
            return httpx.Response(401, json={"error": {"code": "invalid_token", "message": "old"}})
        return httpx.Response(200, json={"id": "1", "email": "me@example.com"})

    client = client_for(handler)
    assert client.me()["email"] == "me@example.com"
    assert paths == ["/v1/auth/me", "/v1/auth/me"]
    assert client.credentials is not None and client.credentials.refresh_token == "ref-2"


def test_a_refused_refresh_means_session_expired(logged_in, capsys, monkeypatch):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"code": "invalid_token", "message": "no"}})

    with pytest.raises(NotLoggedIn) as err:
        client_for(handler).me()
    assert err.value.message == SESSION_EXPIRED == "Session expired: run `realtone login`"
    monkeypatch.setattr(
        main, "Client", functools.partial(Client, transport=httpx.MockTransport(handler))
    )
    assert main.main(["history"]) == 2
    assert capsys.readouterr().err == "error: Session expired: run `realtone login`\n"


def test_not_logged_in_is_exit_2_with_a_hint(capsys):
    assert main.main(["history"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: not logged in") and "realtone login" in err


def test_a_session_is_never_sent_to_another_api(logged_in, capsys):
    assert main.main(["--api", "http://other.test", "history"]) == 2
    err = capsys.readouterr().err
    assert "not logged in to http://other.test" in err and "your saved session is for" in err


def test_api_errors_carry_status_code_message_and_retry_after():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            json={"error": {"code": "rate_limited", "message": "Slow down"}},
            headers={"Retry-After": "7"},
        )

    with pytest.raises(ApiError) as err:
        client_for(handler).list_analyses(20)
    e = err.value
    assert (e.status, e.code, e.message, e.retry_after, e.transient) == (
        429,
        "rate_limited",
        "Slow down",
        7.0,
        True,
    )
    assert e.describe() == "Slow down; try again in 7 s (rate_limited)"


def test_an_error_without_the_api_shape_is_still_explained():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad gateway</html>")

    with pytest.raises(ApiError) as err:
        client_for(handler).list_analyses(20)
    assert (err.value.code, err.value.message) == (
        "http_error",
        "HTTP 502 Bad Gateway from the API",
    )


def test_api_errors_are_printed_as_message_and_code(logged_in, capsys, monkeypatch):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            503, json={"error": {"code": "service_unavailable", "message": "DB down"}}
        )

    monkeypatch.setattr(
        main, "Client", functools.partial(Client, transport=httpx.MockTransport(handler))
    )
    assert main.main(["history"]) == 2
    assert capsys.readouterr().err == "error: DB down (service_unavailable)\n"


def test_an_unreachable_api_says_so(capsys):
    with pytest.raises(ApiError, match=r"cannot reach the RealTone API at http://127\.0\.0\.1:9"):
        Client("http://127.0.0.1:9", None).login("a@b.c", "x")
    argv = ["--api", "http://127.0.0.1:9", "login", "--email", "a@b.c", "--password-stdin"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdin", io.StringIO("pw\n"))
        assert main.main(argv) == 2
    assert "error: cannot reach the RealTone API at http://127.0.0.1:9" in capsys.readouterr().err


# -- local checks and the upload ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.wav", "audio/wav"),
        ("B.MP3", "audio/mpeg"),
        ("c.ogg", "audio/ogg"),
        ("d.flac", "audio/flac"),
        ("e.m4a", "audio/mp4"),
        ("f.webm", "audio/webm"),
        ("g.opus", "audio/ogg"),
        ("noextension", "application/octet-stream"),
        ("h.unknownext", "application/octet-stream"),
    ],
)
def test_content_type_from_the_extension(name, expected):
    assert upload.content_type(Path(name)) == expected


def test_files_are_checked_locally(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    good = tmp_path / "good.wav"
    good.write_bytes(b"x")
    assert upload.check_file(tmp_path / "missing.wav") == "no such file"
    assert upload.check_file(empty) == "the file is empty"
    assert upload.check_file(tmp_path) == "is a directory, not an audio file"
    assert upload.check_file(good) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_reported(tmp_path):
    locked = tmp_path / "locked.wav"
    locked.write_bytes(b"x")
    locked.chmod(0)
    assert upload.check_file(locked) == "cannot read it: Permission denied"


def test_upload_sends_every_field_then_the_file_with_a_length_and_progress(clip):
    fake = FakeService()
    spec = {"url": STORAGE, "fields": {"key": "k/1", "Content-Type": "audio/wav", "policy": "p"}}
    progress_out = io.StringIO()
    progress = render.Progress("uploading clip.wav", clip.stat().st_size, stream=progress_out)
    upload.send_to_storage(spec, clip, "audio/wav", progress, httpx.MockTransport(fake))
    ((length, body),) = fake.bodies.items()
    assert length != "chunked" and int(length) == len(body)  # S3 refuses chunked uploads
    assert "transfer-encoding" not in fake.log[0].headers
    names = re.findall(rb'; name="([^"]+)"', body)
    assert names == [b"key", b"Content-Type", b"policy", b"file"]  # the file comes last
    assert clip.read_bytes() in body
    assert progress.done == clip.stat().st_size
    assert progress_out.getvalue().splitlines()[-1].startswith("uploading clip.wav: 100%")


def test_a_refusal_from_storage_is_reported_from_its_xml(clip):
    fake = FakeService(storage_status=403)
    spec = {"url": STORAGE, "fields": {"key": "k"}}
    with pytest.raises(ApiError) as err:
        upload.send_to_storage(spec, clip, "audio/wav", None, httpx.MockTransport(fake))
    assert (err.value.status, err.value.code) == (403, "upload_refused")
    assert err.value.message == (
        "storage refused the upload (HTTP 403 AccessDenied):"
        " Invalid according to Policy: Policy expired."
    )


def test_storage_unreachable(clip):
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused")

    with pytest.raises(ApiError, match=r"the upload to storage at storage\.test failed"):
        upload.send_to_storage(
            {"url": STORAGE, "fields": {}}, clip, "audio/wav", None, httpx.MockTransport(handler)
        )


# -- polling ------------------------------------------------------------------------------------


def test_polling_honours_retry_after_and_uses_the_etag(clip):
    fake = FakeService(
        statuses=("queued", "processing", "processing", "processing"), retry_after="3"
    )
    clock = Clock()
    client = client_for(fake)
    err = io.StringIO()
    options = analyze.Options(err=err, clock=clock, sleeper=clock.sleep, quiet=True, follow=False)
    created = analyze.upload_one(client, clip, options)
    final = analyze.wait_for_result(client, created, clock() + 600, options)
    assert final["status"] == "completed"
    polls = [r for r in fake.log if r.method == "GET"]
    assert len(polls) == 5
    assert "if-none-match" not in polls[0].headers
    assert all("if-none-match" in r.headers for r in polls[1:])
    assert clock.slept == [3.0, 3.0, 3.0, 3.0]  # Retry-After, once per poll


def test_polling_shows_the_status_in_words_without_a_terminal(clip):
    fake = FakeService(statuses=("queued", "processing", "processing"))
    clock = Clock()
    err = io.StringIO()
    options = analyze.Options(err=err, clock=clock, sleeper=clock.sleep)
    client = client_for(fake)
    analyze.wait_for_result(
        client, analyze.upload_one(client, clip, options), clock() + 600, options
    )
    lines = err.getvalue().splitlines()
    assert "clip.wav: queued for analysis" in lines and "clip.wav: analysing" in lines
    assert not any("\r" in line for line in lines)


def test_polling_spins_on_a_terminal(clip):
    fake = FakeService(statuses=("processing",))
    clock = Clock()
    err = Tty()
    options = analyze.Options(err=err, clock=clock, sleeper=clock.sleep)
    client = client_for(fake)
    created = analyze.upload_one(client, clip, options)
    analyze.wait_for_result(client, created, clock() + 600, options)
    text = err.getvalue()
    assert "[####################] 100%" in text  # the upload bar
    assert "| clip.wav: analysing" in text and "/ clip.wav: analysing" in text
    assert clock.slept and max(clock.slept) <= 0.1  # the spinner turns while waiting


def test_transient_errors_while_polling_are_waited_out():
    answers = iter([503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        if status == 503:
            body = {"error": {"code": "service_unavailable", "message": "down"}}
            return httpx.Response(503, json=body, headers={"Retry-After": "5"})
        return httpx.Response(200, json=completed("1"))

    clock = Clock()
    options = analyze.Options(clock=clock, sleeper=clock.sleep, quiet=True, follow=False)
    final = analyze.wait_for_result(
        client_for(handler), {"id": "1", "status": "queued"}, 2000, options
    )
    assert final["status"] == "completed" and clock.slept == [5.0]


def test_polling_gives_up_at_the_deadline():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"id": "1", "status": "queued"}, headers={"Retry-After": "4"}
        )

    clock = Clock()
    options = analyze.Options(clock=clock, sleeper=clock.sleep, quiet=True, follow=False)
    with pytest.raises(analyze.ResultTimeout) as err:
        analyze.wait_for_result(client_for(handler), {"id": "1"}, clock() + 10, options)
    assert err.value.code == "timeout" and "queued for analysis" in err.value.message
    assert sum(clock.slept) == pytest.approx(10)


# -- following the event stream ------------------------------------------------------------------


def sse(*events: tuple[str, str, dict]) -> bytes:
    return "".join(
        f"id: {i}\nevent: {name}\ndata: {json.dumps(data)}\n\n: heartbeat\n\n"
        for name, i, data in events
    ).encode()


def window(i: int, score: float) -> dict:
    return {"chunk_id": i, "start_time_seconds": 4.0 * i, "score": score}


def test_windows_are_shown_as_they_arrive_and_a_cut_stream_resumes():
    """The first connection ends after 2 of 4 windows (the server's time limit); the CLI
    reconnects with Last-Event-ID and gets the rest and the result."""
    done = completed("1")
    streams: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/analyses/1/events"
        streams.append(request.headers.get("last-event-id"))
        progress = {"windows_done": 2, "windows_total": 4}
        if len(streams) == 1:
            body = sse(
                ("status", "processing:0", {"id": "1", "status": "processing"}),
                (
                    "windows",
                    "processing:2",
                    {"chunks": [window(0, 0.05), window(1, 0.97)], "progress": progress},
                ),
            )
        else:
            body = sse(
                (
                    "windows",
                    "processing:4",
                    {
                        "chunks": [window(2, 0.5), window(3, 0.1)],
                        "progress": {**progress, "windows_done": 4},
                    },
                ),
                ("completed", "completed:4", done),
            )
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    clock = Clock()
    err = io.StringIO()
    options = analyze.Options(err=err, clock=clock, sleeper=clock.sleep)
    final = analyze.wait_for_result(
        client_for(handler),
        {"id": "1", "status": "queued", "filename": "long.wav"},
        clock() + 600,
        options,
    )
    assert final == done and streams == [None, "processing:2"]
    lines = err.getvalue().splitlines()
    assert "long.wav: analysing (2/4 windows) ▁█" in lines
    assert "long.wav: analysing (4/4 windows) ▁█▅▁" in lines


def test_without_an_event_stream_the_cli_polls(clip):
    fake = FakeService(statuses=("queued", "processing"))
    clock = Clock()
    client = client_for(fake)
    options = analyze.Options(clock=clock, sleeper=clock.sleep, quiet=True)
    created = analyze.upload_one(client, clip, options)
    final = analyze.wait_for_result(client, created, clock() + 600, options)
    assert final["status"] == "completed"
    assert any(r.url.path.endswith("/events") for r in fake.log)  # tried first
    assert fake.polls[created["id"]] >= 1


# -- analyze, end to end against the fakes -------------------------------------------------------


@pytest.mark.parametrize(
    ("verdict", "code"), [("real", 0), ("inconclusive", 0), ("likely_fake", 1), ("fake", 1)]
)
def test_analyze_prints_windows_verdict_and_exit_code(
    verdict, code, logged_in, service, clip, capsys
):
    service.verdict = verdict
    assert main.main(["analyze", str(clip)]) == code
    out = capsys.readouterr().out
    assert re.search(r"\b0\.0s\s+4\.0s\s+0\.700\s+#{14}\.{6}", out)
    assert re.search(r"\b4\.0s\s+8\.0s\s+no speech", out)
    assert re.search(r"\b8\.0s\s+10\.3s\s+0\.200", out)
    assert f"verdict: {verdict} - " in out
    assert "warning: this model is untrained" in out
    assert service.log[0].headers.get("idempotency-key")


def test_analyze_json_is_one_document_and_nothing_else(logged_in, service, clip, tmp_path, capsys):
    service.verdict = "likely_fake"
    missing = str(tmp_path / "missing.wav")
    assert main.main(["analyze", "--json", str(clip), missing]) == 2  # an error wins over fake
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert [entry["file"] for entry in document] == [str(clip), missing]
    assert document[0]["error"] is None
    assert document[0]["analysis"]["summary"]["verdict"] == "likely_fake"
    assert len(document[0]["analysis"]["chunks"]) == 3
    assert document[1] == {
        "file": missing,
        "analysis": None,
        "error": {"code": "local_file", "message": "no such file"},
    }
    assert "uploading" not in captured.err  # no progress in --json mode


def test_every_file_is_checked_before_anything_is_sent(logged_in, service, clip, tmp_path, capsys):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert main.main(["analyze", "-q", str(tmp_path / "nope.wav"), str(clip), str(empty)]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines()[:2] == [
        f"error: {tmp_path / 'nope.wav'}: no such file (local_file)",
        f"error: {empty}: the file is empty (local_file)",
    ]
    # The good file was still analysed: one row per file, then the tally.
    rows = captured.out.splitlines()
    assert re.match(r"real\s+0\.\d{3}\s+2/3\s+\S*clip\.wav\s+[0-9a-f-]{36}$", rows[2]), rows
    assert rows[1].startswith("error") and rows[1].endswith("no such file (local_file)")
    assert "3 files: 1 real, 2 error" in captured.out


def test_a_folder_is_analysed_file_by_file_several_at_once(logged_in, service, tmp_path, capsys):
    folder = tmp_path / "calls"
    (folder / "monday").mkdir(parents=True)
    (folder / ".trash").mkdir()
    audio = b"RIFF" + bytes(range(256)) * 100
    names = ["a.wav", "b.mp3", "monday/c.flac", "monday/d.ogg", "e.m4a"]
    for name in names:
        (folder / name).write_bytes(audio)
    (folder / "notes.txt").write_text("not audio")
    (folder / ".trash" / "old.wav").write_bytes(audio)
    assert main.main(["analyze", str(folder), "--jobs", "3"]) == 0
    captured = capsys.readouterr()
    rows = captured.out.splitlines()[1:6]
    assert [r.split()[3].rsplit("calls/", 1)[1] for r in rows] == sorted(names)
    assert all(r.startswith("real") for r in rows)
    assert "5 files: 5 real" in captured.out
    # One progress line per finished file (no terminal), no per-file bars or spinners.
    progress = [line for line in captured.err.splitlines() if " done (" in line]
    assert progress[-1] == "5 of 5 done (5 real) · 0 running"
    assert len(progress) == 5 and "uploading" not in captured.err
    creates = [r for r in service.log if r.method == "POST" and r.url.path == "/v1/analyses"]
    assert len(creates) == 5


def test_a_folder_without_audio_is_an_error(logged_in, service, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    assert main.main(["analyze", str(tmp_path)]) == 2
    assert "no audio files in" in capsys.readouterr().err


def test_a_failed_analysis_is_exit_2_with_its_reason(logged_in, service, clip, capsys):
    service.fail = "corrupt_audio"
    assert main.main(["analyze", "-q", str(clip)]) == 2
    out = capsys.readouterr().out
    assert "failed: the file is damaged or not audio (corrupt_audio)" in out
    assert "The audio header is invalid" in out


def test_a_refused_upload_is_exit_2_and_leaves_no_analysis_behind(logged_in, service, clip, capsys):
    service.storage_status = 403
    assert main.main(["analyze", "-q", str(clip)]) == 2
    assert "storage refused the upload (HTTP 403 AccessDenied)" in capsys.readouterr().err
    assert service.analyses == {}  # deleted again: it could only have expired
    assert [r.method for r in service.log] == ["POST", "POST", "DELETE"]


def test_a_result_that_takes_too_long_is_a_timeout_error(logged_in, clip):
    fake = FakeService(statuses=("queued",) * 100, retry_after="5")
    clock = Clock()
    out, err = io.StringIO(), io.StringIO()
    options = analyze.Options(
        timeout=12, json=True, out=out, err=err, clock=clock, sleeper=clock.sleep
    )
    [result] = analyze.run(client_for(fake), [str(clip)], options)
    assert analyze.exit_code([result]) == 2
    ident = result.analysis["id"]  # type: ignore[index]
    message = (
        "no result within the time limit (last status: queued for analysis);"
        f" see it later with `realtone show {ident}`"
    )
    assert json.loads(out.getvalue())[0]["error"] == {"code": "timeout", "message": message}
    assert err.getvalue() == f"error: {clip}: {message} (timeout)\n"
    assert clock.slept == [5.0, 5.0, 2.0]


def test_a_rate_limited_create_waits_and_retries_with_the_same_key(clip):
    fake = FakeService()
    answers = [429]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/analyses" and answers:
            answers.pop()
            fake.log.append(request)
            body = {"error": {"code": "rate_limited", "message": "At most 30 per minute"}}
            return httpx.Response(429, json=body, headers={"Retry-After": "12"})
        return fake(request)

    clock = Clock()
    err = io.StringIO()
    options = analyze.Options(err=err, clock=clock, sleeper=clock.sleep, quiet=True)
    created = analyze.upload_one(client_for(handler), clip, options)
    assert created["status"] == "awaiting_upload" and clock.slept == [12.0]
    first, second = (r.headers["idempotency-key"] for r in fake.log[:2])
    assert first == second
    assert err.getvalue() == "clip.wav: At most 30 per minute; trying again in 12 s\n"


def test_analyze_without_a_session_is_exit_2_and_says_log_in(service, clip, capsys):
    assert main.main(["analyze", "--json", str(clip)]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["error"]["code"] == "not_logged_in"
    assert "realtone login" in captured.err and service.log == []


@pytest.mark.parametrize(
    ("outcomes", "code"),
    [
        (["real"], 0),
        (["inconclusive"], 0),
        (["real", "inconclusive"], 0),
        (["real", "likely_fake"], 1),
        (["fake"], 1),
        (["fake", "error"], 2),
        (["real", "error"], 2),
        (["inconclusive", "error"], 2),
        ([], 2),
    ],
)
def test_exit_code_rules(outcomes, code):
    results = []
    for i, outcome in enumerate(outcomes):
        result = analyze.FileResult(f"f{i}")
        if outcome == "error":
            result.fail("corrupt_audio", "bad")
        else:
            result.analysis = completed(str(i), outcome)
        results.append(result)
    assert [r.outcome for r in results] == outcomes
    assert analyze.exit_code(results) == code


def test_an_expired_or_unfinished_analysis_is_an_error():
    result = analyze.FileResult("x", analysis={"id": "1", "status": "expired", "error": None})
    assert result.outcome == "error" and analyze.exit_code([result]) == 2


# -- history, show, delete ----------------------------------------------------------------------


def test_history_table_and_all_pages(logged_in, service, capsys):
    assert main.main(["history", "--limit", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].startswith("created (UTC)")
    assert len(captured.out.splitlines()) == 3 and "more with --all" in captured.err
    assert main.main(["history", "--limit", "2", "--all", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["items"]) == 4 and document["next_cursor"] is None
    cursors = [r.url.params.get("cursor") for r in service.log]
    assert cursors == [None, None, "c"]


def test_show_and_delete(logged_in, service, clip, capsys):
    assert main.main(["analyze", "--json", str(clip)]) == 0
    ident = json.loads(capsys.readouterr().out)[0]["analysis"]["id"]
    assert main.main(["show", ident]) == 0
    assert "verdict: real" in capsys.readouterr().out
    assert main.main(["show", ident, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == ident
    assert main.main(["delete", ident]) == 0
    assert capsys.readouterr().out == f"deleted {ident}\n"
    assert main.main(["delete", ident]) == 2
    assert capsys.readouterr().err == f"error: no such analysis: {ident} (not_found)\n"
    assert main.main(["show", ident]) == 2
    assert "no such analysis" in capsys.readouterr().err


def test_account_shows_and_changes_the_retention(logged_in, service, capsys):
    assert main.main(["account"]) == 0
    out = capsys.readouterr().out
    assert "me@example.com" in out and "kept 30 days" in out
    assert main.main(["account", "--retention", "7"]) == 0
    assert "kept 7 days" in capsys.readouterr().out
    assert main.main(["account", "--retention", "ZERO", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["retention_days"] == "zero"
    assert main.main(["account"]) == 0
    assert "zero-retention" in capsys.readouterr().out
    patches = [json.loads(r.content) for r in service.log if r.method == "PATCH"]
    assert patches == [{"retention_days": 7}, {"retention_days": "zero"}]


@pytest.mark.parametrize("value", ["0", "3651", "7.5", "forever", ""])
def test_a_bad_retention_is_a_usage_error_and_sends_nothing(logged_in, service, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main.main(["account", "--retention", value])
    assert exit_.value.code == 2 and "--retention" in capsys.readouterr().err
    assert service.log == []


def test_deleting_the_account_needs_a_confirmation(logged_in, service, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal to ask
    assert main.main(["account", "--delete"]) == 2
    assert "--yes" in capsys.readouterr().err and service.account is not None
    monkeypatch.setattr("sys.stdin", Tty("someone-else@example.com\n"))
    assert main.main(["account", "--delete"]) == 2
    assert "nothing was deleted" in capsys.readouterr().err and service.account is not None
    monkeypatch.setattr("sys.stdin", Tty("Me@Example.com\n"))
    assert main.main(["account", "--delete"]) == 0
    out = capsys.readouterr().out
    assert "deleted the account me@example.com" in out and "removed the saved session" in out
    assert service.account is None and config.load() is None


def test_deleting_the_account_with_yes_asks_nothing(logged_in, service, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main.main(["account", "--delete", "--yes"]) == 0
    assert service.account is None and config.load() is None
    assert main.main(["account", "--delete", "--yes"]) == 2  # no session any more


def test_callback_url_and_the_delivery_log(logged_in, service, clip, capsys):
    hook = "https://hooks.example.com/realtone"
    assert main.main(["analyze", "--json", "--callback-url", hook, str(clip)]) == 0
    captured = capsys.readouterr()
    ident = json.loads(captured.out)[0]["analysis"]["id"]
    # The secret made for the first webhook target is shown once, on stderr even with --json.
    assert "webhook signing secret (shown only now; keep it): whsec_once" in captured.err
    created = next(r for r in service.log if r.method == "POST" and r.url.path == "/v1/analyses")
    assert json.loads(created.content)["callback_url"] == hook
    assert main.main(["analyze", "--quiet", "--callback-url", hook, str(clip)]) == 0
    assert "whsec" not in capsys.readouterr().err
    assert main.main(["deliveries", ident]) == 0
    out = capsys.readouterr().out
    assert f"analysis.completed -> {hook}: pending (delivery d-1)" in out
    assert "try 1 at 2025-01-02T03:04:07Z: HTTP 500 in 12 ms, next try 2025-01-02T03:05:07Z" in out
    assert "try 2 at 2025-01-02T03:04:07Z: timed out after 10 s in 12 ms" in out
    assert main.main(["deliveries", ident, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"][0]["id"] == "d-1"
    assert main.main(["analyze", "--quiet", str(clip)]) == 0
    plain = json.loads(json.dumps(list(service.analyses)))[-1]
    capsys.readouterr()
    assert main.main(["deliveries", plain]) == 0
    assert "no webhook deliveries" in capsys.readouterr().out
    assert main.main(["deliveries", "nope"]) == 2
    assert "no such analysis: nope" in capsys.readouterr().err


# -- rendering ----------------------------------------------------------------------------------


def test_report_of_a_completed_analysis():
    text = render.analysis_report(completed("42", "likely_fake"))
    lines = text.splitlines()
    assert lines[0] == "clip.wav  (analysis 42)"
    assert lines[2].split() == ["0", "0.0s", "4.0s", "0.700", "#" * 14 + "." * 6, "<-", "fake"]
    assert lines[3].split() == ["1", "4.0s", "8.0s", "no", "speech"]
    assert lines[4].split() == ["2", "8.0s", "10.3s", "0.200", "#" * 4 + "." * 16]
    assert "verdict: likely_fake - some of the speech looks synthetic" in text
    assert "score:   0.610 overall (threshold 0.500; 1 of 2 speech windows" in text
    assert "model:   dev:tiny 1 (sha256 abababababab, untrained)" in text
    assert "warning: this model is untrained" in text
    assert "\033[" not in text


def test_a_trained_model_has_no_warning_and_colour_is_optional():
    text = render.analysis_report(completed("1", "fake", trained=True), color=True)
    assert "warning" not in text and "trained)" in text
    assert "\033[1;31mfake\033[0m" in text


def test_the_report_says_when_the_audio_is_not_kept():
    kept = render.analysis_report(completed("1"))
    assert "stored:" not in kept
    zero = {"deleted_at": "2025-01-02T03:04:07Z", "reason": "zero_retention"}
    text = render.analysis_report({**completed("1"), "audio_deleted": zero})
    assert "audio not kept: zero-retention" in text and "verdict: real" in text
    aged = {**zero, "reason": "retention_period", "retention_days": 7}
    assert "audio deleted after 7 days" in render.analysis_report(
        {**completed("1"), "audio_deleted": aged}
    )


def test_report_of_a_failed_and_of_a_running_analysis():
    failed = {
        "id": "1",
        "filename": "x.wav",
        "status": "failed",
        "error": {"code": "too_short", "message": "0.2 s"},
    }
    assert "failed: the audio is too short (under half a second) (too_short)" in (
        render.analysis_report(failed)
    )
    running = {"id": "1", "filename": "x.wav", "status": "queued"}
    assert "status:  queued for analysis" in render.analysis_report(running)


def test_history_table():
    failed = {**completed("2"), "status": "failed", "summary": None, "duration_seconds": None}
    failed["error"] = {"code": "corrupt_audio", "message": "x"}
    lines = render.history_table([completed("1", "fake"), failed]).splitlines()
    assert lines[1].split() == [
        "2025-01-02",
        "03:04",
        "completed",
        "fake",
        "0.61",
        "10.3s",
        "clip.wav",
        "1",
    ]
    assert lines[2].split() == ["2025-01-02", "03:04", "failed", "corrupt_audio", "clip.wav", "2"]
    assert render.history_table([]) == "no analyses yet"


def test_bars():
    assert render.bar(None) == ""
    assert render.bar(0.0) == "." * 20 and render.bar(1.0) == "#" * 20
    assert render.bar(0.5, width=10) == "#####....."


def test_progress_without_a_terminal_prints_a_few_plain_lines():
    out = io.StringIO()
    progress = render.Progress("uploading", 1000, stream=out)
    for _ in range(10):
        progress.advance(100)
    progress.finish()
    assert out.getvalue().splitlines() == [
        "uploading: 30% of 1.0 kB",
        "uploading: 50% of 1.0 kB",
        "uploading: 80% of 1.0 kB",
        "uploading: 100% of 1.0 kB",
    ]


def test_progress_on_a_terminal_redraws_one_line():
    out = Tty()
    clock = Clock()
    progress = render.Progress("uploading", 2_000_000, stream=out, clock=clock)
    for _ in range(4):
        clock.now += 0.5
        progress.advance(500_000)
    progress.finish()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert "[##########..........]  50%  1.0 MB / 2.0 MB  1.0 MB/s" in text
    assert "[####################] 100%  2.0 MB / 2.0 MB" in text


def test_tally():
    assert render.tally(["real", "error", "fake", "real"]) == "4 files: 1 fake, 2 real, 1 error"


@pytest.mark.parametrize(
    ("tool", "expected"), [("eval", "usage: realtone eval"), ("train", "usage: realtone train")]
)
def test_eval_and_train_get_their_own_arguments(tool, expected, capfd):
    # Options after the tool name (--help among them) belong to the tool, not to realtone;
    # the tool runs in a process of its own.
    assert main.main([tool, "--help"]) == 0
    assert expected in capfd.readouterr().out


def test_the_report_says_in_plain_words_why_nothing_was_judged():
    from realtone_cli.render import analysis_report

    window = {"start_time_seconds": 0.0, "end_time_seconds": 4.0, "score": None, "voiced": False}
    text = analysis_report(
        {
            "filename": "hold.wav",
            "id": "x",
            "status": "completed",
            "summary": {"verdict": "inconclusive", "score": None, "threshold": 0.7,
                        "reason": "music_or_noise"},
            "chunks": [{**window, "chunk_id": 0, "reason": "music_or_noise"},
                       {**window, "chunk_id": 1, "reason": "no_speech"}],
        }
    )  # fmt: skip
    assert "nothing could be judged: music/noise" in text
    lines = text.splitlines()
    assert "music/noise" in lines[2] and "no speech" in lines[3]


def test_a_stream_that_ends_without_events_falls_back_to_polling():
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.endswith("/events"):
            return httpx.Response(
                200, content=b"retry: 2000\n\n", headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json=completed("1"))

    clock = Clock()
    options = analyze.Options(clock=clock, sleeper=clock.sleep, quiet=True)
    final = analyze.wait_for_result(
        client_for(handler), {"id": "1", "status": "queued"}, clock() + 60, options
    )
    assert final["status"] == "completed"
    assert calls == ["/v1/analyses/1/events", "/v1/analyses/1"]


def with_speakers(analysis: dict[str, Any], impersonation: bool) -> dict[str, Any]:
    """Two speakers: 0 real, 1 synthetic and (with ``impersonation``) sounding like mum."""
    chunks = [dict(c) for c in analysis["chunks"]]
    chunks[0].update(speaker=1, overlap=False)
    chunks[1].update(speaker=None, overlap=True)
    chunks[2].update(speaker=0, overlap=False)
    mum = {"id": "v1", "name": "mum", "similarity": 0.93}
    speakers = [
        {"speaker": 0, "seconds": 2.3, "share": 0.22, "score": 0.2, "verdict": "real"},
        {
            "speaker": 1,
            "seconds": 4.0,
            "share": 0.39,
            "score": 0.7,
            "verdict": "fake",
            "enrolled_voice": mum if impersonation else None,
        },
    ]
    alert = {"voice_id": "v1", "name": "mum", "speaker": 1, "similarity": 0.93}
    summary = {
        **analysis["summary"],
        "speakers": speakers,
        "impersonation": alert if impersonation else None,
    }
    return {**analysis, "chunks": chunks, "summary": summary}


def test_the_report_gives_each_speaker_a_verdict_and_flags_an_impersonation():
    text = render.analysis_report(with_speakers(completed("1", "real"), impersonation=True))
    assert "speaker 0: real (score 0.200; 2 s, 22 % of the audio)" in text
    assert "speaker 1: fake (score 0.700; 4 s, 39 % of the audio, sounds like mum (0.930))" in text
    assert "ALERT:   speaker 1 sounds like mum (0.930) and the voice is synthetic" in text
    rows = text.splitlines()
    assert "speaker" in rows[1] and "2 voices" in rows[3]
    plain = render.analysis_report(with_speakers(completed("1", "real"), impersonation=False))
    assert "ALERT" not in plain and "sounds like" not in plain


def test_an_impersonation_exits_1_even_when_the_file_is_mostly_real():
    result = analyze.FileResult("call.wav")
    result.analysis = with_speakers(completed("1", "real"), impersonation=True)
    assert analyze.exit_code([result]) == 1
    result.analysis = with_speakers(completed("1", "real"), impersonation=False)
    assert analyze.exit_code([result]) == 0
