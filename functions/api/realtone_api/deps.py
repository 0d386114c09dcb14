"""FastAPI dependencies: settings, the process's adapters and the authenticated user."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from realtone_api.security import InvalidTokenError, decode_token
from realtone_core.config import Settings, get_settings
from realtone_core.errors import ErrorCode, RealToneError
from realtone_core.models import User
from realtone_core.services import Services


@lru_cache(maxsize=1)
def get_services() -> Services:
    """One set of adapters per process: a warm Lambda reuses its connections."""
    return Services.from_settings(get_settings())


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False)


def _unauthorized(message: str) -> RealToneError:
    return RealToneError(ErrorCode.INVALID_TOKEN, message, status_code=401)


def current_user(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("Missing bearer token")
    try:
        claims = decode_token(services.settings, credentials.credentials, "access")
    except InvalidTokenError as exc:
        raise _unauthorized("Invalid or expired access token") from exc
    user = services.users.by_id(claims.user_id)
    if user is None:
        raise _unauthorized("The account for this token no longer exists")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
