"""The `realtone` CLI against the running stack, run as a user runs it (a subprocess with its
own config directory)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.audio import JUNK, wav_bytes

pytestmark = pytest.mark.e2e

Run = Callable[..., subprocess.CompletedProcess[str]]
PASSWORD = "cli-password-1"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "cfg" / "realtone" / "credentials.json"


@pytest.fixture
def cli(running, tmp_path: Path) -> Run:
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "HOME": str(tmp_path),
        "REALTONE_API": running.api_url,
        "PATH": "/usr/bin:/bin",
    }

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "realtone_cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    return run


def _register(cli: Run) -> str:
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    done = cli("register", "--email", email, "--password-stdin", stdin=f"{PASSWORD}\n")
    assert done.returncode == 0, done.stderr
    return email


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "realtone"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("realtone ")


def test_cli_session_analyze_history_delete(cli: Run, config_file: Path, tmp_path: Path):
    clip = tmp_path / "interview.wav"
    clip.write_bytes(wav_bytes(10.3, rate=44_100, channels=2))

    # Not logged in yet: a helpful message, exit 2, nothing uploaded.
    before = cli("analyze", str(clip))
    assert before.returncode == 2 and "not logged in" in before.stderr
    assert "realtone login" in before.stderr

    email = _register(cli)
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_file.parent.stat().st_mode) == 0o700
    saved = json.loads(config_file.read_text())
    assert saved["email"] == email and set(saved) == {
        "api",
        "email",
        "access_token",
        "refresh_token",
    }
    login = cli("login", "--email", email, "--password-stdin", stdin=f"{PASSWORD}\n")
    assert login.returncode == 0, login.stderr
    assert cli("whoami").stdout.startswith(email)

    # The table: three windows, the verdict, the model card with its warning.
    done = cli("analyze", str(clip))
    assert done.returncode in (0, 1), done.stderr
    out = done.stdout
    # window, start, end, speaker (one voice: 0), score
    assert re.search(r"^\s+0\s+0\.0s\s+4\.0s\s+0\s+\d\.\d{3}\s", out, re.M), out
    assert re.search(r"^\s+1\s+4\.0s\s+8\.0s\s+0\s+\d\.\d{3}\s", out, re.M), out
    assert re.search(r"^\s+2\s+8\.0s\s+10\.3s\s+0\s+\d\.\d{3}\s", out, re.M), out
    assert re.search(r"^\s+speaker 0: \w+ \(score \d\.\d{3}; 10 s, 100 % of the audio\)", out, re.M)
    verdict = re.search(r"verdict: (\w+)", out)
    assert verdict and verdict[1] in ("fake", "likely_fake", "real", "inconclusive")
    assert done.returncode == (1 if verdict[1] in ("fake", "likely_fake") else 0)
    assert "model:   dev:tiny" in out and "warning: this model is untrained" in out
    assert "uploading interview.wav: 100%" in done.stderr  # no terminal: plain progress lines
    # The windows came by the event stream (polling never sees a timeline with progress).
    assert "(3/3 windows)" in done.stderr, done.stderr

    # --json: one document on stdout, nothing else.
    as_json = cli("analyze", "--json", str(clip))
    [entry] = json.loads(as_json.stdout)
    analysis = entry["analysis"]
    assert entry["error"] is None and analysis["status"] == "completed"
    assert [(c["start_time_seconds"], c["end_time_seconds"]) for c in analysis["chunks"]] == [
        (0.0, 4.0),
        (4.0, 8.0),
        (8.0, pytest.approx(10.3, abs=0.01)),
    ]
    assert analysis["model"]["trained"] is False
    expected = 1 if analysis["summary"]["verdict"] in ("fake", "likely_fake") else 0
    assert as_json.returncode == expected
    ident = analysis["id"]

    # Junk and a missing file: exit 2 with the reason.
    junk = tmp_path / "bad.wav"
    junk.write_bytes(JUNK)
    failed = cli("analyze", str(junk))
    assert failed.returncode == 2
    assert "failed: the file is damaged or not audio (corrupt_audio)" in failed.stdout
    missing = cli("analyze", str(tmp_path / "nope.wav"))
    assert missing.returncode == 2 and "nope.wav: no such file" in missing.stderr

    # History (newest first), show, delete.
    history = cli("history")
    assert history.returncode == 0, history.stderr
    rows = history.stdout.splitlines()[1:]
    assert "bad.wav" in rows[0] and "corrupt_audio" in rows[0]
    assert ident in rows[1] and "interview.wav" in rows[1]
    listed = json.loads(cli("history", "--all", "--json").stdout)
    assert len(listed["items"]) == 3 and listed["next_cursor"] is None
    shown = cli("show", ident, "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == ident
    deleted = cli("delete", ident)
    assert deleted.returncode == 0 and deleted.stdout == f"deleted {ident}\n"
    again = cli("delete", ident)
    assert again.returncode == 2 and "no such analysis" in again.stderr
    assert ident not in cli("history").stdout

    # Logout ends the session on the server and removes the credentials; then a helpful
    # message and exit 2.
    session = json.loads(config_file.read_text())
    out_ = cli("logout")
    assert out_.returncode == 0 and not config_file.exists()
    config_file.write_text(json.dumps({**session, "access_token": "expired"}))
    assert cli("history").stderr == "error: Session expired: run `realtone login`\n"
    config_file.unlink()
    after = cli("history")
    assert after.returncode == 2 and "realtone login" in after.stderr


def test_cli_refreshes_an_expired_session_and_saves_the_rotated_pair(cli: Run, config_file: Path):
    _register(cli)
    saved = json.loads(config_file.read_text())
    # An access token the API rejects (as an expired one is) forces a refresh.
    config_file.write_text(json.dumps({**saved, "access_token": "expired"}))
    history = cli("history")
    assert history.returncode == 0, history.stderr
    renewed = json.loads(config_file.read_text())
    assert renewed["refresh_token"] != saved["refresh_token"]  # rotated, and saved at once
    assert renewed["access_token"] != "expired"
    # The spent refresh token is refused: the session is over.
    config_file.write_text(json.dumps({**saved, "access_token": "expired"}))
    expired = cli("history")
    assert expired.returncode == 2
    assert expired.stderr == "error: Session expired: run `realtone login`\n"


def test_cli_wrong_password_and_taken_email(cli: Run):
    email = _register(cli)
    wrong = cli("login", "--email", email, "--password-stdin", stdin="wrong-password\n")
    assert wrong.returncode == 2
    assert wrong.stderr == "error: Wrong email or password (invalid_credentials)\n"
    # Registering never tells whether the email had an account: with its password that is
    # simply a login, with another one the login fails and says what to do.
    again = cli("register", "--email", email, "--password-stdin", stdin=f"{PASSWORD}\n")
    assert again.returncode == 0, again.stderr
    taken = cli("register", "--email", email, "--password-stdin", stdin="another-password\n")
    assert taken.returncode == 2 and "realtone login" in taken.stderr
    assert "(invalid_credentials)" in taken.stderr


def test_cli_analyzes_a_folder_several_files_at_once(cli: Run, tmp_path: Path):
    _register(cli)
    folder = tmp_path / "calls"
    folder.mkdir()
    for i in range(4):
        (folder / f"call-{i}.wav").write_bytes(wav_bytes(3.0 + i, seed=40 + i))
    done = cli("analyze", str(folder), "--jobs", "3")
    assert done.returncode in (0, 1), done.stderr
    rows = done.stdout.splitlines()[1:5]
    assert [Path(r.split()[3]).name for r in rows] == [f"call-{i}.wav" for i in range(4)]
    assert all(r.split()[0] in ("real", "fake", "likely_fake", "inconclusive") for r in rows)
    assert "4 of 4 done" in done.stderr
    assert "4 files:" in done.stdout


def test_cli_account_zero_retention_and_delete(cli: Run, config_file: Path, tmp_path: Path):
    email = _register(cli)
    shown = cli("account")
    assert shown.returncode == 0 and email in shown.stdout and "kept 30 days" in shown.stdout
    bad = cli("account", "--retention", "0")
    assert bad.returncode == 2 and "--retention" in bad.stderr
    changed = cli("account", "--retention", "zero", "--json")
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["retention_days"] == "zero"

    clip = tmp_path / "private.wav"
    clip.write_bytes(wav_bytes(5.0, seed=uuid.uuid4().int % 2**32))
    done = cli("analyze", "--json", str(clip))
    assert done.returncode in (0, 1), done.stderr
    analysis = json.loads(done.stdout)[0]["analysis"]
    assert analysis["status"] == "completed"
    assert analysis["audio_deleted"]["reason"] == "zero_retention"
    report = cli("show", analysis["id"])
    assert "audio not kept: zero-retention" in report.stdout and "verdict:" in report.stdout

    # No terminal to ask: --yes is needed, and nothing is deleted without it.
    unconfirmed = cli("account", "--delete", stdin="")
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    deleted = cli("account", "--delete", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted the account {email}" in deleted.stdout and not config_file.exists()
    again = cli("login", "--email", email, "--password-stdin", stdin=f"{PASSWORD}\n")
    assert again.returncode == 2 and "invalid_credentials" in again.stderr


def test_cli_enrols_a_voice_from_a_file_and_finds_it_in_another(cli: Run, tmp_path: Path):
    from tests.integration.test_speakers import alternation

    _register(cli)
    first, _ = alternation(("speech-asterisk-june.flac", 0, 16))
    call, _ = alternation(("speech-asterisk-june.flac", 0, 8), ("synthetic-piper-joe.flac", 0, 8))
    (tmp_path / "june.wav").write_bytes(first)
    (tmp_path / "call.wav").write_bytes(call)

    done = cli("voices", "enroll", "June", str(tmp_path / "june.wav"), "--json")
    assert done.returncode == 0, done.stderr
    voice = json.loads(done.stdout)
    assert voice["name"] == "June" and "embedding" not in done.stdout
    listed = cli("voices", "list")
    assert listed.returncode == 0 and "June" in listed.stdout

    # The call is analysed with a verdict per speaker; its main voice (0) is June's, which the
    # report names; a search by her voice finds both recordings.
    analyzed = cli("analyze", str(tmp_path / "call.wav"))
    assert analyzed.returncode in (0, 1), analyzed.stderr
    assert "speaker 0:" in analyzed.stdout and "speaker 1:" in analyzed.stdout
    assert "sounds like June" in analyzed.stdout
    found = cli("voices", "search", "--voice", voice["id"], "--json")
    assert found.returncode == 0, found.stderr
    assert len(json.loads(found.stdout)["items"]) == 2

    assert cli("voices", "delete", voice["id"]).returncode == 0
    assert "June" not in cli("voices", "list").stdout
