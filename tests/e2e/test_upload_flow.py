"""The running stack over HTTP, exactly as a browser or the CLI uses it."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from realtone_core.cache import analysis_key
from realtone_local.stack import REGION
from tests.audio import JUNK, wav_bytes
from tests.e2e.conftest import wait_terminal

pytestmark = pytest.mark.e2e


def create_and_upload(api, headers, data, filename="clip.wav", content_type="audio/wav"):
    r = api.post(
        "/v1/analyses",
        headers=headers,
        json={"filename": filename, "content_type": content_type, "size_bytes": len(data)},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    sent = httpx.post(
        body["upload"]["url"],
        data=body["upload"]["fields"],
        files={"file": (filename, data, content_type)},
        timeout=30,
    )
    return body, sent


def test_upload_to_completed_with_the_right_windows(api, signed_up):
    headers = signed_up()
    data = wav_bytes(10.3, rate=44_100, channels=2)
    started = time.monotonic()
    body, sent = create_and_upload(api, headers, data, "interview.wav")
    assert sent.status_code == 204
    result = wait_terminal(api, body["analysis"]["id"], headers)
    elapsed = time.monotonic() - started
    print(f"\nupload → completed for a 10.3-s clip: {elapsed:.2f} s")
    assert result["status"] == "completed"
    assert [
        (c["chunk_id"], c["start_time_seconds"], c["end_time_seconds"]) for c in result["chunks"]
    ] == [(0, 0.0, 4.0), (1, 4.0, 8.0), (2, 8.0, 10.3)]
    assert all(0 <= c["score"] <= 1 and c["voiced"] for c in result["chunks"])
    assert result["duration_seconds"] == pytest.approx(10.3, abs=0.01)
    assert result["summary"]["verdict"] in {"fake", "likely_fake", "real"}
    assert result["model"]["name"] == "dev:tiny" and result["model"]["trained"] is False
    assert result["processing_ms"] >= 0 and result["error"] is None
    audio = api.get(f"/v1/analyses/{result['id']}/audio", headers=headers).json()
    assert httpx.get(audio["url"]).content == data


def test_junk_bytes_named_wav_fail_with_corrupt_audio(api, signed_up):
    headers = signed_up()
    body, sent = create_and_upload(api, headers, JUNK, "recording.wav")
    assert sent.status_code == 204
    result = wait_terminal(api, body["analysis"]["id"], headers)
    assert result["status"] == "failed"
    assert result["error"]["code"] == "corrupt_audio"
    assert result["chunks"] == [] and result["summary"] is None


def test_uploading_more_than_declared_is_refused_by_s3(api, signed_up):
    headers = signed_up()
    data = wav_bytes(2.0)
    r = api.post(
        "/v1/analyses",
        headers=headers,
        json={"filename": "a.wav", "content_type": "audio/wav", "size_bytes": 1000},
    )
    upload = r.json()["upload"]
    sent = httpx.post(
        upload["url"], data=upload["fields"], files={"file": ("a.wav", data, "audio/wav")}
    )
    assert sent.status_code == 400 and "EntityTooLarge" in sent.text
    got = api.get(f"/v1/analyses/{r.json()['analysis']['id']}", headers=headers).json()
    assert got["status"] == "awaiting_upload"


def test_other_users_and_anonymous_callers(api, signed_up):
    alice, bob = signed_up(), signed_up()
    body, _ = create_and_upload(api, alice, wav_bytes(1.0))
    ident = body["analysis"]["id"]
    r = api.get(f"/v1/analyses/{ident}", headers=bob)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = api.get(f"/v1/analyses/{ident}")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_delete_removes_object_rows_and_cache(api, signed_up, running):
    import boto3
    import psycopg
    import redis

    headers = signed_up()
    body, _ = create_and_upload(api, headers, wav_bytes(3.0))
    ident = body["analysis"]["id"]
    key = body["upload"]["fields"]["key"]
    assert wait_terminal(api, ident, headers)["status"] == "completed"
    env = running.env
    s3 = boto3.client("s3", endpoint_url=env["REALTONE_AWS_ENDPOINT_URL"], region_name=REGION)
    cache = redis.Redis.from_url(env["REALTONE_REDIS_URL"])
    assert s3.head_object(Bucket=env["REALTONE_BUCKET"], Key=key)
    assert cache.exists(analysis_key(uuid.UUID(ident)))

    assert api.delete(f"/v1/analyses/{ident}", headers=headers).status_code == 204

    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=env["REALTONE_BUCKET"], Key=key)
    assert not cache.exists(analysis_key(uuid.UUID(ident)))
    with psycopg.connect(env["REALTONE_DATABASE_URL"]) as conn:
        assert (
            conn.execute("SELECT count(*) FROM analyses WHERE id = %s", (ident,)).fetchone()[0] == 0
        )
        assert (
            conn.execute(
                "SELECT count(*) FROM analysis_chunks WHERE analysis_id = %s", (ident,)
            ).fetchone()[0]
            == 0
        )
    assert api.get(f"/v1/analyses/{ident}", headers=headers).status_code == 404
    assert api.delete(f"/v1/analyses/{ident}", headers=headers).status_code == 404


def test_health_shows_the_model_card(api):
    body = api.get("/health").json()
    assert body["status"] == "ok"
    assert body["model"]["name"] == "dev:tiny" and len(body["model"]["sha256"]) == 64
