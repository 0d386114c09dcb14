"""The load script runs against the stack and its end checks pass (a small run; the full one
is `.venv/bin/python bench/load.py` against `make run`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from realtone_local.stack import ROOT

pytestmark = pytest.mark.e2e


def test_load_script_small_run(running, tmp_path):
    env_file = tmp_path / "stack-env.json"
    running.write_env(env_file)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "load.py"),
            "--api",
            running.api_url,
            "--users",
            "5",
            "--clips",
            "1",
            "--clip-seconds",
            "4.5",
            "--rate",
            "50",
            "--seconds",
            "3",
            "--env-file",
            str(env_file),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "phase 2: target 50 req/s" in done.stdout
    assert "Postgres: 5 analyses checked" in done.stdout
    assert "checks: all analyses terminal, one result each, no errors" in done.stdout
