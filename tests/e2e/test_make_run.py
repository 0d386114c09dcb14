"""`make run`'s process (`realtone-local run`): starts everything, stops it all on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from realtone_local.procs import free_port, port_open

pytestmark = pytest.mark.e2e


def test_run_serves_and_stops_everything_on_sigterm(stack, tmp_path):
    api_port, ls_port = free_port(), free_port()
    env = {
        **os.environ,
        "REALTONE_DATABASE_URL": stack.env["REALTONE_DATABASE_URL"],
        "REALTONE_REDIS_URL": stack.env["REALTONE_REDIS_URL"],
    }
    log = (tmp_path / "run.log").open("w+")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "realtone_local",
            "run",
            "--api-port",
            str(api_port),
            "--localstack-port",
            str(ls_port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        # The banner with the URLs is the user's signal that everything is up.
        deadline = time.monotonic() + 120
        while "Press Ctrl-C to stop." not in (tmp_path / "run.log").read_text():
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            if time.monotonic() > deadline:
                pytest.fail("no banner after 120 s:\n" + (tmp_path / "run.log").read_text())
            time.sleep(0.2)
        assert f"http://127.0.0.1:{api_port}/" in (tmp_path / "run.log").read_text()
        health = httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=5).json()
        assert health["status"] == "ok", health

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        took = time.monotonic() - started
        print(f"\nstopped everything in {took:.1f} s")
        assert took < 15
        assert not port_open(api_port) and not port_open(ls_port)
    finally:
        if proc.poll() is None:  # a failed assertion: still let it stop what it started
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
