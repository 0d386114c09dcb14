"""Server-sent events of an analysis, from the running API process while the worker (another
process) scores: what `realtone analyze` and the UI follow."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.audio import wav_bytes
from tests.e2e.conftest import wait_terminal
from tests.e2e.test_upload_flow import create_and_upload
from tests.sse import Received, read_events, without_speakers

pytestmark = pytest.mark.e2e


def follow(url: str, headers: dict[str, str], timeout: float = 120) -> list[Received]:
    """Every event until the server ends the stream."""
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        return [e for e in read_events(r.iter_lines()) if not e.comment]


def test_a_stream_shows_the_timeline_grow_and_ends_with_the_result(api, signed_up, running):
    headers = signed_up()
    body, _ = create_and_upload(api, headers, wav_bytes(240.0), "long.wav")  # 60 windows
    ident = body["analysis"]["id"]
    url = f"{running.api_url}/v1/analyses/{ident}/events"
    events = follow(url, headers)
    names = [e.event for e in events]
    assert names[-1] == "completed" and names.count("completed") == 1
    assert "processing" in [e.data["status"] for e in events if e.event == "status"]
    windows = [c for e in events if e.event == "windows" for c in e.data["chunks"]]
    final = events[-1].data
    assert final["status"] == "completed" and len(final["chunks"]) == 60
    # The windows events add up to the final timeline, each window once, in order (the
    # completed document adds who speaks in each).
    assert without_speakers(windows) == without_speakers(final["chunks"])
    assert final == wait_terminal(api, ident, headers)
    # Ids say what the client has seen; the last one is the end.
    assert events[-1].id == "completed:60"

    # Resuming part-way gets exactly the rest; resuming at the end is told to stop (204).
    resumed = follow(url, {**headers, "Last-Event-ID": "processing:25"})
    assert [e.event for e in resumed] == ["windows", "completed"]
    assert without_speakers(resumed[0].data["chunks"]) == without_speakers(final["chunks"][25:])
    done = httpx.get(url, headers={**headers, "Last-Event-ID": "completed:60"})
    assert done.status_code == 204


def test_a_browser_opens_the_stream_with_a_token_for_that_analysis_only(api, signed_up, running):
    owner, other = signed_up(), signed_up()
    first, _ = create_and_upload(api, owner, wav_bytes(3.0))
    second = api.post(
        "/v1/analyses",
        headers=owner,
        json={"filename": "b.wav", "content_type": "audio/wav", "size_bytes": 100},
    ).json()
    ident = first["analysis"]["id"]
    issued = api.post(f"/v1/analyses/{ident}/stream-token", headers=owner)
    assert issued.status_code == 200
    token = issued.json()["token"]
    assert issued.json()["url"] == f"/v1/analyses/{ident}/events?token={token}"
    events = follow(running.api_url + issued.json()["url"], {})
    assert events[-1].event == "completed"

    base = f"{running.api_url}/v1/analyses"
    # The token opens no other analysis, and is no access token.
    elsewhere = httpx.get(f"{base}/{second['analysis']['id']}/events", params={"token": token})
    assert elsewhere.status_code == 404
    assert (
        httpx.get(f"{base}/{ident}", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    forged = httpx.get(f"{base}/{ident}/events", params={"token": token[:-4] + "AAAA"})
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_token"
    # Another user learns nothing, with a bearer or when asking for a token.
    assert httpx.get(f"{base}/{ident}/events", headers=other).status_code == 404
    assert api.post(f"/v1/analyses/{ident}/stream-token", headers=other).status_code == 404
    assert httpx.get(f"{base}/{ident}/events").status_code == 401


def test_a_stream_waits_for_the_upload_and_reports_a_failure(api, signed_up, running):
    headers = signed_up()
    data = b"RIFF" + b"\x00" * 200  # not audio
    r = api.post(
        "/v1/analyses",
        headers=headers,
        json={"filename": "bad.wav", "content_type": "audio/wav", "size_bytes": len(data)},
    )
    created = r.json()
    ident = created["analysis"]["id"]
    received: list[Received] = []
    reader = threading.Thread(
        target=lambda: received.extend(
            follow(f"{running.api_url}/v1/analyses/{ident}/events", headers)
        )
    )
    reader.start()
    time.sleep(0.5)  # the stream is open, waiting, before the upload exists
    sent = httpx.post(
        created["upload"]["url"],
        data=created["upload"]["fields"],
        files={"file": ("bad.wav", data, "audio/wav")},
    )
    assert sent.status_code == 204
    reader.join(60)
    assert not reader.is_alive()
    assert received[0].event == "status" and received[0].data["status"] == "awaiting_upload"
    assert received[-1].event == "failed"
    assert received[-1].data["error"]["code"] in {"unsupported_format", "corrupt_audio"}
