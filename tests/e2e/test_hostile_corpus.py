"""The hostile corpus through the running stack: every upload ends as expected, and the worker
neither crashes nor hangs, with its memory bounded."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.hostile import corpus

pytestmark = pytest.mark.e2e

WORKER_PEAK_LIMIT_MB = 1024


def _peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def test_hostile_corpus_end_to_end(api, signed_up, running):
    worker = next(c for c in running.children if c.name == "worker")
    cases = corpus()
    pending: dict[str, tuple[str, str, dict[str, str]]] = {}
    headers = signed_up()
    for i, (name, data, expected) in enumerate(cases):
        if i % 20 == 19:
            headers = signed_up()  # stay under the per-user analyses-per-minute limit
        size = max(len(data), 1)
        r = api.post(
            "/v1/analyses",
            headers=headers,
            json={"filename": "upload.wav", "content_type": "audio/wav", "size_bytes": size},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        if not data:
            # S3 refuses an empty file (content-length-range starts at 1): the browser is told
            # at once, and the analysis simply never gets an upload.
            sent = httpx.post(
                body["upload"]["url"],
                data=body["upload"]["fields"],
                files={"file": ("upload.wav", b"", "audio/wav")},
            )
            assert sent.status_code == 400 and "EntityTooSmall" in sent.text
            continue
        sent = httpx.post(
            body["upload"]["url"],
            data=body["upload"]["fields"],
            files={"file": ("upload.wav", data, "audio/wav")},
            timeout=60,
        )
        assert sent.status_code == 204, (name, sent.text)
        pending[body["analysis"]["id"]] = (name, expected, headers)

    deadline = time.monotonic() + 180
    outcomes: dict[str, str] = {}
    while pending and time.monotonic() < deadline:
        for ident, (name, expected, hdrs) in list(pending.items()):
            got = api.get(f"/v1/analyses/{ident}", headers=hdrs).json()
            if got["status"] in ("completed", "failed"):
                outcomes[name] = got["error"]["code"] if got["error"] else "completed"
                assert outcomes[name] == expected, (name, got["error"])
                del pending[ident]
        assert worker.alive(), worker.tail()
        time.sleep(0.3)
    assert not pending, f"not finished in time: {[v[0] for v in pending.values()]}"
    peak = _peak_mb(worker.proc.pid)
    print(f"\n{len(outcomes)} hostile uploads scored; worker peak RSS {peak:.0f} MB")
    assert worker.alive()
    assert peak < WORKER_PEAK_LIMIT_MB
