"""Registration, login, token refresh (rotating), logout and the current user."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from fastapi import APIRouter, Response, status

from realtone_api.deps import ApiServices, ClientAddress, CurrentUser, ServicesDep
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
from realtone_core.errors import EmailTakenError, ErrorCode, RateLimitedError, RealToneError
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
    responses={201: {"description": "The same answer whether or not the email had an account"}},
)
def register(body: Credentials, client: ClientAddress, services: ServicesDep) -> UserOut:
    s = services.settings
    per_client = Limit("registrations", s.registrations_per_client, s.registration_window_seconds)
    wait = services.limiter.take(per_client, client)
    if wait:
        raise RateLimitedError("Too many accounts created from your address; try again later", wait)
    password_hash = hash_password(body.password)
    try:
        user = services.users.create(body.email, password_hash)
    except EmailTakenError:
        # Answered like a new account (same status, shape and argon2 time), so registering
        # does not tell anyone which emails have accounts; nothing is created or changed.
        return UserOut(id=uuid4(), email=body.email, created_at=datetime.now(UTC))
    return UserOut(id=user.id, email=user.email, created_at=user.created_at)


@router.post("/login", response_model=TokenPair)
def login(body: LoginRequest, client: ClientAddress, services: ServicesDep) -> TokenPair:
    s = services.settings
    email = body.email.strip().lower()
    # Every attempt is counted before the password is checked (one atomic increment), per
    # account (guessing one password) and per client (trying many accounts), so concurrent
    # attempts cannot all pass the limit while the slow check runs; a right password gives
    # its count back, so a user who types it right is never slowed down.
    limiter = services.limiter
    per_account = Limit("login-failures", s.login_failures_per_account, s.login_window_seconds)
    per_client = Limit("login-client-failures", s.login_failures_per_client, s.login_window_seconds)
    wait = limiter.take(per_client, client)
    if not wait:
        wait = limiter.take(per_account, email)
        if wait:
            limiter.give_back(per_client, client)
    if wait:
        raise RateLimitedError("Too many failed login attempts; try again later", wait)
    user = services.users.by_email(email)
    if not verify_password(user.password_hash if user else None, body.password) or user is None:
        raise RealToneError(
            ErrorCode.INVALID_CREDENTIALS, "Wrong email or password", status_code=401
        )
    limiter.give_back(per_account, email)
    limiter.give_back(per_client, client)
    return _token_pair(services, user)


def _invalid_refresh() -> RealToneError:
    return RealToneError(
        ErrorCode.INVALID_TOKEN, "Invalid, expired or already used refresh token", status_code=401
    )


@router.post("/refresh", response_model=TokenPair)
def refresh(body: RefreshRequest, services: ServicesDep) -> TokenPair:
    try:
        claims = decode_token(services.settings, body.refresh_token, "refresh")
    except InvalidTokenError as exc:
        raise _invalid_refresh() from exc
    family = services.refresh_tokens.use(claims.jti, claims.user_id)
    user = services.users.by_id(claims.user_id) if family else None
    if user is None:
        raise _invalid_refresh()
    return _token_pair(services, user, family)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(body: RefreshRequest, services: ServicesDep) -> Response:
    """End the session: every refresh token of its family stops working at once (access
    tokens already issued live out their short lifetime)."""
    try:
        claims = decode_token(services.settings, body.refresh_token, "refresh")
    except InvalidTokenError as exc:
        raise _invalid_refresh() from exc
    services.refresh_tokens.revoke_family(claims.jti, claims.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=MeOut)
def me(user: CurrentUser) -> MeOut:
    return MeOut(id=user.id, email=user.email)
