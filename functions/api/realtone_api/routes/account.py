"""Account settings: the default webhook endpoint and the webhook signing secret.

Only ``webhook_url`` is handled here; other account settings sit beside it in the same
models and routes.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from realtone_api.callbacks import checked_url, secret_for_new_target, webhook_store
from realtone_api.deps import CurrentUser, ServicesDep
from realtone_api.schemas import ApiInput, error_responses
from realtone_core.models import UtcDatetime

router = APIRouter(prefix="/v1/account", tags=["account"], responses=error_responses(401, 503))


class AccountOut(BaseModel):
    # Where results go when an analysis names no callback_url (null: nowhere).
    webhook_url: str | None
    # When the signing secret was made (null: none yet); the secret itself is never shown
    # again, except in webhook_secret of the answer that created it.
    webhook_secret_created_at: UtcDatetime | None
    webhook_secret: str | None = None


class AccountUpdate(ApiInput):
    # Absent: unchanged; null: no default endpoint.
    webhook_url: str | None = Field(default=None, max_length=2048)


class WebhookSecretOut(BaseModel):
    webhook_secret: str
    created_at: UtcDatetime


def _account(services: ServicesDep, user: CurrentUser, secret: str | None = None) -> AccountOut:
    account = webhook_store(services).account(user.id)
    return AccountOut(
        webhook_url=account.webhook_url,
        webhook_secret_created_at=account.secret_created_at,
        webhook_secret=secret,
    )


@router.get("", response_model=AccountOut)
def get_account(user: CurrentUser, services: ServicesDep) -> AccountOut:
    return _account(services, user)


@router.patch("", response_model=AccountOut, responses=error_responses(422))
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
    return await run_in_threadpool(_account, services, user, secret)


@router.post(
    "/webhook-secret", status_code=status.HTTP_201_CREATED, response_model=WebhookSecretOut
)
def rotate_webhook_secret(user: CurrentUser, services: ServicesDep) -> WebhookSecretOut:
    """A new signing secret, shown this once; the old one stops signing at once."""
    secret, created_at = webhook_store(services).rotate_secret(user.id)
    return WebhookSecretOut(webhook_secret=secret, created_at=created_at)
