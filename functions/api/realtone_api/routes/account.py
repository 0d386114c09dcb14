"""The account: its settings (how long uploaded audio is kept, the default webhook
endpoint), the webhook signing secret, and deleting it."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.concurrency import run_in_threadpool

from realtone_api.callbacks import checked_url, secret_for_new_target, webhook_store
from realtone_api.deps import ApiServices, CurrentUser, ServicesDep, forget_user
from realtone_api.schemas import AccountOut, AccountUpdate, WebhookSecretOut, error_responses
from realtone_core import account
from realtone_core.models import User

router = APIRouter(
    prefix="/v1/account", tags=["account"], responses=error_responses(401, 413, 422, 429, 503)
)


def _out(services: ApiServices, user: User, secret: str | None = None) -> AccountOut:
    return AccountOut.of(user, webhook_store(services).account(user.id), secret)


@router.get("", response_model=AccountOut)
def get_account(user: CurrentUser, services: ServicesDep) -> AccountOut:
    return _out(services, account.account(user.id, accounts=services.users))


@router.patch("", response_model=AccountOut)
async def update_account(
    body: AccountUpdate, user: CurrentUser, services: ServicesDep
) -> AccountOut:
    secret = None
    if "webhook_url" in body.model_fields_set:
        url = body.webhook_url
        if url is not None:
            # Resolves the host: in the thread pool, like every blocking call.
            url = await run_in_threadpool(checked_url, services.settings, url)
            secret = await run_in_threadpool(secret_for_new_target, services, user.id)
        await run_in_threadpool(webhook_store(services).set_webhook_url, user.id, url)
    if body.retention_days is not None:
        current = await run_in_threadpool(
            account.set_retention, user.id, body.retention_days, accounts=services.users
        )
    else:
        current = await run_in_threadpool(account.account, user.id, accounts=services.users)
    return await run_in_threadpool(_out, services, current, secret)


@router.post(
    "/webhook-secret", status_code=status.HTTP_201_CREATED, response_model=WebhookSecretOut
)
def rotate_webhook_secret(user: CurrentUser, services: ServicesDep) -> WebhookSecretOut:
    """A new signing secret, shown this once; the old one stops signing at once."""
    secret, created_at = webhook_store(services).rotate_secret(user.id)
    return WebhookSecretOut(webhook_secret=secret, created_at=created_at)


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={204: {"description": "Deleted: the account, its analyses, audio and sessions"}},
)
def delete_account(user: CurrentUser, services: ServicesDep) -> Response:
    """Delete the account for good: its analyses and their audio, cached results, sessions
    and settings (webhook endpoint and secret included). Its tokens are refused from then
    on (401)."""
    account.delete_account(
        user.id, accounts=services.users, objects=services.objects, cache=services.cache
    )
    forget_user(user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
