"""The CLI without a network: parsing, help, credentials, rendering, refresh, exit codes."""

from __future__ import annotations

import json
import stat

import httpx
import pytest

from realtone_cli import config, main, render
from realtone_cli.client import ApiError, Client, NotLoggedIn


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("REALTONE_API", raising=False)
    return tmp_path / "cfg"


@pytest.mark.parametrize(
    "command", ["analyze", "login", "register", "logout", "history", "show", "delete"]
)
def test_every_command_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main.main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "usage: realtone" in out and len(out) > 150


def test_top_level_help_lists_commands_and_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main.main(["--help"])
    out = capsys.readouterr().out
    for command in ("analyze", "history", "delete", "eval", "train", "REALTONE_API"):
        assert command in out
    with pytest.raises(SystemExit):
        main.main(["analyze", "--help"])
    assert "exit codes" in capsys.readouterr().out


def test_credentials_are_owner_only(config_home):
    path = config.save(config.Credentials("http://x", "a@b.c", "acc", "ref"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert config.load() == config.Credentials("http://x", "a@b.c", "acc", "ref")
    assert config.forget() and config.load() is None and not config.forget()


def test_not_logged_in_is_exit_2_with_a_hint(tmp_path, capsys):
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"RIFF")
    assert main.main(["--api", "http://127.0.0.1:9", "history"]) == 2
    assert "realtone login" in capsys.readouterr().err


def test_local_file_problems_are_exit_2(tmp_path, capsys):
    config.save(config.Credentials(config.DEFAULT_API, "a@b.c", "acc", "ref"))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert main.main(["analyze", str(tmp_path / "missing.wav"), str(empty), "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert [r["error"]["message"] for r in out] == ["no such file", "the file is empty"]


def _transport(handler):
    return httpx.MockTransport(handler)


def test_an_expired_session_is_refreshed_and_saved():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path, request.headers.get("authorization")))
        if request.url.path == "/v1/auth/refresh":
            assert json.loads(request.content) == {"refresh_token": "old-refresh"}
            return httpx.Response(
                200, json={"access_token": "new-access", "refresh_token": "new-refresh"}
            )
        if request.headers["authorization"] == "Bearer old-access":
            return httpx.Response(
                401, json={"error": {"code": "invalid_token", "message": "expired"}}
            )
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    creds = config.Credentials("http://api", "a@b.c", "old-access", "old-refresh")
    client = Client("http://api", creds)
    client.http = httpx.Client(base_url="http://api", transport=_transport(handler))
    assert client.request("GET", "/v1/analyses").json()["items"] == []
    assert [c[1] for c in calls] == ["/v1/analyses", "/v1/auth/refresh", "/v1/analyses"]
    # Refresh tokens rotate, so the new pair is on disk at once.
    assert config.load().refresh_token == "new-refresh"


def test_a_failed_refresh_means_log_in_again():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"code": "invalid_token", "message": "nope"}})

    client = Client("http://api", config.Credentials("http://api", "a", "x", "y"))
    client.http = httpx.Client(base_url="http://api", transport=_transport(handler))
    with pytest.raises(NotLoggedIn):
        client.request("GET", "/v1/analyses")


def test_api_errors_carry_code_and_message():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            415, json={"error": {"code": "unsupported_format", "message": "not audio"}}
        )

    client = Client("http://api", config.Credentials("http://api", "a", "x", "y"))
    client.http = httpx.Client(base_url="http://api", transport=_transport(handler))
    with pytest.raises(ApiError) as err:
        client.request("POST", "/v1/analyses", json={})
    assert (err.value.status, err.value.code, err.value.message) == (
        415,
        "unsupported_format",
        "not audio",
    )


def test_unreachable_api_is_a_clear_error():
    client = Client("http://127.0.0.1:9", None)
    with pytest.raises(ApiError, match="cannot reach the RealTone API"):
        client.request("POST", "/v1/auth/login", auth=False, json={})


ANALYSIS = {
    "id": "1",
    "filename": "a.wav",
    "status": "completed",
    "duration_seconds": 10.3,
    "processing_ms": 120,
    "model": {"name": "dev:tiny", "version": "1", "sha256": "x", "trained": False},
    "summary": {
        "verdict": "likely_fake",
        "score": 0.61,
        "max_score": 0.7,
        "mean_score": 0.4,
        "fake_chunk_ratio": 0.33,
        "threshold": 0.5,
    },
    "chunks": [
        {
            "chunk_id": 0,
            "start_time_seconds": 0.0,
            "end_time_seconds": 4.0,
            "score": 0.7,
            "voiced": True,
        },
        {
            "chunk_id": 1,
            "start_time_seconds": 4.0,
            "end_time_seconds": 8.0,
            "score": None,
            "voiced": False,
        },
        {
            "chunk_id": 2,
            "start_time_seconds": 8.0,
            "end_time_seconds": 10.3,
            "score": 0.2,
            "voiced": True,
        },
    ],
    "error": None,
}


def test_report_shows_windows_verdict_and_untrained_warning():
    text = render.analysis_report(ANALYSIS)
    assert "LIKELY FAKE" in text and "61 %" in text
    assert "no speech" in text and "10.3s" in text
    assert "untrained" in text
    failed = {**ANALYSIS, "status": "failed", "error": {"code": "too_short", "message": "short"}}
    assert "too short" in render.analysis_report(failed)


def test_progress_without_a_terminal_prints_a_few_lines(capsys):
    import sys

    progress = render.Progress("uploading", 1000, stream=sys.stderr)
    for _ in range(10):
        progress.advance(100)
    progress.finish()
    lines = capsys.readouterr().err.strip().splitlines()
    assert 3 <= len(lines) <= 5 and lines[-1].endswith("100%")
