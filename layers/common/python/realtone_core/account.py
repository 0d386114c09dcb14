"""Account settings and deletion: how long the account keeps its audio (N days, or
zero-retention), and deleting the account with everything of it.

Retention is stored as days, 0 meaning zero-retention: the audio object is deleted as soon
as the analysis is scored (or fails) and only the result stays. The scorer
(``realtone_scorer.uploads``) deletes it then, the sweep (``realtone_core.sweep``) enforces
what is left (zero-retention audio still present, audio older than its account's N days),
and the bucket's lifecycle rules in ``template.yaml`` are the safety net behind both.

Domain code: it takes its adapters as arguments (ports below).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol
from uuid import UUID

from realtone_core.errors import AccountGoneError, ErrorCode, RealToneError
from realtone_core.models import User
from realtone_core.s3 import owner_prefix

DEFAULT_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 3650
# Stored for zero-retention; the API says "zero".
ZERO_RETENTION = 0

Retention = int | Literal["zero"]


class AccountRepo(Protocol):
    def by_id(self, user_id: UUID) -> User | None: ...
    def set_retention_days(self, user_id: UUID, days: int) -> User | None: ...
    def delete_account(self, user_id: UUID) -> list[UUID] | None: ...


class AccountObjects(Protocol):
    def delete_prefix(self, prefix: str) -> int: ...


class DocumentTombstones(Protocol):
    def delete_many(self, analysis_ids: Iterable[UUID]) -> None: ...


RETENTION_RULE = f'a whole number of days from 1 to {MAX_RETENTION_DAYS}, or "zero"'


def check_retention(value: object) -> Retention:
    """``value`` as a retention setting, or ValueError saying what is accepted (JSON true,
    7.0 or "7" are no number of days)."""
    if value == "zero" and isinstance(value, str):
        return "zero"
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_RETENTION_DAYS:
        return value
    raise ValueError(RETENTION_RULE)


def to_days(retention: Retention) -> int:
    """The stored number of days for a retention as the API says it."""
    return ZERO_RETENTION if retention == "zero" else retention


def from_days(days: int) -> Retention:
    return "zero" if days == ZERO_RETENTION else days


def account(user_id: UUID, *, accounts: AccountRepo) -> User:
    """The account as stored now (not the per-process cache of token users)."""
    user = accounts.by_id(user_id)
    if user is None:
        raise AccountGoneError()
    return user


def set_retention(user_id: UUID, retention: Retention, *, accounts: AccountRepo) -> User:
    """Change how long the account keeps audio. It applies to the audio already kept too:
    the sweep deletes what is now past it (with zero-retention: all of it), within minutes."""
    try:
        days = to_days(check_retention(retention))
    except ValueError as exc:
        raise RealToneError(ErrorCode.VALIDATION_ERROR, f"retention_days: {exc}", 422) from exc
    user = accounts.set_retention_days(user_id, days)
    if user is None:
        raise AccountGoneError()
    return user


def delete_account(
    user_id: UUID,
    *,
    accounts: AccountRepo,
    objects: AccountObjects,
    cache: DocumentTombstones,
) -> int:
    """Delete the account: its audio in storage, then its rows (analyses, windows, refresh
    tokens, idempotency records, the user, and whatever else refers to the user through a
    foreign key that cascades) in one transaction, then its cached status documents, each
    replaced by a tombstone so a scorer finishing meanwhile cannot publish one back.

    Storage goes first: if it fails nothing else is gone, and the user can simply retry.
    Returns how many analyses went."""
    account(user_id, accounts=accounts)
    objects.delete_prefix(owner_prefix(user_id))
    removed = accounts.delete_account(user_id)
    if removed is None:  # deleted by a concurrent request
        raise AccountGoneError()
    cache.delete_many(removed)
    return len(removed)
