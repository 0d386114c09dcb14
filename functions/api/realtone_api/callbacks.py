"""Webhook targets set through the API: the URL checks (at the time they are set) and the
account's signing secret, created the first time a target needs one."""

from __future__ import annotations

from uuid import UUID

from realtone_core.config import CoreSettings
from realtone_core.services import Services
from realtone_core.webhooks import UrlPolicy, WebhookStore, check_url


def url_policy(settings: CoreSettings) -> UrlPolicy:
    return UrlPolicy.for_env(settings.env, settings.webhook_allow_loopback)


def checked_url(settings: CoreSettings, url: str) -> str:
    """``url`` when webhooks may be sent to it now (``WebhookUrlError``, a 422, if not)."""
    check_url(url, url_policy(settings))
    return url


def webhook_store(services: Services) -> WebhookStore:
    return WebhookStore(services.db)


def secret_for_new_target(services: Services, owner_id: UUID) -> str | None:
    """The account's signing secret when this call had to create it (shown once), else None."""
    return webhook_store(services).ensure_secret(owner_id)
