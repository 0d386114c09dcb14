"""Webhooks without a network: signing and its verification, which URLs may be called (a
table of hostile ones), and the retry schedule."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

import pytest

from realtone_core.config import ConfigError, WebhookSettings
from realtone_core.errors import ErrorCode
from realtone_core.webhooks import (
    DEFAULT_RETRY_DELAYS,
    RetrySchedule,
    UrlPolicy,
    WebhookUrlError,
    check_url,
    new_secret,
    sign,
    signature_header,
    verify_signature,
)

PROD = UrlPolicy.for_env("prod", allow_loopback=True)  # the flag means nothing outside dev
DEV = UrlPolicy.for_env("dev", allow_loopback=False)
DEV_LOOPBACK = UrlPolicy.for_env("dev", allow_loopback=True)

PUBLIC = {"hooks.example.com": ["93.184.216.34"], "v6.example.com": ["2606:4700:4700::1111"]}
HOSTILE_NAMES = {
    "internal.example.com": ["10.0.0.5"],
    "metadata.example.com": ["169.254.169.254"],
    "rebind.example.com": ["93.184.216.34", "192.168.1.10"],  # one public, one private
    "v6-local.example.com": ["fd00::1"],
    "mapped.example.com": ["::ffff:10.1.2.3"],
}


def fake_resolver(host: str, port: int) -> list[str]:
    """Names from the tables; IP literals (in any form) by the C library, as in production."""
    names = {**PUBLIC, **HOSTILE_NAMES}
    if host in names:
        return names[host]
    if host.endswith(".example.com"):
        raise OSError("no such name")
    from realtone_core.webhooks import resolve

    return resolve(host, port)


# --- signing ----------------------------------------------------------------------------


def test_secret_shape():
    secret = new_secret()
    assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", secret)
    assert new_secret() != secret


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"id":"x","status":"completed"}'
    expected = hmac.new(b"whsec_test", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("whsec_test", 1700000000, body) == expected
    assert signature_header("whsec_test", 1700000000, body) == f"t=1700000000,v1={expected}"


def test_verify_accepts_the_real_thing_and_nothing_else():
    body, now = b'{"a": 1}', time.time()
    header = signature_header("whsec_k", int(now), body)
    assert verify_signature("whsec_k", header, body, now=now)
    assert not verify_signature("whsec_other", header, body, now=now)
    assert not verify_signature("whsec_k", header, body + b" ", now=now)
    # Replayed later than the tolerance.
    assert not verify_signature("whsec_k", header, body, now=now + 301)
    # A timestamp moved without re-signing.
    moved = header.replace(f"t={int(now)}", f"t={int(now) + 1}")
    assert not verify_signature("whsec_k", moved, body, now=now)
    for broken in ("", "v1=abc", "t=x,v1=abc", f"t={int(now)}"):
        assert not verify_signature("whsec_k", broken, body, now=now)
    # Several v1 values (e.g. during a receiver's own key change): one matching is enough.
    assert verify_signature("whsec_k", f"{header},v1=00", body, now=now)


# --- URLs -------------------------------------------------------------------------------

HOSTILE_URLS = [
    # (url, policy, error code)
    ("http://hooks.example.com/hook", PROD, ErrorCode.INVALID_WEBHOOK_URL),
    ("ftp://hooks.example.com/hook", DEV, ErrorCode.INVALID_WEBHOOK_URL),
    ("file:///etc/passwd", DEV, ErrorCode.INVALID_WEBHOOK_URL),
    ("gopher://127.0.0.1:6379/_FLUSHALL", DEV, ErrorCode.INVALID_WEBHOOK_URL),
    ("https://user:pw@hooks.example.com/", PROD, ErrorCode.INVALID_WEBHOOK_URL),
    ("https://hooks.example.com@127.0.0.1/", PROD, ErrorCode.INVALID_WEBHOOK_URL),
    ("https://hooks.example.com/#x", PROD, ErrorCode.INVALID_WEBHOOK_URL),
    ("https:///nohost", PROD, ErrorCode.INVALID_WEBHOOK_URL),
    ("https://hooks.example.com:99999/", PROD, ErrorCode.INVALID_WEBHOOK_URL),
    ("https://hooks.example.com:0/", PROD, ErrorCode.INVALID_WEBHOOK_URL),
    ("https://hooks..example.com/", PROD, ErrorCode.INVALID_WEBHOOK_URL),
    ("https://" + "a" * 64 + ".example.com/", PROD, ErrorCode.INVALID_WEBHOOK_URL),
    ("https://[::1/", PROD, ErrorCode.INVALID_WEBHOOK_URL),
    ("https://hooks.example.com/a b", PROD, ErrorCode.INVALID_WEBHOOK_URL),
    ("https://nowhere.example.com/", PROD, ErrorCode.INVALID_WEBHOOK_URL),
    ("https://" + "a" * 2050 + ".com/", PROD, ErrorCode.INVALID_WEBHOOK_URL),
    ("https://127.0.0.1/hook", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://127.8.9.10/hook", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://localhost/hook", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://[::1]/hook", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://10.0.0.1/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://10.255.255.254:8443/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://172.16.0.1/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://192.168.0.1/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://100.64.0.1/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),  # carrier-grade NAT
    ("https://169.254.169.254/latest/meta-data/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://0.0.0.0/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://[::]/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://224.0.0.1/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),  # multicast
    ("https://240.0.0.1/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),  # reserved
    ("https://255.255.255.255/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://[fe80::1]/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://[fd12:3456::1]/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://[ff02::1]/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://[::ffff:127.0.0.1]/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://[::ffff:169.254.169.254]/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://[::ffff:7f00:1]/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://[2002:7f00:1::]/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),  # 6to4 of 127.0.0.1
    ("https://[2002:a00:1::]/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),  # 6to4 of 10.0.0.1
    ("https://[64:ff9b::a9fe:a9fe]/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),  # NAT64 metadata
    # Other spellings of 127.0.0.1 that the C library reads.
    ("https://2130706433/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://0x7f000001/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://0x7f.1/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://017700000001/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://127.1/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://2852039166/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),  # 169.254.169.254
    # Names resolving to private addresses.
    ("https://internal.example.com/hook", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://metadata.example.com/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://rebind.example.com/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://v6-local.example.com/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("https://mapped.example.com/", PROD, ErrorCode.UNSAFE_WEBHOOK_URL),
    # Loopback is refused in dev unless asked for, and even then only loopback is allowed.
    ("http://127.0.0.1:8080/hook", DEV, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("http://10.0.0.1/hook", DEV_LOOPBACK, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("http://169.254.169.254/", DEV_LOOPBACK, ErrorCode.UNSAFE_WEBHOOK_URL),
    ("http://internal.example.com/", DEV_LOOPBACK, ErrorCode.UNSAFE_WEBHOOK_URL),
]


@pytest.mark.parametrize(("url", "policy", "code"), HOSTILE_URLS)
def test_hostile_urls_are_refused(url, policy, code):
    with pytest.raises(WebhookUrlError) as refused:
        check_url(url, policy, fake_resolver)
    assert refused.value.code == code, refused.value.message
    assert refused.value.status_code == 422


def test_unsafe_refusal_names_the_kind_of_address():
    with pytest.raises(WebhookUrlError, match=r"link-local address \(169\.254\.169\.254\)"):
        check_url("https://2852039166/", PROD, fake_resolver)
    with pytest.raises(WebhookUrlError, match="Only https"):
        check_url("http://hooks.example.com/", PROD, fake_resolver)


@pytest.mark.parametrize(
    ("url", "policy", "host", "port", "path", "addresses"),
    [
        ("https://hooks.example.com/h?x=1", PROD, "hooks.example.com", 443, "/h?x=1", None),
        ("https://HOOKS.example.com.:8443", PROD, "hooks.example.com", 8443, "/", None),
        ("https://v6.example.com/", PROD, "v6.example.com", 443, "/", None),
        ("https://[2606:4700:4700::1111]/", PROD, "2606:4700:4700::1111", 443, "/", None),
        ("https://8.8.8.8/", PROD, "8.8.8.8", 443, "/", ["8.8.8.8"]),
        ("http://hooks.example.com/", DEV, "hooks.example.com", 80, "/", None),
        ("http://127.0.0.1:9/h", DEV_LOOPBACK, "127.0.0.1", 9, "/h", ["127.0.0.1"]),
        ("http://[::1]:9/", DEV_LOOPBACK, "::1", 9, "/", ["::1"]),
        ("http://localhost:9/", DEV_LOOPBACK, "localhost", 9, "/", None),
    ],
)
def test_acceptable_urls(url, policy, host, port, path, addresses):
    target, resolved = check_url(url, policy, fake_resolver)
    assert (target.host, target.port, target.path) == (host, port, path)
    if addresses is not None:
        assert resolved == addresses


def test_loopback_needs_dev_and_the_setting():
    assert UrlPolicy.for_env("dev", True) == UrlPolicy(require_https=False, allow_loopback=True)
    assert UrlPolicy.for_env("dev", False) == UrlPolicy(require_https=False, allow_loopback=False)
    for env in ("prod", "test", None):
        assert UrlPolicy.for_env(env, True) == UrlPolicy(require_https=True, allow_loopback=False)


# --- retries ----------------------------------------------------------------------------


def test_default_schedule_is_six_tries_over_an_hour():
    schedule = RetrySchedule()
    assert schedule.delays == DEFAULT_RETRY_DELAYS
    assert schedule.tries == 6
    assert schedule.offsets() == [0, 60, 300, 900, 2100, 3600]


def test_delays_follow_the_schedule_within_the_jitter_and_stop_after_the_last_try():
    schedule = RetrySchedule(jitter=0.1)
    for attempt, base in enumerate(DEFAULT_RETRY_DELAYS, start=1):
        low = schedule.delay_after(attempt, rand=lambda: 0.0)
        high = schedule.delay_after(attempt, rand=lambda: 0.999999)
        assert low == round(base * 0.9) and high == round(base * 1.1)
    assert schedule.delay_after(6) is None
    assert RetrySchedule((1, 2), jitter=0).delay_after(2) == 2
    assert RetrySchedule((1, 2), jitter=0).delay_after(3) is None


def test_settings_read_the_schedule(monkeypatch):
    for name, value in {
        "REALTONE_BUCKET": "bucket",
        "AWS_REGION": "eu-central-1",
        "REALTONE_WEBHOOK_QUEUE_URL": "https://sqs.example/q",
    }.items():
        monkeypatch.setenv(name, value)
    assert WebhookSettings.load().webhook_retry_delays == list(DEFAULT_RETRY_DELAYS)
    monkeypatch.setenv("REALTONE_WEBHOOK_RETRY_DELAYS", "1, 2,3")
    assert WebhookSettings.load().webhook_retry_delays == [1, 2, 3]
    for bad in ("0,5", "43201", "x"):
        monkeypatch.setenv("REALTONE_WEBHOOK_RETRY_DELAYS", bad)
        with pytest.raises(ConfigError, match="REALTONE_WEBHOOK_RETRY_DELAYS"):
            WebhookSettings.load()


def test_the_readme_snippet_verifies_as_the_library_does():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Webhooks", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(code, namespace)
    readme_verify = namespace["verify"]
    body, now = b'{"id": "x", "status": "completed"}', int(time.time())
    good = signature_header("whsec_s", now, body)
    cases = [
        ("whsec_s", good, body),
        ("whsec_s", good + ",v1=00", body),
        ("whsec_t", good, body),
        ("whsec_s", good, body[:-1]),
        ("whsec_s", signature_header("whsec_s", now - 400, body), body),
        ("whsec_s", "v1=" + good.split("v1=")[1], body),
        ("whsec_s", "", body),
        ("whsec_s", "garbage", body),
        ("whsec_s", "t=soon," + good.split(",")[1], body),
    ]
    for secret, header, payload in cases:
        assert readme_verify(secret, header, payload) == verify_signature(secret, header, payload)
    assert readme_verify("whsec_s", good, body) is True
