"""The `realtone` CLI against the running stack, as a user runs it."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import uuid

import pytest

from tests.audio import JUNK, wav_bytes

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli(running, tmp_path):
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "REALTONE_API": running.api_url,
        "PATH": "/usr/bin:/bin",
    }

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "realtone_cli.main", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    run.config = tmp_path / "cfg" / "realtone" / "credentials.json"  # type: ignore[attr-defined]
    return run


def test_cli_session_analyze_history_delete(cli, tmp_path):
    assert cli("history").returncode == 2  # not logged in yet
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    registered = cli("register", "--email", email, "--password-stdin", stdin="cli-password\n")
    assert registered.returncode == 0, registered.stderr
    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600

    clip = tmp_path / "interview.wav"
    clip.write_bytes(wav_bytes(10.3, rate=44_100, channels=2))
    done = cli("analyze", str(clip))
    assert done.returncode in (0, 1), done.stderr
    lines = done.stdout.splitlines()
    assert any("0.0s    4.0s" in line for line in lines)
    assert any("4.0s    8.0s" in line for line in lines)
    assert any("8.0s   10.3s" in line for line in lines)
    assert "verdict:" in done.stdout and "untrained" in done.stdout
    verdict = done.stdout.split("verdict:")[1].split("(")[0]
    assert (done.returncode == 1) == ("FAKE" in verdict)  # exit 1 exactly when fake / likely fake

    as_json = cli("analyze", "--json", str(clip))
    result = json.loads(as_json.stdout)
    assert (
        result[0]["analysis"]["status"] == "completed" and len(result[0]["analysis"]["chunks"]) == 3
    )
    ident = result[0]["analysis"]["id"]

    junk = tmp_path / "bad.wav"
    junk.write_bytes(JUNK)
    failed = cli("analyze", str(junk))
    assert failed.returncode == 2
    assert "damaged or not audio" in failed.stdout and "corrupt_audio" in failed.stdout

    assert cli("analyze", str(tmp_path / "nope.wav")).returncode == 2

    history = cli("history")
    assert history.returncode == 0 and ident in history.stdout and "interview.wav" in history.stdout
    assert cli("delete", ident).returncode == 0
    gone = cli("show", ident)
    assert gone.returncode == 2 and "not_found" in gone.stderr

    assert cli("logout").returncode == 0 and not cli.config.exists()
    after = cli("history")
    assert after.returncode == 2 and "realtone login" in after.stderr


def test_cli_wrong_password(cli):
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    assert (
        cli("register", "--email", email, "--password-stdin", stdin="right-password\n").returncode
        == 0
    )
    wrong = cli("login", "--email", email, "--password-stdin", stdin="wrong-password\n")
    assert wrong.returncode == 2 and "invalid_credentials" in wrong.stderr
