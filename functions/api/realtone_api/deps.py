"""FastAPI dependencies: the process's adapters and the authenticated user."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from realtone_api.security import InvalidTokenError, decode_token
from realtone_api.settings import ApiSettings, get_settings
from realtone_core.errors import AccountGoneError, ErrorCode, RealToneError
from realtone_core.limits import RateLimiter
from realtone_core.models import User
from realtone_core.services import Services
from realtone_core.store import RefreshTokenStore, UserStore


@dataclass
class ApiServices(Services):
    settings: ApiSettings
    users: UserStore
    refresh_tokens: RefreshTokenStore
    limiter: RateLimiter

    @classmethod
    def from_api_settings(cls, settings: ApiSettings) -> ApiServices:
        core = Services.from_settings(settings, settings.s3_public_endpoint_url)
        return cls(
            **{f.name: getattr(core, f.name) for f in fields(Services)},
            users=UserStore(core.db),
            refresh_tokens=RefreshTokenStore(core.db),
            limiter=RateLimiter(settings.redis_url),
        )

    def close(self) -> None:
        super().close()
        self.limiter.close()


@lru_cache(maxsize=1)
def get_services() -> ApiServices:
    """One set of adapters per process: a warm Lambda reuses its connections."""
    return ApiServices.from_api_settings(get_settings())


async def _services() -> ApiServices:
    # async: FastAPI would run a plain function in its thread pool, a hop per request.
    return get_services()


ServicesDep = Annotated[ApiServices, Depends(_services)]


def client_address(request: Request, trusted: list[IPv4Network | IPv6Network]) -> str:
    """Who sent the request, for per-client limits: the peer, unless the peer is a
    configured proxy; then the nearest X-Forwarded-For hop that is not one. Behind API
    Gateway the peer is its sourceIp (Mangum), which a client cannot choose."""
    peer = request.client.host if request.client else "unknown"

    def is_trusted(address: str) -> bool:
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    if not is_trusted(peer):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else peer


async def _client(request: Request, services: ServicesDep) -> str:
    return client_address(request, services.settings.trusted_proxies)


ClientAddress = Annotated[str, Depends(_client)]

bearer = HTTPBearer(auto_error=False)


def _unauthorized(message: str) -> RealToneError:
    return RealToneError(ErrorCode.INVALID_TOKEN, message, status_code=401)


async def current_user(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("Missing bearer token")
    try:
        claims = decode_token(services.settings, credentials.credentials, "access")
    except InvalidTokenError as exc:
        raise _unauthorized("Invalid or expired access token") from exc
    user = await _known_user(services, claims.user_id)
    if user is None:
        raise AccountGoneError()
    return user


CurrentUser = Annotated[User, Depends(current_user)]

_KNOWN_USER_SECONDS = 60.0
_known_users: dict[UUID, tuple[float, User]] = {}


def forget_user(user_id: UUID) -> None:
    """A deleted account: this process stops trusting its tokens at once.

    The limit: other processes (API Lambda containers, other workers) may trust a token of a
    deleted account for up to ``_KNOWN_USER_SECONDS`` more. What it reaches there is gone
    already: its analyses read as 404, creating one answers 401 (the insert's foreign key),
    and its account settings answer 401 (read from Postgres, not from this cache).
    """
    _known_users.pop(user_id, None)


async def _known_user(services: ApiServices, user_id: UUID) -> User | None:
    """The token's user, looked up at most once a minute per process: status polling would
    otherwise cost a database round trip per request just to learn the account exists.
    Only that it exists is trusted from here: account settings are read from Postgres."""
    now = time.monotonic()
    hit = _known_users.get(user_id)
    if hit is not None and now - hit[0] < _KNOWN_USER_SECONDS:
        return hit[1]
    user = await run_in_threadpool(services.users.by_id, user_id)
    if user is not None:
        if len(_known_users) > 10_000:
            _known_users.clear()
        _known_users[user_id] = (now, user)
    return user
