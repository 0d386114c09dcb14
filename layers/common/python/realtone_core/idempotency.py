"""A Powertools idempotency persistence layer on Postgres.

The scorer keys idempotency on the S3 object (bucket, key, ETag). Postgres already holds
the truth and must be up to score anything, so it keeps these records too (no DynamoDB
table to run, and a dead Redis cannot stop scoring). Each record names the owner of the
upload (``owner_id``, from the object key), so deleting an account deletes its records; the
sweep removes those that expired.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import (
    BasePersistenceLayer,
    DataRecord,
)

from realtone_core.db import Database
from realtone_core.s3 import parse_upload_key

_COLUMNS = "id, status, expiry_timestamp, in_progress_expiry_timestamp, response_data, payload_hash"
# Records whose expiry passed this long ago are removed by the sweep.
PURGE_AFTER_SECONDS = 3600


def _owner_of(idempotency_key: str) -> UUID | None:
    """The owner a record's key starts with (``{owner}/{function}#{hash}``), if any."""
    head, slash, _ = idempotency_key.partition("/")
    if not slash:
        return None
    try:
        return UUID(head)
    except ValueError:
        return None


def purge_expired(db: Database, older_than_seconds: int = PURGE_AFTER_SECONDS) -> int:
    """Remove records that expired ``older_than_seconds`` ago; returns how many."""
    with db.connection() as conn:
        cur = conn.execute(
            "DELETE FROM idempotency_records WHERE expiry_timestamp < %s",
            (int(time.time()) - older_than_seconds,),
        )
        return cur.rowcount


class PostgresPersistenceLayer(BasePersistenceLayer):
    def __init__(self, database: Callable[[], Database]) -> None:
        super().__init__()
        self._database = database

    def _get_hashed_idempotency_key(self, data: dict[str, Any]) -> str | None:
        """Powertools' key (``{function}#{hash}``), prefixed with the upload's owner."""
        key = super()._get_hashed_idempotency_key(data)
        ids = parse_upload_key(str(data.get("key", ""))) if isinstance(data, dict) else None
        return f"{ids[0]}/{key}" if key and ids else key

    def _record(self, row: tuple[object, ...]) -> DataRecord:
        return DataRecord(
            idempotency_key=str(row[0]),
            status=str(row[1]),
            expiry_timestamp=int(row[2]),  # type: ignore[call-overload]
            in_progress_expiry_timestamp=int(row[3]) if row[3] is not None else None,  # type: ignore[call-overload]
            response_data=str(row[4] or ""),
            payload_hash=str(row[5] or ""),
        )

    def _get_record(self, idempotency_key: str) -> DataRecord:
        with self._database().connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM idempotency_records WHERE id = %s", (idempotency_key,)
            ).fetchone()
        if row is None:
            raise IdempotencyItemNotFoundError
        return self._record(row)

    def _put_record(self, data_record: DataRecord) -> None:
        now = time.time()
        with self._database().connection() as conn:
            # Insert, or take over a record that expired or whose holder ran out of time.
            row = conn.execute(
                f"INSERT INTO idempotency_records ({_COLUMNS}, owner_id)"
                " VALUES (%s, %s, %s, %s, NULL, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,"
                " expiry_timestamp = EXCLUDED.expiry_timestamp,"
                " in_progress_expiry_timestamp = EXCLUDED.in_progress_expiry_timestamp,"
                " response_data = NULL, payload_hash = EXCLUDED.payload_hash"
                " WHERE idempotency_records.expiry_timestamp < %s"
                " OR (idempotency_records.status = 'INPROGRESS'"
                "  AND idempotency_records.in_progress_expiry_timestamp IS NOT NULL"
                "  AND idempotency_records.in_progress_expiry_timestamp < %s)"
                " RETURNING id",
                (
                    data_record.idempotency_key,
                    data_record.status,
                    data_record.expiry_timestamp,
                    data_record.in_progress_expiry_timestamp,
                    data_record.payload_hash or None,
                    _owner_of(data_record.idempotency_key),
                    int(now),
                    int(now * 1000),
                ),
            ).fetchone()
            if row is not None:
                return
            existing = conn.execute(
                f"SELECT {_COLUMNS} FROM idempotency_records WHERE id = %s",
                (data_record.idempotency_key,),
            ).fetchone()
        raise IdempotencyItemAlreadyExistsError(
            old_data_record=self._record(existing) if existing else None
        )

    def _update_record(self, data_record: DataRecord) -> None:
        with self._database().connection() as conn:
            conn.execute(
                "UPDATE idempotency_records SET status = %s, expiry_timestamp = %s,"
                " response_data = %s WHERE id = %s",
                (
                    data_record.status,
                    data_record.expiry_timestamp,
                    data_record.response_data,
                    data_record.idempotency_key,
                ),
            )

    def _delete_record(self, data_record: DataRecord) -> None:
        with self._database().connection() as conn:
            conn.execute(
                "DELETE FROM idempotency_records WHERE id = %s", (data_record.idempotency_key,)
            )
