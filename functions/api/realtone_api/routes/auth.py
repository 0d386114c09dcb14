"""Registration, login, token refresh (rotating) and the current user."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, status

from realtone_api.deps import ApiServices, CurrentUser, ServicesDep
from realtone_api.schemas import (
    Credentials,
    LoginRequest,
    MeOut,
    RefreshRequest,
    TokenPair,
    UserOut,
    error_responses,
)
from realtone_api.security import (
    InvalidTokenError,
    decode_token,
    hash_password,
    issue_access_token,
    issue_refresh_token,
    verify_password,
)
from realtone_core.errors import ErrorCode, RateLimitedError, RealToneError
from realtone_core.limits import Limit
from realtone_core.models import User

router = APIRouter(
    prefix="/v1/auth", tags=["auth"], responses=error_responses(401, 413, 422, 429, 503)
)


def _token_pair(services: ApiServices, user: User, family: UUID | None = None) -> TokenPair:
    settings = services.settings
    refresh = issue_refresh_token(settings, user.id, family)
    services.refresh_tokens.add(refresh.jti, user.id, refresh.family, refresh.expires_at)
    return TokenPair(
        access_token=issue_access_token(settings, user.id),
        refresh_token=refresh.token,
        expires_in=settings.access_token_seconds,
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=error_responses(409),
)
def register(body: Credentials, services: ServicesDep) -> UserOut:
    user = services.users.create(body.email, hash_password(body.password))
    return UserOut(id=user.id, email=user.email, created_at=user.created_at)


@router.post("/login", response_model=TokenPair)
def login(body: LoginRequest, request: Request, services: ServicesDep) -> TokenPair:
    s = services.settings
    email = body.email.strip().lower()
    client = request.client.host if request.client else "unknown"
    # Failed attempts count, per account (guessing one password) and per client
    # (trying many accounts); a user who types their password right is never slowed down.
    per_account = Limit("login-failures", s.login_failures_per_account, s.login_window_seconds)
    per_client = Limit("login-client-failures", s.login_failures_per_client, s.login_window_seconds)
    wait = services.limiter.exceeded(per_account, email) or services.limiter.exceeded(
        per_client, client
    )
    if wait:
        raise RateLimitedError("Too many failed login attempts; try again later", wait)
    user = services.users.by_email(email)
    if not verify_password(user.password_hash if user else None, body.password) or user is None:
        services.limiter.add(per_account, email)
        services.limiter.add(per_client, client)
        raise RealToneError(
            ErrorCode.INVALID_CREDENTIALS, "Wrong email or password", status_code=401
        )
    return _token_pair(services, user)


@router.post("/refresh", response_model=TokenPair)
def refresh(body: RefreshRequest, services: ServicesDep) -> TokenPair:
    invalid = RealToneError(
        ErrorCode.INVALID_TOKEN, "Invalid, expired or already used refresh token", status_code=401
    )
    try:
        claims = decode_token(services.settings, body.refresh_token, "refresh")
    except InvalidTokenError as exc:
        raise invalid from exc
    family = services.refresh_tokens.use(claims.jti, claims.user_id)
    user = services.users.by_id(claims.user_id) if family else None
    if user is None:
        raise invalid
    return _token_pair(services, user, family)


@router.get("/me", response_model=MeOut)
def me(user: CurrentUser) -> MeOut:
    return MeOut(id=user.id, email=user.email)
