"""Signed webhooks: when an analysis ends, its document is POSTed to the owner's endpoint.

* **Targets**: the analysis's ``callback_url``, else the account's ``webhook_url``. A
  database trigger (migration 0008) creates the delivery in the very transaction that ends
  the analysis; whoever ended it then sends the delivery's id to the webhook queue
  (``dispatch``), and the sweep sends any that were left unsent.
* **Signing**: ``RealTone-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>``
  with the account's secret (``whsec_…``), read at each attempt: after a rotation only the
  new secret signs. ``verify_signature`` is what a receiver runs (the README has a copy).
* **SSRF**: a URL is refused unless it is https (http only with ``REALTONE_ENV=dev``) and
  every address its host resolves to is publicly routable; checked when the URL is set and
  again at every attempt, which then connects to the checked address itself (Host header
  and TLS SNI/certificate name stay the URL's host), so DNS rebinding cannot redirect it.
  Loopback is allowed only with ``REALTONE_WEBHOOK_ALLOW_LOOPBACK`` *and* ``REALTONE_ENV=dev``.
* **Attempts**: ``WebhookSender.attempt`` makes one try; a non-2xx answer, a redirect (never
  followed), a timeout or a refused URL is retried after the next delay of the schedule
  (``RetrySchedule``; by default tries at 0, 1, 5, 15, 35 and 60 min), after the last try
  the delivery is ``failed``. Every try is logged (``webhook_delivery_attempts``).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import random
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit
from uuid import UUID

from psycopg.rows import dict_row
from pydantic import BaseModel

from realtone_core.db import Database
from realtone_core.errors import ErrorCode, RealToneError
from realtone_core.models import AnalysisRecord, Chunk, Status, UtcDatetime

log = logging.getLogger(__name__)

EVENT_COMPLETED = "analysis.completed"
EVENT_FAILED = "analysis.failed"
EVENT_HEADER = "RealTone-Event"
DELIVERY_HEADER = "RealTone-Delivery"
SIGNATURE_HEADER = "RealTone-Signature"
SECRET_PREFIX = "whsec_"
USER_AGENT = "RealTone-Webhooks/1"

# Tries at 0, 1, 5, 15, 35 and 60 minutes: six tries over an hour.
DEFAULT_RETRY_DELAYS: tuple[int, ...] = (60, 240, 600, 1200, 1500)
# SQS hides a message for at most 12 h: no single wait may be longer.
MAX_RETRY_DELAY_SECONDS = 12 * 3600
MAX_URL_LENGTH = 2048
# What is kept of a receiver's answer.
EXCERPT_CHARS = 300
DNS_TIMEOUT_SECONDS = 5.0


# --- signing ----------------------------------------------------------------------------


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` + 256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``<timestamp>.<body>`` keyed with the secret (as text, UTF-8)."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> bool:
    """What a receiver does: the header's timestamp is recent and one ``v1`` matches."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, v) for v in fields.get("v1", []))


# --- which URLs may be called -----------------------------------------------------------


class WebhookUrlError(RealToneError):
    """A URL that is not used: malformed (``invalid_webhook_url``) or pointing somewhere a
    server must not be made to call (``unsafe_webhook_url``)."""

    status_code = 422


def _invalid(message: str) -> WebhookUrlError:
    return WebhookUrlError(ErrorCode.INVALID_WEBHOOK_URL, message)


def _unsafe(message: str) -> WebhookUrlError:
    return WebhookUrlError(ErrorCode.UNSAFE_WEBHOOK_URL, message)


@dataclass(frozen=True)
class UrlPolicy:
    require_https: bool = True
    allow_loopback: bool = False

    @classmethod
    def for_env(cls, env: str | None, allow_loopback: bool) -> UrlPolicy:
        """https everywhere but ``dev``; loopback only when asked for, and only in ``dev``."""
        dev = env == "dev"
        return cls(require_https=not dev, allow_loopback=dev and allow_loopback)


@dataclass(frozen=True)
class Target:
    """A parsed webhook URL."""

    url: str
    scheme: Literal["http", "https"]
    host: str  # as sent in Host and SNI (IPv6 without brackets)
    port: int
    path: str  # path and query


_NAT64 = IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")

Address = IPv4Address | IPv6Address


def _embedded_ipv4(ip: IPv6Address) -> list[IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    found: list[IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        found.append(IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _kind(ip: Address) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not publicly routable"
    return None


def address_problem(ip: Address, allow_loopback: bool = False) -> str | None:
    """Why a server must not connect to ``ip`` (``None``: it may). An IPv6 address that
    carries an IPv4 one is judged by that one too."""
    candidates: list[Address] = [ip]
    if isinstance(ip, IPv6Address):
        embedded = _embedded_ipv4(ip)
        # A mapped address is the IPv4 one (its ::ffff:0:0/96 form is "reserved" as such).
        candidates = [*embedded] if ip.ipv4_mapped is not None else [ip, *embedded]
    for candidate in candidates:
        kind = _kind(candidate)
        if kind == "loopback" and allow_loopback:
            continue
        if kind is not None:
            return kind
    return None


def parse_url(url: str, policy: UrlPolicy) -> Target:
    """The URL's parts, or ``invalid_webhook_url`` naming what is wrong with it."""
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(f"The URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise _invalid("The URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _invalid(f"Not a valid URL: {exc}") from exc
    if port == 0:
        raise _invalid("Port 0 is not a port")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _invalid("The URL must start with https://")
    if scheme == "http" and policy.require_https:
        raise _invalid("Only https:// URLs are accepted")
    if parts.username is not None or parts.password is not None:
        raise _invalid("The URL must not contain a user name or password")
    if parts.fragment:
        raise _invalid("The URL must not contain a #fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _invalid("The URL has no host")
    try:
        host.encode("idna")
    except UnicodeError as exc:
        raise _invalid("The URL's host name is not valid") from exc
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(
        url=url,
        scheme="https" if scheme == "https" else "http",
        host=host,
        port=port or (443 if scheme == "https" else 80),
        path=path,
    )


Resolver = Callable[[str, int], list[str]]

_dns = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal, in any form the C library reads,
    resolves to itself), within ``DNS_TIMEOUT_SECONDS``."""
    future = _dns.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=DNS_TIMEOUT_SECONDS)
    except FutureTimeout as exc:
        raise OSError(f"resolving {host} took longer than {DNS_TIMEOUT_SECONDS:.0f} s") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(
    url: str, policy: UrlPolicy, resolver: Resolver = resolve
) -> tuple[Target, list[str]]:
    """The target and the addresses to connect to: refused (``WebhookUrlError``) unless every
    address the host resolves to is one a server may call."""
    target = parse_url(url, policy)
    try:
        addresses = resolver(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise _invalid(f"The host {target.host} cannot be resolved") from exc
    if not addresses:
        raise _invalid(f"The host {target.host} has no address")
    for raw in addresses:
        ip = ip_address(raw.split("%", 1)[0])
        problem = address_problem(ip, policy.allow_loopback)
        if problem is not None:
            raise _unsafe(
                f"The host {target.host} resolves to a {problem} address ({ip});"
                " webhooks are only sent to public addresses"
            )
    return target, addresses


# --- retries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrySchedule:
    """Waits between tries: ``len(delays) + 1`` tries in all."""

    delays: tuple[int, ...] = DEFAULT_RETRY_DELAYS
    jitter: float = 0.1

    @property
    def tries(self) -> int:
        return len(self.delays) + 1

    def delay_after(self, attempt: int, rand: Callable[[], float] = random.random) -> int | None:
        """Seconds to wait after try number ``attempt`` (1-based) failed; ``None`` after the
        last. Spread by ±``jitter`` so receivers that come back are not hit all at once."""
        if attempt >= self.tries:
            return None
        base = self.delays[attempt - 1]
        spread = base * self.jitter * (2 * rand() - 1)
        return max(1, min(MAX_RETRY_DELAY_SECONDS, round(base + spread)))

    def offsets(self) -> list[int]:
        """When each try starts, in seconds after the first (without jitter)."""
        out = [0]
        for delay in self.delays:
            out.append(out[-1] + delay)
        return out


# --- sending one request ----------------------------------------------------------------


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    duration_ms: int
    excerpt: str | None = None
    # False when no connection was made (the next address may be tried).
    connected: bool = True

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to ``address`` (already checked) while the Host header names the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """As ``_PinnedHTTP``, with TLS whose SNI and certificate check use the host name."""

    def __init__(
        self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def post(
    target: Target,
    address: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    tls: ssl.SSLContext | None = None,
) -> AttemptResult:
    """One POST to ``address``; redirects are answers like any other (not followed)."""
    started = time.perf_counter()
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = _PinnedHTTPS(
            target.host, target.port, address, timeout, tls or ssl.create_default_context()
        )
    else:
        conn = _PinnedHTTP(target.host, target.port, address, timeout)

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        conn.connect()
    except OSError as exc:  # timeouts and TLS handshakes included
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return AttemptResult(None, f"connecting to {address}: {reason}"[:300], took(), None, False)
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        excerpt = response.read(EXCERPT_CHARS * 4).decode("utf-8", "replace")[:EXCERPT_CHARS]
        error = None
        if 300 <= response.status < 400:
            error = f"redirect to {response.getheader('Location', '?')[:200]} not followed"
        return AttemptResult(response.status, error, took(), excerpt or None)
    except TimeoutError:
        return AttemptResult(None, f"timed out after {timeout:g} s", took())
    except ssl.SSLError as exc:
        return AttemptResult(None, f"TLS error: {exc.reason or exc}", took())
    except (OSError, http.client.HTTPException) as exc:
        return AttemptResult(None, f"{type(exc).__name__}: {exc}"[:300], took())
    finally:
        conn.close()


# --- what is stored ---------------------------------------------------------------------


class AttemptOut(BaseModel):
    attempt: int
    started_at: UtcDatetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_excerpt: str | None
    next_retry_at: UtcDatetime | None


class DeliveryOut(BaseModel):
    id: UUID
    event: str
    url: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: list[AttemptOut]
    created_at: UtcDatetime
    next_attempt_at: UtcDatetime | None
    completed_at: UtcDatetime | None


@dataclass(frozen=True)
class Delivery:
    id: UUID
    analysis_id: UUID
    owner_id: UUID
    event: str
    url: str
    status: str
    attempts: int
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class AccountWebhook:
    webhook_url: str | None
    secret_created_at: datetime | None


_DELIVERY = "id, analysis_id, owner_id, event, url, status, attempts, next_attempt_at"


class WebhookStore:
    """Postgres: account endpoints and secrets, callback URLs, deliveries and attempts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # account -------------------------------------------------------------------------------

    def account(self, user_id: UUID) -> AccountWebhook:
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT webhook_url, secret_created_at FROM account_webhooks WHERE user_id = %s",
                (user_id,),
            ).fetchone()
        return AccountWebhook(row[0], row[1]) if row else AccountWebhook(None, None)

    def set_webhook_url(self, user_id: UUID, url: str | None) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO account_webhooks (user_id, webhook_url) VALUES (%s, %s)"
                " ON CONFLICT (user_id) DO UPDATE"
                " SET webhook_url = EXCLUDED.webhook_url, updated_at = now()",
                (user_id, url),
            )

    def ensure_secret(self, user_id: UUID) -> str | None:
        """Create the account's secret if it has none; returns it only when new."""
        with self.db.connection() as conn:
            row = conn.execute(
                "INSERT INTO account_webhooks (user_id, secret, secret_created_at)"
                " VALUES (%s, %s, now()) ON CONFLICT (user_id) DO UPDATE"
                " SET secret = EXCLUDED.secret, secret_created_at = now(), updated_at = now()"
                " WHERE account_webhooks.secret IS NULL RETURNING secret",
                (user_id, new_secret()),
            ).fetchone()
        return str(row[0]) if row else None

    def rotate_secret(self, user_id: UUID) -> tuple[str, datetime]:
        """A new secret replaces the old one at once."""
        with self.db.connection() as conn:
            row = conn.execute(
                "INSERT INTO account_webhooks (user_id, secret, secret_created_at)"
                " VALUES (%s, %s, now()) ON CONFLICT (user_id) DO UPDATE"
                " SET secret = EXCLUDED.secret, secret_created_at = now(), updated_at = now()"
                " RETURNING secret, secret_created_at",
                (user_id, new_secret()),
            ).fetchone()
        assert row is not None
        return str(row[0]), row[1]

    def secret(self, user_id: UUID) -> str | None:
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT secret FROM account_webhooks WHERE user_id = %s", (user_id,)
            ).fetchone()
        return str(row[0]) if row and row[0] else None

    def set_callback_url(self, analysis_id: UUID, url: str) -> None:
        """The analysis's own endpoint; set once, while it still awaits its upload."""
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE analyses SET callback_url = %s WHERE id = %s AND callback_url IS NULL"
                " AND status = 'awaiting_upload'",
                (url, analysis_id),
            )

    # deliveries ----------------------------------------------------------------------------

    def get(self, delivery_id: UUID) -> Delivery | None:
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE id = %s", (delivery_id,)
            ).fetchone()
        return Delivery(**row) if row else None

    def take_unsent(
        self, analysis_id: UUID | None, min_age_seconds: float, limit: int = 100
    ) -> list[UUID]:
        """Mark deliveries not yet sent to the queue as sent; the caller sends them."""
        condition = "enqueued_at IS NULL AND status = 'pending'"
        condition += " AND created_at <= now() - make_interval(secs => %s)"
        params: list[Any] = [min_age_seconds]
        if analysis_id is not None:
            condition += " AND analysis_id = %s"
            params.append(analysis_id)
        with self.db.connection() as conn:
            rows = conn.execute(
                "UPDATE webhook_deliveries SET enqueued_at = now() WHERE id IN ("
                f" SELECT id FROM webhook_deliveries WHERE {condition}"
                " ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id",
                (*params, limit),
            ).fetchall()
        return [UUID(str(r[0])) for r in rows]

    def untake(self, delivery_id: UUID) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE webhook_deliveries SET enqueued_at = NULL WHERE id = %s", (delivery_id,)
            )

    def claim(self, delivery_id: UUID, lease_seconds: float) -> Delivery | None:
        """Count a new try of a pending delivery that is due, holding it for the lease;
        ``None`` when it is finished, gone, not yet due, or another try is under way."""
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1,"
                " next_attempt_at = now() + make_interval(secs => %s)"
                " WHERE id = %s AND status = 'pending' AND (next_attempt_at IS NULL"
                "  OR next_attempt_at <= now() + interval '1 second')"
                f" RETURNING {_DELIVERY}",
                (lease_seconds, delivery_id),
            ).fetchone()
        return Delivery(**row) if row else None

    def record(
        self,
        delivery_id: UUID,
        attempt: int,
        started_at: datetime,
        result: AttemptResult,
        retry_in: int | None,
    ) -> datetime | None:
        """Log the try and move the delivery on: succeeded, failed (no retry left) or due
        again in ``retry_in`` seconds. Returns when the next try is due."""
        status = "succeeded" if result.ok else ("pending" if retry_in is not None else "failed")
        with self.db.connection() as conn:
            row = conn.execute(
                "UPDATE webhook_deliveries SET status = %s,"
                " next_attempt_at = CASE WHEN %s::int IS NULL THEN NULL"
                "  ELSE now() + make_interval(secs => %s::int) END,"
                " completed_at = CASE WHEN %s = 'pending' THEN NULL ELSE now() END"
                " WHERE id = %s RETURNING next_attempt_at",
                (status, retry_in, retry_in, status, delivery_id),
            ).fetchone()
            if row is None:  # the analysis (and so the delivery) was deleted meanwhile
                return None
            conn.execute(
                "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at,"
                " duration_ms, status_code, error, response_excerpt, next_retry_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    delivery_id,
                    attempt,
                    started_at,
                    result.duration_ms,
                    result.status_code,
                    result.error,
                    result.excerpt,
                    row[0],
                ),
            )
        next_at: datetime | None = row[0]
        return next_at

    def for_analysis(self, analysis_id: UUID) -> list[DeliveryOut]:
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            deliveries = cur.execute(
                "SELECT id, event, url, status, created_at, next_attempt_at, completed_at"
                " FROM webhook_deliveries WHERE analysis_id = %s ORDER BY created_at",
                (analysis_id,),
            ).fetchall()
            attempts = cur.execute(
                "SELECT a.* FROM webhook_delivery_attempts a JOIN webhook_deliveries d"
                " ON d.id = a.delivery_id WHERE d.analysis_id = %s ORDER BY a.attempt",
                (analysis_id,),
            ).fetchall()
        by_delivery: dict[UUID, list[AttemptOut]] = {}
        for a in attempts:
            by_delivery.setdefault(a["delivery_id"], []).append(AttemptOut.model_validate(a))
        return [
            DeliveryOut.model_validate(
                {
                    **d,
                    "attempts": by_delivery.get(d["id"], []),
                    # A pending delivery's next try (not the lease of one under way).
                    "next_attempt_at": d["next_attempt_at"] if d["status"] == "pending" else None,
                }
            )
            for d in deliveries
        ]


# --- the queue --------------------------------------------------------------------------


class WebhookQueue:
    """Messages ``{"delivery_id": …}`` on the webhook queue."""

    def __init__(self, sqs: Any, url: str) -> None:
        self._sqs = sqs
        self.url = url

    def send(self, delivery_id: UUID) -> None:
        self._sqs.send_message(
            QueueUrl=self.url, MessageBody=json.dumps({"delivery_id": str(delivery_id)})
        )

    def retry_in(self, receipt_handle: str, seconds: int) -> None:
        """Hide a received message until its next try is due."""
        self._sqs.change_message_visibility(
            QueueUrl=self.url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(MAX_RETRY_DELAY_SECONDS, seconds)),
        )


def parse_message(body: str) -> UUID | None:
    try:
        return UUID(str(json.loads(body)["delivery_id"]))
    except (ValueError, KeyError, TypeError):
        return None


class QueuePort(Protocol):
    def send(self, delivery_id: UUID) -> None: ...


def dispatch(
    store: WebhookStore,
    queue: QueuePort,
    analysis_id: UUID | None = None,
    min_age_seconds: float = 0,
) -> list[UUID]:
    """Send the deliveries not yet on the queue (of one analysis, or all that are at least
    ``min_age_seconds`` old); one that cannot be sent is left for the sweep."""
    sent = []
    for delivery_id in store.take_unsent(analysis_id, min_age_seconds):
        try:
            queue.send(delivery_id)
        except Exception as exc:
            log.warning("webhook delivery %s not queued (%s); the sweep will", delivery_id, exc)
            store.untake(delivery_id)
            continue
        sent.append(delivery_id)
    return sent


# --- one try ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    """Nothing more to do for this message (delivered, failed for good, or gone)."""

    status: str


@dataclass(frozen=True)
class RetryIn:
    """Try again in ``seconds``."""

    seconds: int


class AnalysesPort(Protocol):
    def get(self, analysis_id: UUID, owner_id: UUID | None = None) -> AnalysisRecord | None: ...
    def chunks(self, analysis_id: UUID) -> list[Chunk]: ...


Post = Callable[[Target, str, bytes, dict[str, str], float], AttemptResult]


@dataclass
class WebhookSender:
    store: WebhookStore
    analyses: AnalysesPort
    policy: UrlPolicy
    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    timeout_seconds: float = 10.0
    resolver: Resolver = resolve
    send: Post = post
    clock: Callable[[], float] = time.time

    def attempt(self, delivery_id: UUID) -> Done | RetryIn:
        """Make the next try of a delivery, if it is due."""
        # Held long enough for a connect and a read that both time out.
        lease = 2 * self.timeout_seconds + DNS_TIMEOUT_SECONDS + 10
        delivery = self.store.claim(delivery_id, lease)
        if delivery is None:
            current = self.store.get(delivery_id)
            if current is None or current.status != "pending":
                return Done(current.status if current else "gone")
            due = current.next_attempt_at
            wait = (due - datetime.now(UTC)).total_seconds() if due else 1
            return RetryIn(max(1, int(wait + 0.999)))
        record = self.analyses.get(delivery.analysis_id)
        if record is None:
            return Done("gone")
        started_at = datetime.now(UTC)
        result = self._try(delivery, record)
        retry_in = None if result.ok else self.schedule.delay_after(delivery.attempts)
        self.store.record(delivery.id, delivery.attempts, started_at, result, retry_in)
        log.info(
            "webhook %s try %d/%d to %s: %s",
            delivery.id,
            delivery.attempts,
            self.schedule.tries,
            delivery.url,
            result.status_code or result.error,
        )
        if result.ok:
            return Done("succeeded")
        return RetryIn(retry_in) if retry_in is not None else Done("failed")

    def _try(self, delivery: Delivery, record: AnalysisRecord) -> AttemptResult:
        chunks = self.analyses.chunks(record.id) if record.status == Status.COMPLETED else []
        body = record.to_analysis(chunks).model_dump_json().encode()
        secret = self.store.secret(delivery.owner_id)
        if secret is None:
            return AttemptResult(None, "the account has no signing secret", 0)
        try:
            target, addresses = check_url(delivery.url, self.policy, self.resolver)
        except WebhookUrlError as exc:
            return AttemptResult(None, f"refused: {exc.message}", 0)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: str(delivery.id),
            SIGNATURE_HEADER: signature_header(secret, int(self.clock()), body),
        }
        # Each address the name has, until one takes the connection.
        result = AttemptResult(None, "no address", 0)
        for address in addresses:
            result = self.send(target, address, body, headers, self.timeout_seconds)
            if result.connected:
                break
        return result
