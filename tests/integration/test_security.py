"""Auth matrix, abuse limits, body limits, CORS and security headers (real Postgres/Redis)."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid

import jwt
import pytest
from fastapi.testclient import TestClient

from realtone_api.security import issue_refresh_token
from tests.integration.test_api import assert_error, create

pytestmark = pytest.mark.integration

PROTECTED = [
    ("GET", "/v1/auth/me"),
    ("POST", "/v1/analyses"),
    ("GET", "/v1/analyses"),
    ("GET", "/v1/analyses/{id}"),
    ("DELETE", "/v1/analyses/{id}"),
    ("GET", "/v1/analyses/{id}/audio"),
]


def _claims(user_id: str, **overrides) -> dict:
    now = int(time.time())
    return {
        "sub": user_id,
        "typ": "access",
        "iat": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
        **overrides,
    }


def _b64(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")


def bad_tokens(services, user_id: str) -> dict[str, str]:
    secret = services.settings.jwt_secret.get_secret_value()
    return {
        "none": "",
        "garbage": "Bearer not-a-jwt",
        "wrong_signature": "Bearer "
        + jwt.encode(_claims(user_id), "a-different-secret-" + "q" * 32),
        "alg_none": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user_id))}.",
        "expired": "Bearer " + jwt.encode(_claims(user_id, iat=1, exp=2), secret),
        "refresh_as_access": "Bearer "
        + issue_refresh_token(services.settings, uuid.UUID(user_id), None).token,
        "unknown_user": "Bearer " + jwt.encode(_claims(str(uuid.uuid4())), secret),
    }


@pytest.fixture(scope="module")
def owned(client):
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    client.post("/v1/auth/register", json={"email": email, "password": "owner-password"})
    token = client.post(
        "/v1/auth/login", json={"email": email, "password": "owner-password"}
    ).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    me = client.get("/v1/auth/me", headers=headers).json()
    ident = create(client, headers).json()["analysis"]["id"]
    return headers, me["id"], ident


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "kind",
    [
        "none",
        "garbage",
        "wrong_signature",
        "alg_none",
        "expired",
        "refresh_as_access",
        "unknown_user",
    ],
)
def test_auth_matrix_rejects_every_bad_token(client, services, owned, method, path, kind):
    _, user_id, ident = owned
    token = bad_tokens(services, user_id)[kind]
    headers = {"Authorization": token} if token else {}
    r = client.request(method, path.format(id=ident), headers=headers, json={})
    assert_error(r, 401, "invalid_token")
    assert r.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), [p for p in PROTECTED if "{id}" in p[1]])
def test_another_users_valid_token_gets_404(client, owned, new_user, method, path):
    _, _, ident = owned
    assert_error(
        client.request(method, path.format(id=ident), headers=new_user()), 404, "not_found"
    )
    # ...and the owner still sees it.
    assert client.get(f"/v1/analyses/{ident}", headers=owned[0]).status_code == 200


def test_passwords_never_reach_the_logs(client, caplog, capsys):
    secret = f"Pa55-{uuid.uuid4().hex}"
    email = f"log-{uuid.uuid4().hex[:8]}@example.com"
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/auth/register", json={"email": email, "password": secret})
        client.post("/v1/auth/login", json={"email": email, "password": secret + "x"})
        client.post("/v1/auth/login", json={"email": email, "password": secret})
        client.post("/v1/auth/register", json={"email": "bad", "password": secret})
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err
    assert "/v1/auth/login" in everything  # the requests were logged...
    assert secret not in everything  # ...their passwords were not


def test_validation_errors_do_not_echo_passwords(client):
    secret = f"short-{uuid.uuid4().hex[:2]}"
    r = client.post("/v1/auth/register", json={"email": "not-an-email", "password": secret})
    assert_error(r, 422, "validation_error")
    assert secret not in r.text


def test_failed_logins_are_limited_per_account(client, services, monkeypatch):
    monkeypatch.setattr(services.settings, "login_failures_per_account", 3)
    email = f"limited-{uuid.uuid4().hex[:8]}@example.com"
    client.post("/v1/auth/register", json={"email": email, "password": "right-password"})
    for _ in range(3):
        assert_error(
            client.post("/v1/auth/login", json={"email": email, "password": "wrong-one"}),
            401,
            "invalid_credentials",
        )
    limited = client.post("/v1/auth/login", json={"email": email, "password": "right-password"})
    assert_error(limited, 429, "rate_limited")
    assert 0 < int(limited.headers["Retry-After"]) <= services.settings.login_window_seconds + 1
    # Other accounts are unaffected.
    other = f"free-{uuid.uuid4().hex[:8]}@example.com"
    client.post("/v1/auth/register", json={"email": other, "password": "right-password"})
    assert (
        client.post(
            "/v1/auth/login", json={"email": other, "password": "right-password"}
        ).status_code
        == 200
    )


def test_failed_logins_are_limited_per_client(stack, services, monkeypatch):
    from realtone_api.main import create_app

    monkeypatch.setattr(services.settings, "login_failures_per_client", 4)
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    with TestClient(create_app(), client=(address, 5000)) as c:
        for i in range(4):
            r = c.post(
                "/v1/auth/login",
                json={
                    "email": f"spray-{i}-{uuid.uuid4().hex[:6]}@example.com",
                    "password": "guess-123",
                },
            )
            assert_error(r, 401, "invalid_credentials")
        assert_error(
            c.post("/v1/auth/login", json={"email": "x@example.com", "password": "guess-123"}),
            429,
            "rate_limited",
        )


def test_analyses_per_minute_and_bytes_per_day(client, services, new_user, monkeypatch):
    monkeypatch.setattr(services.settings, "analyses_per_minute", 3)
    headers = new_user()
    for _ in range(3):
        assert create(client, headers).status_code == 201
    limited = create(client, headers)
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) <= 61
    # A replay with an Idempotency-Key is not a new analysis.
    monkeypatch.setattr(services.settings, "analyses_per_minute", 100)
    monkeypatch.setattr(services.settings, "upload_bytes_per_day", 5000)
    other = new_user()
    assert create(client, other, size=4000).status_code == 201
    assert_error(create(client, other, size=2000), 429, "rate_limited")
    assert create(client, other, size=1000).status_code == 201


def test_request_bodies_are_size_limited(client, new_user, services):
    limit = services.settings.max_request_body_bytes
    big = json.dumps(
        {"filename": "x" * (limit + 10), "content_type": "audio/wav", "size_bytes": 10}
    )
    r = client.post(
        "/v1/analyses", content=big, headers={**new_user(), "Content-Type": "application/json"}
    )
    assert_error(r, 413, "too_large")

    def chunks():
        for _ in range(limit // 1000 + 2):
            yield b"x" * 1000

    r = client.post(
        "/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(r, 413, "too_large")


def test_cors_only_for_configured_origins(client, services):
    allowed = services.settings.cors_origins[0]
    ok = client.options(
        "/v1/analyses",
        headers={
            "Origin": allowed,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == allowed
    bad = client.options(
        "/v1/analyses",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in bad.headers
    simple = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_ui_is_served_with_security_headers(client, services):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert services.settings.s3_public_endpoint_url in csp  # uploads go straight to S3
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_nul_characters_are_refused_not_crashed_on(client, new_user):
    # Found by the contract fuzzer: Postgres cannot store NUL, which used to be a 500.
    assert_error(
        client.post("/v1/auth/login", json={"email": "a\x00@b.c", "password": "x" * 9}),
        422,
        "validation_error",
    )
    assert_error(
        client.post("/v1/auth/register", json={"email": "a@b.c", "password": "pass\x00word"}),
        422,
        "validation_error",
    )
    assert_error(create(client, new_user(), filename="a\x00.wav"), 422, "validation_error")
