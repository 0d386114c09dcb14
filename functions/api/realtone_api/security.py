"""Password hashing (argon2id) and JWT access/refresh tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal
from uuid import UUID, uuid4

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from realtone_api.settings import ApiSettings

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verifying against this when the email is unknown keeps both paths equally slow, so
    response times do not tell which emails have accounts. Made on first use: hashing at
    import cost every cold start ~0.1-0.2 s."""
    return _hasher.hash("not-a-real-password")


TokenType = Literal["access", "refresh", "stream"]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    user_id: UUID
    type: TokenType
    jti: UUID
    family: UUID | None
    analysis_id: UUID | None = None  # stream tokens: the one analysis they may follow


@dataclass(frozen=True)
class IssuedRefresh:
    token: str
    jti: UUID
    family: UUID
    expires_at: datetime


class InvalidTokenError(Exception):
    pass


def issue_access_token(settings: ApiSettings, user_id: UUID) -> str:
    return _encode(settings, user_id, "access", settings.access_token_seconds, {})


def issue_stream_token(settings: ApiSettings, user_id: UUID, analysis_id: UUID) -> str:
    """A short-lived token that only opens the event stream of one analysis: the browser's
    EventSource cannot send an Authorization header, so it travels in the URL."""
    return _encode(
        settings, user_id, "stream", settings.stream_token_seconds, {"aid": str(analysis_id)}
    )


def issue_refresh_token(settings: ApiSettings, user_id: UUID, family: UUID | None) -> IssuedRefresh:
    jti = uuid4()
    family = family or uuid4()
    token = _encode(
        settings,
        user_id,
        "refresh",
        settings.refresh_token_seconds,
        {"jti": str(jti), "fam": str(family)},
    )
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.refresh_token_seconds)
    return IssuedRefresh(token, jti, family, expires_at)


def decode_token(settings: ApiSettings, token: str, expected: TokenType) -> TokenClaims:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[settings.jwt_algorithm],
            options={"require": ["exp", "iat", "sub", "typ", "jti"]},
        )
        if claims["typ"] != expected:
            raise InvalidTokenError(f"expected an {expected} token")
        return TokenClaims(
            user_id=UUID(claims["sub"]),
            type=expected,
            jti=UUID(claims["jti"]),
            family=UUID(claims["fam"]) if "fam" in claims else None,
            analysis_id=UUID(claims["aid"]) if "aid" in claims else None,
        )
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
        raise InvalidTokenError(str(exc)) from exc


def _encode(
    settings: ApiSettings, user_id: UUID, typ: TokenType, ttl: int, extra: dict[str, Any]
) -> str:
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "typ": typ,
        "iat": now,
        "exp": now + timedelta(seconds=ttl),
        "jti": str(uuid4()),
        **extra,
    }
    return jwt.encode(
        payload, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm
    )
