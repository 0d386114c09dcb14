"""A worker killed mid-job (SIGKILL): its message comes back, another worker takes over the
dead claim, and the analysis completes exactly once."""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid

import pytest
from transformers import WavLMConfig

from realtone_core.models import Status
from realtone_local.procs import Child
from realtone_scorer.checkpoints import save_directory
from realtone_scorer.detector import WavLMDetector
from tests.audio import wav_bytes
from tests.integration.conftest import upload_via_post

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory):
    """A 4.8 M-parameter WavLM: slow enough (~0.1 s a window) to be caught mid-job."""
    config = WavLMConfig(
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
        conv_dim=(256,) * 7,
        apply_spec_augment=False,
    )
    path = tmp_path_factory.mktemp("models") / "slow"
    save_directory(
        WavLMDetector(config), path, {"name": "slow-test-model", "version": "1", "trained": False}
    )
    return path


def start_worker(stack, model_dir, name):
    env = {
        **stack.env,
        "REALTONE_MODEL": str(model_dir),
        "REALTONE_PRECISION": "fp32",
        "REALTONE_BATCH_SIZE": "2",
    }
    return Child(
        name,
        [
            sys.executable,
            "-m",
            "realtone_scorer.worker",
            "--wait-seconds",
            "1",
            "--visibility-seconds",
            "3",
            "--sweep-every",
            "3600",
        ],
        stack.options.log_dir / f"{name}.log",
        env=env,
    )


def test_killed_worker_message_is_redelivered_and_completed_once(
    stack, client, new_user, queue, services, slow_model
):
    headers = new_user()
    data = wav_bytes(180.0, seed=uuid.uuid4().int % 2**32)
    body = client.post(
        "/v1/analyses",
        headers=headers,
        json={"filename": "long.wav", "content_type": "audio/wav", "size_bytes": len(data)},
    ).json()
    ident = uuid.UUID(body["analysis"]["id"])
    first = start_worker(stack, slow_model, "worker-to-kill")
    try:
        assert upload_via_post(body["upload"], data, "audio/wav").status_code == 204
        deadline = time.monotonic() + 60
        while services.analyses.get(ident).status != Status.PROCESSING:
            assert time.monotonic() < deadline and first.alive(), first.tail()
            time.sleep(0.05)
        os.killpg(first.proc.pid, signal.SIGKILL)  # mid-job: no clean-up of any kind
        first.proc.wait(10)
    finally:
        first.stop()
    assert services.analyses.get(ident).status == Status.PROCESSING

    second = start_worker(stack, slow_model, "worker-taking-over")
    try:
        deadline = time.monotonic() + 90
        while services.analyses.get(ident).status != Status.COMPLETED:
            assert time.monotonic() < deadline and second.alive(), second.tail()
            time.sleep(0.2)
    finally:
        second.stop()
    with services.db.connection() as conn:
        attempts = conn.execute("SELECT attempts FROM analyses WHERE id = %s", (ident,)).fetchone()[
            0
        ]
        rows = conn.execute(
            "SELECT count(*), count(DISTINCT chunk_id) FROM analysis_chunks WHERE analysis_id = %s",
            (ident,),
        ).fetchone()
    assert attempts == 2
    assert rows == (45, 45)  # 180 s = 45 windows, each stored once
    got = client.get(f"/v1/analyses/{ident}", headers=headers).json()
    assert got["status"] == "completed" and got["model"]["name"] == "slow-test-model"
    assert len(got["chunks"]) == 45
    queue.drain()
