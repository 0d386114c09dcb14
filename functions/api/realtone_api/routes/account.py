"""The account: its settings (how long uploaded audio is kept) and deleting it."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from realtone_api.deps import CurrentUser, ServicesDep, forget_user
from realtone_api.schemas import AccountOut, AccountUpdate, error_responses
from realtone_core import account

router = APIRouter(
    prefix="/v1/account", tags=["account"], responses=error_responses(401, 413, 422, 429, 503)
)


@router.get("", response_model=AccountOut)
def get_account(user: CurrentUser, services: ServicesDep) -> AccountOut:
    return AccountOut.of(account.account(user.id, accounts=services.users))


@router.patch("", response_model=AccountOut)
def update_account(body: AccountUpdate, user: CurrentUser, services: ServicesDep) -> AccountOut:
    if body.retention_days is None:
        return get_account(user, services)
    return AccountOut.of(
        account.set_retention(user.id, body.retention_days, accounts=services.users)
    )


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={204: {"description": "Deleted: the account, its analyses, audio and sessions"}},
)
def delete_account(user: CurrentUser, services: ServicesDep) -> Response:
    """Delete the account for good: its analyses and their audio, cached results, sessions
    and settings. Its tokens are refused from then on (401)."""
    account.delete_account(
        user.id, accounts=services.users, objects=services.objects, cache=services.cache
    )
    forget_user(user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
