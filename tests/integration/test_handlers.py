"""Both Lambda handlers, fed real event shapes, against the real services."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import replace
from urllib.parse import quote_plus

import pytest

from realtone_core.models import Status
from realtone_local.stack import REGION
from realtone_scorer.worker import LocalLambdaContext, to_lambda_event
from tests.audio import JUNK, wav_bytes
from tests.events import EVENTS, load_event
from tests.integration.conftest import upload_via_post
from tests.sse import without_speakers

QUEUE_ARN = f"arn:aws:sqs:{REGION}:000000000000:q"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api_handler(stack):
    from realtone_api.main import handler

    return handler


@pytest.fixture(scope="module")
def scorer_handler(stack):
    from realtone_scorer.handler import lambda_handler

    return lambda_handler


def invoke_api(handler, name, **values):
    response = handler(load_event(name, **values), LocalLambdaContext(function_name="realtone-api"))
    return response["statusCode"], response["headers"], json.loads(response["body"] or "null")


def test_every_api_event_file_replays_through_the_mangum_handler(api_handler):
    email = f"event-{uuid.uuid4().hex[:8]}@example.com"
    status, _, body = invoke_api(api_handler, "api-register.json", EMAIL=email)
    assert (status, body["email"]) == (201, email)
    status, _, tokens = invoke_api(api_handler, "api-login.json", EMAIL=email)
    assert status == 200
    token = tokens["access_token"]
    status, _, created = invoke_api(api_handler, "api-create-analysis.json", ACCESS_TOKEN=token)
    assert status == 201 and created["upload"]["fields"]["key"].endswith("/voice_note.wav")
    ident = created["analysis"]["id"]
    status, headers, got = invoke_api(
        api_handler, "api-get-analysis.json", ACCESS_TOKEN=token, ANALYSIS_ID=ident
    )
    assert (status, got["id"], got["status"]) == (200, ident, "awaiting_upload")
    assert headers["etag"].startswith('"') and headers["retry-after"] == "1"
    status, _, listed = invoke_api(api_handler, "api-list-analyses.json", ACCESS_TOKEN=token)
    assert status == 200 and [i["id"] for i in listed["items"]] == [ident]
    status, headers, err = invoke_api(
        api_handler, "api-get-analysis-no-token.json", ANALYSIS_ID=ident
    )
    assert (status, err["error"]["code"], headers["www-authenticate"]) == (
        401,
        "invalid_token",
        "Bearer",
    )
    status, _, health = invoke_api(api_handler, "api-health.json")
    assert status == 200 and health["checks"]["postgres"] == "ok"
    replayed = {p.name for p in EVENTS.glob("api-*.json")}
    assert replayed == {
        "api-register.json",
        "api-login.json",
        "api-create-analysis.json",
        "api-get-analysis.json",
        "api-list-analyses.json",
        "api-get-analysis-no-token.json",
        "api-health.json",
    }


def uploaded(client, headers, data, filename="clip.wav"):
    r = client.post(
        "/v1/analyses",
        headers=headers,
        json={"filename": filename, "content_type": "audio/wav", "size_bytes": len(data)},
    )
    assert r.status_code == 201
    body = r.json()
    assert upload_via_post(body["upload"], data, "audio/wav").status_code == 204
    return body["analysis"]["id"], body["upload"]["fields"]["key"]


def test_scorer_handles_the_real_notification_once(
    client, new_user, queue, scorer_handler, services
):
    headers = new_user()
    ident, _key = uploaded(client, headers, wav_bytes(10.3, 44_100, channels=2), "my voice!.wav")
    messages = queue.wait_for_key(ident)
    event = to_lambda_event(messages, QUEUE_ARN, REGION)
    assert scorer_handler(event, LocalLambdaContext()) == {"batchItemFailures": []}
    record = services.analyses.get(uuid.UUID(ident))
    assert record.status == Status.COMPLETED
    chunks = services.analyses.chunks(record.id)
    assert [(c.start_time_seconds, c.end_time_seconds) for c in chunks] == [
        (0, 4),
        (4, 8),
        (8, 10.3),
    ]
    assert record.model.name == "dev:tiny" and record.model.trained is False
    cached = json.loads(services.cache.get(record.id).body)
    assert cached["status"] == "completed" and len(cached["chunks"]) == 3
    # The same message again (SQS redelivery): nothing is scored or written twice.
    assert scorer_handler(event, LocalLambdaContext()) == {"batchItemFailures": []}
    again = services.analyses.get(record.id)
    assert again.updated_at == record.updated_at
    assert len(services.analyses.chunks(record.id)) == 3
    for m in messages:
        queue.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"])


def test_event_file_with_an_encoded_key_is_scored(
    client, new_user, queue, scorer_handler, services
):
    headers = new_user()
    ident, key = uploaded(client, headers, wav_bytes(5.0), "voice note.wav")
    queue.drain()
    event = load_event(
        "sqs-s3-object-created.json", BUCKET=services.settings.bucket, KEY=quote_plus(key)
    )
    assert "voice_note.wav" in event["Records"][0]["body"]
    assert scorer_handler(event, LocalLambdaContext()) == {"batchItemFailures": []}
    assert services.analyses.get(uuid.UUID(ident)).status == Status.COMPLETED


def test_identical_bytes_of_one_owner_reuse_the_result_only_when_scored_the_same_way(
    client, new_user, queue, scorer_handler, services
):
    from realtone_scorer.pipeline import scoring_key
    from realtone_scorer.runtime import get_scorer

    data = wav_bytes(6.0, rate=22_050, seed=41)

    def score(headers):
        ident, _ = uploaded(client, headers, data)
        messages = queue.wait_for_key(ident)
        event = to_lambda_event(messages, QUEUE_ARN, REGION)
        assert scorer_handler(event, LocalLambdaContext()) == {"batchItemFailures": []}
        for m in messages:
            queue.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"])
        return services.analyses.get(uuid.UUID(ident))

    def timings(record):
        with services.analyses.db.connection() as conn:
            row = conn.execute("SELECT timings FROM analyses WHERE id = %s", (record.id,))
            return row.fetchone()[0]

    owner = new_user()
    first, second = score(owner), score(owner)
    assert first.status == second.status == Status.COMPLETED
    assert services.analyses.chunks(second.id) == services.analyses.chunks(first.id)
    assert second.summary == first.summary
    # Reused: the second upload was neither decoded nor run through the model.
    assert "decode_ms" in timings(first)
    assert "decode_ms" not in timings(second) and timings(second)["score_ms"] == 0
    content = hashlib.sha256(data).hexdigest()
    scorer = get_scorer()
    key = scoring_key(scorer.options, scorer.detector, scorer.voices)
    found = services.analyses.find_reusable(first.owner_id, content, key)
    assert found is not None and found[0] in {first.id, second.id}
    other = replace(scorer.options, voice_threshold_dbfs=-40.0)
    assert (
        services.analyses.find_reusable(
            first.owner_id, content, scoring_key(other, scorer.detector, scorer.voices)
        )
        is None
    )


def test_s3_test_event_is_ignored(scorer_handler, services):
    event = load_event("sqs-s3-test-event.json", BUCKET=services.settings.bucket)
    assert scorer_handler(event, LocalLambdaContext()) == {"batchItemFailures": []}


def test_junk_named_wav_fails_with_corrupt_audio(client, new_user, queue, scorer_handler, services):
    headers = new_user()
    ident, _ = uploaded(client, headers, JUNK, "junk.wav")
    event = to_lambda_event(queue.wait_for_key(ident), QUEUE_ARN, REGION)
    assert scorer_handler(event, LocalLambdaContext()) == {"batchItemFailures": []}
    got = client.get(f"/v1/analyses/{ident}", headers=headers).json()
    assert got["status"] == "failed"
    assert got["error"]["code"] == "corrupt_audio"
    assert "Retry-After" not in client.get(f"/v1/analyses/{ident}", headers=headers).headers


def test_a_poison_message_fails_alone(client, new_user, queue, scorer_handler, services):
    headers = new_user()
    ident, _ = uploaded(client, headers, wav_bytes(2.0))
    good = queue.wait_for_key(ident)
    poison = {**good[0], "MessageId": "poison-1", "Body": "{not json"}
    event = to_lambda_event([*good, poison], QUEUE_ARN, REGION)
    result = scorer_handler(event, LocalLambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    assert services.analyses.get(uuid.UUID(ident)).status == Status.COMPLETED


def test_duplicate_events_are_processed_once(
    client, new_user, queue, scorer_handler, services, monkeypatch
):
    from realtone_scorer.runtime import get_scorer

    scorer = get_scorer()
    calls: list[str] = []
    original = scorer.process_upload

    def counting(s3_object, delivery):
        calls.append(s3_object.key)
        return original(s3_object, delivery)

    monkeypatch.setattr(scorer, "process_upload", counting)
    headers = new_user()
    ident, key = uploaded(client, headers, wav_bytes(3.0))
    messages = queue.wait_for_key(ident)
    # S3 may send the same notification twice, under different message ids.
    twin = {**messages[0], "MessageId": "duplicate-of-" + messages[0]["MessageId"]}
    event = to_lambda_event([messages[0], twin], QUEUE_ARN, REGION)
    assert scorer_handler(event, LocalLambdaContext()) == {"batchItemFailures": []}
    assert services.analyses.get(uuid.UUID(ident)).status == Status.COMPLETED
    # The idempotency record (bucket, key, ETag) answered the twin: the scorer ran once.
    assert calls == [key]
    queue.drain()


def test_an_event_for_a_deleted_analysis_is_dropped(
    client, new_user, queue, scorer_handler, services
):
    headers = new_user()
    ident, _ = uploaded(client, headers, wav_bytes(2.0))
    messages = queue.wait_for_key(ident)
    assert client.delete(f"/v1/analyses/{ident}", headers=headers).status_code == 204
    event = to_lambda_event(messages, QUEUE_ARN, REGION)
    assert scorer_handler(event, LocalLambdaContext()) == {"batchItemFailures": []}
    assert services.analyses.get(uuid.UUID(ident)) is None
    assert services.cache.get(uuid.UUID(ident)) is None
    queue.drain()


def test_an_upload_landing_after_its_analysis_was_deleted_is_tagged_abandoned(
    client, new_user, queue, scorer_handler, services
):
    from realtone_core.s3 import ABANDONED_TAG

    headers = new_user()
    data = wav_bytes(2.0)
    body = client.post(
        "/v1/analyses",
        headers=headers,
        json={"filename": "late.wav", "content_type": "audio/wav", "size_bytes": len(data)},
    ).json()
    assert (
        client.delete(f"/v1/analyses/{body['analysis']['id']}", headers=headers).status_code == 204
    )
    assert (
        upload_via_post(body["upload"], data, "audio/wav").status_code == 204
    )  # policy still valid
    messages = queue.wait_for_key(body["analysis"]["id"])
    event = to_lambda_event(messages, QUEUE_ARN, REGION)
    assert scorer_handler(event, LocalLambdaContext()) == {"batchItemFailures": []}
    key = body["upload"]["fields"]["key"]
    tags = services.objects._client.get_object_tagging(Bucket=services.settings.bucket, Key=key)[
        "TagSet"
    ]
    assert {"Key": ABANDONED_TAG[0], "Value": ABANDONED_TAG[1]} in tags
    queue.drain()


def test_a_long_file_shows_its_first_windows_while_it_is_scored(
    client, new_user, queue, scorer_handler, monkeypatch
):
    import threading
    import time

    from realtone_scorer.runtime import get_scorer

    detector = get_scorer().detector
    score = detector.score

    def slow(windows):
        time.sleep(0.2)  # a slow model: the poll below must see the file half done
        return score(windows)

    monkeypatch.setattr(detector, "score", slow)
    headers = new_user()
    ident, _ = uploaded(client, headers, wav_bytes(120.0), "long.wav")  # 30 windows
    event = to_lambda_event(queue.wait_for_key(ident), QUEUE_ARN, REGION)
    worker = threading.Thread(target=scorer_handler, args=(event, LocalLambdaContext()))
    worker.start()
    seen = []
    while worker.is_alive():
        body = client.get(f"/v1/analyses/{ident}", headers=headers).json()
        if body["status"] == "processing" and body.get("progress"):
            seen.append(body)
        time.sleep(0.05)
    worker.join()
    assert seen, "no progress was visible while scoring"
    first = seen[0]
    assert first["progress"]["windows_total"] == 30
    assert 0 < first["progress"]["windows_done"] < 30
    assert len(first["chunks"]) == first["progress"]["windows_done"]
    assert all(c["score"] is not None for c in first["chunks"])
    done = client.get(f"/v1/analyses/{ident}", headers=headers).json()
    assert done["status"] == "completed" and done["progress"] is None
    assert len(done["chunks"]) == 30
    # Speakers are told apart once every window is known: the windows published while
    # scoring carry none, and are otherwise the final ones.
    assert all(c["speaker"] is None and not c["overlap"] for c in first["chunks"])
    assert without_speakers(done["chunks"])[: len(first["chunks"])] == first["chunks"]
