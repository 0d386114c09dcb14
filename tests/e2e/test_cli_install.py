"""The command-line client installs on its own, without the server or torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from realtone_local.stack import ROOT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("cli-venv")
    # Built from a copy: pip leaves build files beside the sources it builds.
    source = tmp_path_factory.mktemp("cli-source") / "cli"
    shutil.copytree(ROOT / "clients" / "cli", source, ignore=shutil.ignore_patterns("*.egg-info"))
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(source)],
        check=True,
        timeout=600,
    )
    return venv / "bin"


def test_the_client_alone_has_its_commands_and_no_torch(client_only):
    help_text = subprocess.run(
        [str(client_only / "realtone"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("analyze", "history", "login"):
        assert command in help_text
    torch = subprocess.run([str(client_only / "python"), "-c", "import torch"], check=False)
    assert torch.returncode != 0
    server = subprocess.run([str(client_only / "python"), "-c", "import realtone_core"])
    assert server.returncode != 0


def test_eval_without_the_scorer_says_what_to_install(client_only):
    done = subprocess.run(
        [str(client_only / "realtone"), "eval", "--protocol", "x.csv"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "tools" in done.stderr and "pip install" in done.stderr
