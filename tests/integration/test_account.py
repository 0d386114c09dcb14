"""Account settings, retention and account deletion against real Postgres, Redis and
LocalStack: uploads through the real presigned POST, scored by the real scorer handler."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from realtone_core.cache import analysis_key, tombstone_key
from realtone_core.models import Status
from realtone_core.s3 import ZERO_RETENTION_TAG
from realtone_core.sweep import run_sweep
from realtone_local.stack import REGION
from realtone_scorer.worker import LocalLambdaContext, to_lambda_event
from tests.audio import wav_bytes
from tests.integration.test_api import assert_error
from tests.integration.test_handlers import QUEUE_ARN, uploaded

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scorer_handler(stack):
    from realtone_scorer.handler import lambda_handler

    return lambda_handler


def me(client, headers):
    return uuid.UUID(client.get("/v1/auth/me", headers=headers).json()["id"])


def set_retention(client, headers, value):
    r = client.patch("/v1/account", headers=headers, json={"retention_days": value})
    assert r.status_code == 200, r.text
    return r.json()


def score(client, headers, queue, scorer_handler, data, filename="clip.wav"):
    """Upload ``data`` through its presigned POST and score it with the Lambda handler."""
    ident, key = uploaded(client, headers, data, filename)
    messages = queue.wait_for_key(ident)
    event = to_lambda_event(messages, QUEUE_ARN, REGION)
    assert scorer_handler(event, LocalLambdaContext()) == {"batchItemFailures": []}
    for m in messages:
        queue.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"])
    return ident, key


def object_exists(services, key):
    try:
        services.objects._client.head_object(Bucket=services.settings.bucket, Key=key)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}
        return False
    return True


def db_rows(services, sql, *params):
    with services.db.connection() as conn:
        return conn.execute(sql, params).fetchall()


# --- GET / PATCH ---------------------------------------------------------------------------


def test_the_account_keeps_30_days_by_default_and_takes_days_or_zero(client, new_user):
    headers = new_user()
    got = client.get("/v1/account", headers=headers)
    assert got.status_code == 200
    body = got.json()
    assert body["retention_days"] == 30 and body["id"] == str(me(client, headers))
    assert body["created_at"].endswith("Z") and "@" in body["email"]
    assert set_retention(client, headers, 7)["retention_days"] == 7
    assert set_retention(client, headers, "zero")["retention_days"] == "zero"
    assert client.get("/v1/account", headers=headers).json()["retention_days"] == "zero"
    assert set_retention(client, headers, 3650)["retention_days"] == 3650
    # Nothing to change: the account as it is.
    unchanged = client.patch("/v1/account", headers=headers, json={})
    assert unchanged.status_code == 200 and unchanged.json()["retention_days"] == 3650


@pytest.mark.parametrize(
    "body",
    [
        {"retention_days": 0},
        {"retention_days": 3651},
        {"retention_days": -5},
        {"retention_days": True},
        {"retention_days": 7.5},
        {"retention_days": "7"},
        {"retention_days": "ZERO"},
        {"retention_days": None},
        {"unknown_setting": 1},
        [],
        "zero",
    ],
)
def test_bad_settings_are_validation_errors_and_change_nothing(client, new_user, body):
    headers = new_user()
    set_retention(client, headers, 12)
    r = client.patch("/v1/account", headers=headers, json=body)
    assert_error(r, 422, "validation_error")
    assert client.get("/v1/account", headers=headers).json()["retention_days"] == 12


def test_a_patch_that_is_not_json_is_a_validation_error(client, new_user):
    headers = {**new_user(), "Content-Type": "application/json"}
    assert_error(
        client.patch("/v1/account", headers=headers, content=b"{days"), 422, "validation_error"
    )


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_the_account_needs_a_token(client, method):
    r = client.request(method, "/v1/account", json={"retention_days": 3})
    assert_error(r, 401, "invalid_token")
    assert r.headers["WWW-Authenticate"] == "Bearer"


# --- zero-retention end to end --------------------------------------------------------------


def test_zero_retention_end_to_end(client, new_user, queue, scorer_handler, services, capsys):
    """Upload through the real presigned POST, score with the real handler: the object is
    gone, the result is whole, and /audio says why there is nothing to play."""
    headers = new_user()
    set_retention(client, headers, "zero")
    data = wav_bytes(10.3, 44_100, channels=2, seed=uuid.uuid4().int % 2**32)
    r = client.post(
        "/v1/analyses",
        headers=headers,
        json={"filename": "call.wav", "content_type": "audio/wav", "size_bytes": len(data)},
    )
    # The policy makes the upload carry the tag of the short lifecycle rule.
    assert ZERO_RETENTION_TAG[0] in r.json()["upload"]["fields"]["tagging"]
    ident, key = score(client, headers, queue, scorer_handler, data, "call.wav")
    assert not object_exists(services, key)  # gone by the time the handler returned

    got = client.get(f"/v1/analyses/{ident}", headers=headers)
    assert got.status_code == 200
    document = got.json()
    assert document["status"] == "completed"
    assert document["summary"]["verdict"] in {"fake", "likely_fake", "real", "inconclusive"}
    assert [(c["start_time_seconds"], c["end_time_seconds"]) for c in document["chunks"]] == [
        (0, 4),
        (4, 8),
        (8, 10.3),
    ]
    assert document["audio_deleted"]["reason"] == "zero_retention"
    assert document["audio_deleted"]["retention_days"] is None
    assert "url" not in json.dumps(document).lower()
    # Postgres (not only the cached document) has the result and the deletion.
    record = services.analyses.get(uuid.UUID(ident))
    assert record.status == Status.COMPLETED and len(services.analyses.chunks(record.id)) == 3
    assert record.audio_deleted_reason == "zero_retention"
    cached = json.loads(services.cache.get(record.id).body)
    assert cached["audio_deleted"]["reason"] == "zero_retention" and len(cached["chunks"]) == 3
    listed = client.get("/v1/analyses", headers=headers).json()["items"][0]
    assert listed["id"] == ident and listed["audio_deleted"]["reason"] == "zero_retention"

    audio = client.get(f"/v1/analyses/{ident}/audio", headers=headers)
    assert_error(audio, 410, "audio_deleted")
    assert "zero-retention" in audio.json()["error"]["message"]

    # Completed (the result committed) to object gone (the deletion recorded after S3 said so).
    gap = record.audio_deleted_at - record.updated_at
    assert timedelta(0) <= gap < timedelta(seconds=2)
    with capsys.disabled():
        print(
            f"\nzero-retention: completed -> object gone in {gap.total_seconds() * 1000:.1f} ms"
            " (Postgres: the completed row to the deletion recorded after S3 confirmed it);"
            " head_object 404 when the handler returned; result intact (3 windows, summary)"
        )


def test_zero_retention_uploads_carry_the_tag_until_scored(client, new_user, services):
    headers = new_user()
    set_retention(client, headers, "zero")
    data = wav_bytes(1.0)
    ident, key = uploaded(client, headers, data)
    tags = services.objects._client.get_object_tagging(Bucket=services.settings.bucket, Key=key)
    assert {"Key": ZERO_RETENTION_TAG[0], "Value": ZERO_RETENTION_TAG[1]} in tags["TagSet"]
    # An account that keeps audio uploads untagged.
    other = new_user()
    _, kept = uploaded(client, other, data)
    assert (
        services.objects._client.get_object_tagging(Bucket=services.settings.bucket, Key=kept)[
            "TagSet"
        ]
        == []
    )
    assert client.delete(f"/v1/analyses/{ident}", headers=headers).status_code == 204


def test_a_reused_result_of_a_zero_retention_account_keeps_no_audio(
    client, new_user, queue, scorer_handler, services
):
    headers = new_user()
    set_retention(client, headers, "zero")
    data = wav_bytes(6.0, seed=uuid.uuid4().int % 2**32)
    first, first_key = score(client, headers, queue, scorer_handler, data)
    second, second_key = score(client, headers, queue, scorer_handler, data)
    assert not object_exists(services, first_key) and not object_exists(services, second_key)
    a, b = (client.get(f"/v1/analyses/{i}", headers=headers).json() for i in (first, second))
    assert a["status"] == b["status"] == "completed"
    assert a["chunks"] == b["chunks"] and a["summary"] == b["summary"]
    assert b["audio_deleted"]["reason"] == "zero_retention"
    (timings,) = db_rows(services, "SELECT timings FROM analyses WHERE id = %s", uuid.UUID(second))
    assert timings[0]["score_ms"] == 0  # reused, not scored again


# --- N days, enforced by the sweep -----------------------------------------------------------


def test_the_sweep_deletes_audio_older_than_the_accounts_days(
    client, new_user, queue, scorer_handler, services
):
    headers = new_user()
    set_retention(client, headers, 7)
    old, old_key = score(client, headers, queue, scorer_handler, wav_bytes(2.0, seed=71))
    young, young_key = score(client, headers, queue, scorer_handler, wav_bytes(2.0, seed=72))
    assert object_exists(services, old_key) and object_exists(services, young_key)
    # Eight and six days ago.
    for ident, days in ((old, 8), (young, 6)):
        db_rows(
            services,
            "UPDATE analyses SET created_at = now() - make_interval(days => %s) WHERE id = %s"
            " RETURNING id",
            days,
            uuid.UUID(ident),
        )
    report = run_sweep(services, services.settings.queue_url)
    assert old in report.audio_deleted and young not in report.audio_deleted
    assert not object_exists(services, old_key) and object_exists(services, young_key)
    document = client.get(f"/v1/analyses/{old}", headers=headers).json()
    assert document["status"] == "completed" and document["summary"] and document["chunks"]
    assert document["audio_deleted"]["reason"] == "retention_period"
    assert document["audio_deleted"]["retention_days"] == 7
    audio = client.get(f"/v1/analyses/{old}/audio", headers=headers)
    assert_error(audio, 410, "audio_deleted")
    assert "after 7 days" in audio.json()["error"]["message"]
    assert client.get(f"/v1/analyses/{young}/audio", headers=headers).status_code == 200
    assert old not in run_sweep(services, services.settings.queue_url).audio_deleted

    # Switching to zero-retention: the audio still kept goes at the next sweep.
    set_retention(client, headers, "zero")
    assert young in run_sweep(services, services.settings.queue_url).audio_deleted
    assert not object_exists(services, young_key)
    moved = client.get(f"/v1/analyses/{young}", headers=headers).json()
    assert moved["audio_deleted"]["reason"] == "zero_retention"


# --- deleting the account ---------------------------------------------------------------------


def test_deleting_the_account_removes_everything_of_it(
    client, new_user, queue, scorer_handler, services
):
    email = f"leaving-{uuid.uuid4().hex[:8]}@example.com"
    credentials = {"email": email, "password": "long-enough"}
    assert client.post("/v1/auth/register", json=credentials).status_code == 201
    tokens = client.post("/v1/auth/login", json=credentials).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    owner = me(client, headers)
    bystander = new_user()
    theirs, their_key = score(client, bystander, queue, scorer_handler, wav_bytes(2.0, seed=3))

    scored, scored_key = score(client, headers, queue, scorer_handler, wav_bytes(3.0, seed=4))
    waiting, waiting_key = uploaded(client, headers, wav_bytes(1.0, seed=5))
    queue.drain()
    stray = f"uploads/{owner}/{uuid.uuid4()}/left-behind.wav"
    services.objects._client.put_object(Bucket=services.settings.bucket, Key=stray, Body=b"x")
    ids = [uuid.UUID(i) for i in (scored, waiting)]
    assert db_rows(services, "SELECT 1 FROM idempotency_records WHERE owner_id = %s", owner)
    assert services.cache.get(ids[0]) is not None

    r = client.delete("/v1/account", headers=headers)
    assert r.status_code == 204 and r.content == b""

    # Postgres: nothing of it is left.
    for table, column in (
        ("users", "id"),
        ("analyses", "owner_id"),
        ("refresh_tokens", "user_id"),
        ("idempotency_records", "owner_id"),
    ):
        assert db_rows(services, f"SELECT 1 FROM {table} WHERE {column} = %s", owner) == []
    assert db_rows(services, "SELECT 1 FROM analysis_chunks WHERE analysis_id = ANY(%s)", ids) == []
    # S3: no object under its prefix, the stray one included.
    listed = services.objects._client.list_objects_v2(
        Bucket=services.settings.bucket, Prefix=f"uploads/{owner}/"
    )
    assert listed.get("KeyCount", 0) == 0
    for key in (scored_key, waiting_key, stray):
        assert not object_exists(services, key)
    # Redis: no document, a tombstone each (a scorer finishing late cannot publish one back).
    redis = services.cache._client
    for ident in ids:
        assert redis.get(analysis_key(ident)) is None and redis.get(tombstone_key(ident))

    # Its tokens are refused, in the contract's shape; deleting again is 401 too.
    for method, path in (
        ("GET", "/v1/auth/me"),
        ("GET", "/v1/account"),
        ("GET", f"/v1/analyses/{scored}"),
        ("DELETE", "/v1/account"),
    ):
        refused = client.request(method, path, headers=headers)
        assert_error(refused, 401, "invalid_token")
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert_error(
        client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
        401,
        "invalid_token",
    )
    assert_error(client.post("/v1/auth/login", json=credentials), 401, "invalid_credentials")
    # Someone else's analysis and audio are untouched.
    assert client.get(f"/v1/analyses/{theirs}", headers=bystander).json()["status"] == "completed"
    assert object_exists(services, their_key)


def test_a_process_that_still_trusts_a_deleted_account_creates_nothing(client, new_user):
    """Another API process may trust a deleted account's token for up to a minute (its
    user cache); what the token reaches there is gone, and creating an analysis is 401."""
    from realtone_api import deps

    headers = new_user()
    owner = me(client, headers)
    cached = deps._known_users[owner]
    assert client.delete("/v1/account", headers=headers).status_code == 204
    assert owner not in deps._known_users  # this process forgot it at once
    deps._known_users[owner] = cached  # as another process would still have it
    try:
        created = client.post(
            "/v1/analyses",
            headers=headers,
            json={"filename": "a.wav", "content_type": "audio/wav", "size_bytes": 10},
        )
        assert_error(created, 401, "invalid_token")
        assert_error(client.get("/v1/account", headers=headers), 401, "invalid_token")
        assert_error(
            client.patch("/v1/account", headers=headers, json={"retention_days": 5}),
            401,
            "invalid_token",
        )
        assert client.get("/v1/analyses", headers=headers).json()["items"] == []
    finally:
        deps.forget_user(owner)


def test_every_foreign_key_lets_an_account_go_with_everything_of_it(services):
    """Tables that refer to users cascade; no foreign key anywhere may hold a row back
    (RESTRICT / NO ACTION would make deleting an account fail): tables added later too."""
    rows = db_rows(
        services,
        "SELECT tc.table_name, ccu.table_name, rc.delete_rule"
        " FROM information_schema.referential_constraints rc"
        " JOIN information_schema.table_constraints tc ON tc.constraint_name = rc.constraint_name"
        " JOIN information_schema.constraint_column_usage ccu"
        "  ON ccu.constraint_name = rc.unique_constraint_name",
    )
    assert {(t, r) for t, r, _ in rows} >= {
        ("refresh_tokens", "users"),
        ("analyses", "users"),
        ("analysis_chunks", "analyses"),
    }
    assert [(t, rule) for t, r, rule in rows if r == "users" and rule != "CASCADE"] == []
    assert [(t, r, rule) for t, r, rule in rows if rule not in ("CASCADE", "SET NULL")] == []


def test_the_local_bucket_has_the_templates_lifecycle_rules(stack, services):
    from realtone_core.account import MAX_RETENTION_DAYS
    from realtone_local.resources import lifecycle_rules, load_template
    from realtone_local.stack import ROOT

    bucket = load_template(ROOT / "template.yaml")["Resources"]["AudioBucket"]
    expected = lifecycle_rules(bucket)
    deployed = services.objects._client.get_bucket_lifecycle_configuration(
        Bucket=services.settings.bucket
    )["Rules"]
    assert {r["ID"] for r in deployed} == {r["ID"] for r in expected}
    by_id = {r["ID"]: r for r in deployed}
    zero = by_id["expire-zero-retention-uploads"]
    assert zero["Filter"]["And"]["Tags"] == [
        {"Key": ZERO_RETENTION_TAG[0], "Value": ZERO_RETENTION_TAG[1]}
    ]
    assert zero["Expiration"]["Days"] == 1
    longest = by_id["expire-after-max-retention"]
    assert longest["Expiration"]["Days"] == MAX_RETENTION_DAYS + 1
