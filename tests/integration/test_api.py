"""The HTTP contract against real Postgres, Redis and LocalStack (app in-process)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from realtone_core.cache import analysis_key
from tests.audio import wav_bytes
from tests.integration.conftest import upload_via_post

pytestmark = pytest.mark.integration


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_register_login_me(client):
    email = f"Mixed-{uuid.uuid4().hex[:8]}@Example.com"
    r = client.post("/v1/auth/register", json={"email": email, "password": "long-enough"})
    assert r.status_code == 201
    assert r.json()["email"] == email.lower()
    assert r.json()["created_at"].endswith("Z")
    # Registering a taken email answers like a new account and changes nothing.
    again = client.post(
        "/v1/auth/register", json={"email": email.lower(), "password": "other-pass"}
    )
    assert again.status_code == 201 and set(again.json()) == set(r.json())
    assert again.json()["email"] == email.lower() and again.json()["id"] != r.json()["id"]
    assert_error(
        client.post("/v1/auth/login", json={"email": email, "password": "other-pass"}),
        401,
        "invalid_credentials",
    )
    assert_error(
        client.post("/v1/auth/login", json={"email": email, "password": "wrong-pass"}),
        401,
        "invalid_credentials",
    )
    assert_error(
        client.post("/v1/auth/login", json={"email": "nobody@example.com", "password": "x" * 9}),
        401,
        "invalid_credentials",
    )
    tokens = client.post("/v1/auth/login", json={"email": email, "password": "long-enough"}).json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["email"] == email.lower()


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "long-enough"},
        {"email": "a@example.com", "password": "short"},
        {},
    ],
)
def test_registration_validation_uses_the_error_shape(client, body):
    assert_error(client.post("/v1/auth/register", json=body), 422, "validation_error")


def test_refresh_rotates_and_a_reused_token_revokes_the_family(client):
    email = f"r-{uuid.uuid4().hex[:8]}@example.com"
    client.post("/v1/auth/register", json={"email": email, "password": "long-enough"})
    first = client.post("/v1/auth/login", json={"email": email, "password": "long-enough"}).json()
    second = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    # The first token again: rejected, and the newer one dies with it.
    assert_error(
        client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}),
        401,
        "invalid_token",
    )
    assert_error(
        client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}),
        401,
        "invalid_token",
    )
    # An access token is not a refresh token.
    assert_error(
        client.post("/v1/auth/refresh", json={"refresh_token": second["access_token"]}),
        401,
        "invalid_token",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/auth/me"),
        ("POST", "/v1/analyses"),
        ("GET", "/v1/analyses"),
        ("GET", f"/v1/analyses/{uuid.uuid4()}"),
        ("DELETE", f"/v1/analyses/{uuid.uuid4()}"),
        ("GET", f"/v1/analyses/{uuid.uuid4()}/audio"),
    ],
)
@pytest.mark.parametrize("auth", [None, "Bearer garbage", "Basic abc"])
def test_protected_endpoints_need_a_valid_token(client, method, path, auth):
    headers = {"Authorization": auth} if auth else {}
    r = client.request(method, path, headers=headers, json={})
    assert_error(r, 401, "invalid_token")
    assert r.headers["WWW-Authenticate"] == "Bearer"


def create(client, headers, size=1000, **overrides):
    body = {"filename": "clip.wav", "content_type": "audio/wav", "size_bytes": size, **overrides}
    return client.post("/v1/analyses", json=body, headers=headers)


def test_create_hands_out_a_pinned_presigned_post(client, new_user, services):
    headers = new_user()
    r = create(client, headers, size=1234, filename="../My Clip (1).wav")
    assert r.status_code == 201, r.text
    analysis, upload = r.json()["analysis"], r.json()["upload"]
    assert analysis["status"] == "awaiting_upload"
    assert analysis["chunks"] == [] and analysis["summary"] is None
    me = client.get("/v1/auth/me", headers=headers).json()
    assert upload["fields"]["key"] == f"uploads/{me['id']}/{analysis['id']}/My_Clip_1_.wav"
    assert upload["fields"]["Content-Type"] == "audio/wav"
    assert upload["max_bytes"] == 1234
    # The URL names the endpoint a browser can reach (the public one).
    assert upload["url"].startswith(services.settings.s3_public_endpoint_url)


def test_create_refuses_unsupported_and_oversized(client, new_user):
    headers = new_user()
    assert_error(
        create(client, headers, content_type="application/pdf", filename="x.pdf"),
        415,
        "unsupported_format",
    )
    assert_error(create(client, headers, size=100 * 1024 * 1024 + 1), 413, "too_large")
    assert_error(create(client, headers, size=0), 422, "validation_error")


def test_s3_enforces_the_policy(client, new_user):
    headers = new_user()
    data = wav_bytes(1.0)
    upload = create(client, headers, size=len(data) - 1).json()["upload"]
    too_big = upload_via_post(upload, data, "audio/wav")
    assert too_big.status_code == 400 and "EntityTooLarge" in too_big.text
    wrong_type = upload_via_post(
        {**upload, "fields": {**upload["fields"], "Content-Type": "text/plain"}},
        data[:100],
        "text/plain",
    )
    assert wrong_type.status_code == 403


def test_idempotency_key_returns_the_same_analysis(client, new_user):
    headers = {**new_user(), "Idempotency-Key": "upload-42"}
    a = create(client, headers).json()["analysis"]
    b = create(client, headers).json()["analysis"]
    assert a["id"] == b["id"]
    assert_error(create(client, headers, size=999), 409, "idempotency_conflict")


def test_status_reads_use_the_cache_with_etags(client, new_user, services):
    headers = new_user()
    created = create(client, headers).json()["analysis"]
    path = f"/v1/analyses/{created['id']}"
    r = client.get(path, headers=headers)
    assert r.status_code == 200
    assert r.headers["Retry-After"] == "1"
    etag = r.headers["ETag"]
    again = client.get(path, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.headers["ETag"] == etag
    # A cache miss is served from Postgres and refills the cache.
    services.cache._client.delete(analysis_key(uuid.UUID(created["id"])))
    assert client.get(path, headers=headers).json()["id"] == created["id"]
    assert services.cache.get(uuid.UUID(created["id"])) is not None


def test_a_poll_learns_of_an_upload_before_the_scorer(client, new_user, queue):
    headers = new_user()
    data = wav_bytes(1.0)
    r = create(client, headers, size=len(data)).json()
    assert upload_via_post(r["upload"], data, "audio/wav").status_code == 204
    status = client.get(f"/v1/analyses/{r['analysis']['id']}", headers=headers).json()["status"]
    assert status == "queued"
    queue.drain()


def test_other_users_ids_are_not_found(client, new_user):
    alice, bob = new_user(), new_user()
    ident = create(client, alice).json()["analysis"]["id"]
    for method, path in [
        ("GET", f"/v1/analyses/{ident}"),
        ("GET", f"/v1/analyses/{ident}/audio"),
        ("DELETE", f"/v1/analyses/{ident}"),
    ]:
        assert_error(client.request(method, path, headers=bob), 404, "not_found")
    assert client.get(f"/v1/analyses/{ident}", headers=alice).status_code == 200
    assert_error(client.get("/v1/analyses/not-a-uuid", headers=alice), 404, "not_found")


def test_list_is_newest_first_with_cursor_paging(client, new_user):
    headers = new_user()
    ids = [create(client, headers, filename=f"f{i}.wav").json()["analysis"]["id"] for i in range(5)]
    page1 = client.get("/v1/analyses?limit=2", headers=headers).json()
    page2 = client.get(
        f"/v1/analyses?limit=2&cursor={page1['next_cursor']}", headers=headers
    ).json()
    page3 = client.get(
        f"/v1/analyses?limit=2&cursor={page2['next_cursor']}", headers=headers
    ).json()
    seen = [i["id"] for p in (page1, page2, page3) for i in p["items"]]
    assert seen == list(reversed(ids))
    assert page3["next_cursor"] is None
    assert "chunks" not in page1["items"][0]
    assert_error(client.get("/v1/analyses?cursor=%%%", headers=headers), 422, "validation_error")
    assert_error(client.get("/v1/analyses?limit=0", headers=headers), 422, "validation_error")


def test_audio_url_needs_an_upload(client, new_user):
    headers = new_user()
    ident = create(client, headers).json()["analysis"]["id"]
    assert_error(client.get(f"/v1/analyses/{ident}/audio", headers=headers), 404, "upload_missing")


def test_health_reports_every_dependency(client):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["checks"] == {"postgres": "ok", "redis": "ok", "s3": "ok", "queue": "ok"}


def test_unknown_routes_use_the_error_shape(client):
    assert_error(client.get("/v1/nothing"), 404, "not_found")
    assert_error(client.put("/v1/auth/me"), 405, "method_not_allowed")


def test_a_poll_racing_the_scorer_never_reports_an_older_status(client, new_user, services, queue):
    # Found by the CLI tests: the API read "awaiting_upload", the scorer moved the analysis
    # on, and the poll answered (and cached) the stale status.
    from realtone_core.lifecycle import reconcile_upload

    headers = new_user()
    data = wav_bytes(1.0)
    r = create(client, headers, size=len(data)).json()
    assert upload_via_post(r["upload"], data, "audio/wav").status_code == 204
    ident = uuid.UUID(r["analysis"]["id"])
    stale = services.analyses.get(ident)
    assert services.analyses.claim(ident, stale.object_key, 900) is not None  # the scorer
    reconciled = reconcile_upload(stale, analyses=services.analyses, objects=services.objects)
    assert reconciled.status == "processing"
    queue.drain()


def test_a_misconfigured_bucket_is_a_500_naming_it_not_a_retry(
    client, new_user, services, monkeypatch, caplog
):
    headers = new_user()
    ident = create(client, headers).json()["analysis"]["id"]
    monkeypatch.setattr(services.objects, "bucket", "realtone-no-such-bucket")
    r = client.delete(f"/v1/analyses/{ident}", headers=headers)
    assert_error(r, 500, "internal_error")
    assert "Retry-After" not in r.headers
    logged = " ".join(str(rec.__dict__) for rec in caplog.records)
    assert "NoSuchBucket" in logged and "realtone-no-such-bucket" in logged
    assert "realtone-no-such-bucket" not in r.text
    monkeypatch.undo()
    assert client.delete(f"/v1/analyses/{ident}", headers=headers).status_code == 204


def test_aws_throttling_is_a_503_with_retry_after(client, new_user, services, monkeypatch):
    from botocore.exceptions import ClientError

    headers = new_user()
    ident = create(client, headers).json()["analysis"]["id"]

    def throttled(**_: object) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your rate"}}, "Del")

    monkeypatch.setattr(services.objects._client, "delete_object", throttled)
    r = client.delete(f"/v1/analyses/{ident}", headers=headers)
    assert_error(r, 503, "service_unavailable")
    assert r.headers["Retry-After"] == "5"
