import base64
import json
import re
import time
from uuid import uuid4

import jwt
import pytest
from pydantic import ValidationError

from realtone_api.security import (
    InvalidTokenError,
    decode_token,
    hash_password,
    issue_access_token,
    issue_refresh_token,
    verify_password,
)
from realtone_api.settings import ApiSettings
from realtone_core.formats import is_accepted_upload, sniff_container
from realtone_core.s3 import parse_upload_key, safe_filename, upload_key

PLACE = {"aws_region": "eu-west-3", "bucket": "audio-bucket", "queue_url": "https://sqs/q"}
SETTINGS = ApiSettings(**PLACE, jwt_secret="unit-test-secret-" + "x" * 32)


def test_passwords_hash_and_verify():
    h = hash_password("correct horse")
    assert h != "correct horse"
    assert verify_password(h, "correct horse")
    assert not verify_password(h, "wrong horse")
    assert not verify_password(None, "anything")


def test_access_token_round_trip():
    user = uuid4()
    claims = decode_token(SETTINGS, issue_access_token(SETTINGS, user), "access")
    assert claims.user_id == user


def _unsigned(payload: dict) -> str:
    def part(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


@pytest.mark.parametrize("kind", ["garbage", "wrong_secret", "alg_none", "expired", "refresh"])
def test_bad_access_tokens_are_refused(kind):
    user = uuid4()
    now = int(time.time())
    payload = {"sub": str(user), "typ": "access", "iat": now, "exp": now + 60, "jti": str(uuid4())}
    token = {
        "garbage": "not.a.token",
        "wrong_secret": jwt.encode(payload, "another-secret-" + "y" * 32, algorithm="HS256"),
        "alg_none": _unsigned(payload),
        "expired": jwt.encode({**payload, "exp": now - 5}, SETTINGS.jwt_secret.get_secret_value()),
        "refresh": issue_refresh_token(SETTINGS, user, None).token,
    }[kind]
    with pytest.raises(InvalidTokenError):
        decode_token(SETTINGS, token, "access")


def test_production_refuses_the_default_secret():
    for env in ("prod", "test"):
        with pytest.raises(ValidationError, match="REALTONE_JWT_SECRET"):
            ApiSettings(**PLACE, env=env)
        with pytest.raises(ValidationError, match="REALTONE_JWT_SECRET"):
            ApiSettings(**PLACE, env=env, jwt_secret="too-short")
    ApiSettings(**PLACE, env="prod", jwt_secret="z" * 40)


def test_no_environment_named_is_not_development(monkeypatch):
    # A process started by hand, outside make run/test, must not sign with the public secret.
    monkeypatch.delenv("REALTONE_ENV", raising=False)
    monkeypatch.delenv("REALTONE_JWT_SECRET", raising=False)
    with pytest.raises(ValidationError, match="REALTONE_ENV is unset"):
        ApiSettings(**PLACE)
    assert ApiSettings(**PLACE, jwt_secret="z" * 40).env is None
    assert ApiSettings(**PLACE, env="dev").jwt_secret.get_secret_value()


def test_origins_come_from_a_comma_separated_variable(monkeypatch):
    monkeypatch.setenv("REALTONE_CORS_ORIGINS", "https://a.example, https://b.example")
    assert ApiSettings(**PLACE, env="dev").cors_origins == [
        "https://a.example",
        "https://b.example",
    ]


def test_trusted_proxies_come_from_a_comma_separated_variable(monkeypatch):
    from ipaddress import ip_network

    assert ApiSettings(**PLACE, env="dev").trusted_proxies == []
    monkeypatch.setenv("REALTONE_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,2001:db8::/32")
    assert ApiSettings(**PLACE, env="dev").trusted_proxies == [
        ip_network("10.0.0.0/8"),
        ip_network("192.0.2.7/32"),
        ip_network("2001:db8::/32"),
    ]


def test_filenames_cannot_change_the_key():
    owner, ident = uuid4(), uuid4()
    for name in ["../../etc/passwd", "..\\..\\x.wav", "a/b/c.wav", "", "...", "ü n i.wav"]:
        key = upload_key(owner, ident, name)
        assert parse_upload_key(key) == (owner, ident)
        name_part = key.split("/")[-1]
        assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", name_part), name_part
    assert safe_filename("my clip (1).wav") == "my_clip_1_.wav"
    assert len(safe_filename("x" * 500 + ".wav")) <= 100
    assert safe_filename("x" * 500 + ".wav").endswith(".wav")


def test_declared_types_and_sniffing():
    assert is_accepted_upload("a.wav", "audio/wav")
    assert not is_accepted_upload("a.wav", "audio/wav\r\nContent-Type: text/html")
    assert is_accepted_upload("a.webm", "audio/webm;codecs=opus")
    assert is_accepted_upload("a.mp3", "application/octet-stream")
    assert not is_accepted_upload("a.pdf", "application/pdf")
    assert not is_accepted_upload("a.txt", "application/octet-stream")
    assert sniff_container(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "wav"
    assert sniff_container(b"ID3\x04") == "mp3"
    assert sniff_container(b"\x1a\x45\xdf\xa3") == "webm"
    assert sniff_container(b"\x00\x00\x00\x20ftypM4A ") == "mp4"
    assert sniff_container(b"hello") is None
