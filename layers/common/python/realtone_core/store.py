"""Postgres adapters: users, refresh tokens and analyses (the source of truth).

Every status change is a conditional UPDATE, so a redelivered event, a second worker or a
late write can never score twice or move an analysis backwards.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from realtone_core.db import Database
from realtone_core.errors import AccountGoneError, EmailTakenError, InFlightLimitReached
from realtone_core.models import (
    AnalysisRecord,
    AudioDeletedReason,
    Chunk,
    ScoringResult,
    Status,
    Summary,
    User,
)

_ANALYSIS_COLUMNS = (
    "id, owner_id, status, filename, content_type, size_bytes, object_key, upload_expires_at,"
    " created_at, updated_at, duration_seconds, processing_ms, model, summary, error_code,"
    " error_message, claim_token, object_etag, content_sha256, audio_replaced_at,"
    " zero_retention, audio_deleted_at, audio_deleted_reason, audio_retention_days"
)
_OPEN_STATUSES = [Status.AWAITING_UPLOAD.value, Status.QUEUED.value]
_UNFINISHED_STATUSES = [*_OPEN_STATUSES, Status.PROCESSING.value]


def _record(row: dict[str, Any] | None) -> AnalysisRecord | None:
    return AnalysisRecord.model_validate(row) if row else None


class UserStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, email: str, password_hash: str) -> User:
        try:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                cur.execute(
                    "INSERT INTO users (id, email, password_hash) VALUES (%s, %s, %s)"
                    " RETURNING id, email, password_hash, created_at",
                    (uuid4(), email, password_hash),
                )
                return User.model_validate(cur.fetchone())
        except psycopg.errors.UniqueViolation as exc:
            raise EmailTakenError() from exc

    def by_email(self, email: str) -> User | None:
        return self._one("SELECT * FROM users WHERE email = %s", (email,))

    def by_id(self, user_id: UUID) -> User | None:
        return self._one("SELECT * FROM users WHERE id = %s", (user_id,))

    def _one(self, sql: str, params: tuple[Any, ...]) -> User | None:
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(sql, params).fetchone()
            return User.model_validate(row) if row else None

    # --- account settings (realtone_core.account) -----------------------------------------

    def retention_days(self, user_id: UUID) -> int | None:
        """Days the account keeps its audio (0: zero-retention); None: no such account."""
        with self.db.connection() as conn:
            row = conn.execute("SELECT retention_days FROM users WHERE id = %s", (user_id,))
            found = row.fetchone()
        return int(found[0]) if found else None

    def set_retention_days(self, user_id: UUID, days: int) -> User | None:
        """Change the account's retention. Zero-retention also applies to the audio its
        analyses still keep (the scorer and the sweep delete it); None: no such account."""
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "UPDATE users SET retention_days = %s WHERE id = %s RETURNING *", (days, user_id)
            ).fetchone()
            if row is not None and days == 0:
                cur.execute(
                    "UPDATE analyses SET zero_retention = true WHERE owner_id = %s"
                    " AND NOT zero_retention AND audio_deleted_at IS NULL",
                    (user_id,),
                )
        return User.model_validate(row) if row else None

    def delete_account(self, user_id: UUID) -> list[UUID] | None:
        """Delete the account and, in the same transaction, everything of it in Postgres: its
        analyses and their windows, refresh tokens (by foreign keys that cascade) and the
        scorer's idempotency records. Returns the ids of the analyses that went; None when
        there was no such account."""
        with self.db.connection() as conn:
            analyses = conn.execute(
                "DELETE FROM analyses WHERE owner_id = %s RETURNING id", (user_id,)
            ).fetchall()
            conn.execute("DELETE FROM idempotency_records WHERE owner_id = %s", (user_id,))
            gone = conn.execute("DELETE FROM users WHERE id = %s RETURNING id", (user_id,))
            if gone.fetchone() is None:
                conn.rollback()
                return None
        return [UUID(str(r[0])) for r in analyses]


class RefreshTokenStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, jti: UUID, user_id: UUID, family_id: UUID, expires_at: datetime) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO refresh_tokens (jti, user_id, family_id, expires_at)"
                " VALUES (%s, %s, %s, %s)",
                (jti, user_id, family_id, expires_at),
            )

    def use(self, jti: UUID, user_id: UUID) -> UUID | None:
        """Spend a refresh token once; returns its family, or None when it may not be used.

        A token presented a second time means it leaked: its whole family is revoked, so the
        thief's copy and the owner's newer tokens stop working together.
        """
        with self.db.connection() as conn:
            row = conn.execute(
                "UPDATE refresh_tokens SET used_at = now()"
                " WHERE jti = %s AND user_id = %s AND used_at IS NULL AND revoked_at IS NULL"
                " AND expires_at > now() RETURNING family_id",
                (jti, user_id),
            ).fetchone()
            if row:
                return UUID(str(row[0]))
            conn.execute(
                "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL"
                " AND family_id = (SELECT family_id FROM refresh_tokens"
                "  WHERE jti = %s AND used_at IS NOT NULL)",
                (jti,),
            )
            return None

    def revoke_family(self, jti: UUID, user_id: UUID) -> bool:
        """Log out: every token of the session ``jti`` belongs to stops working. False when
        no such token of this user exists."""
        with self.db.connection() as conn:
            revoked = conn.execute(
                "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, now())"
                " WHERE family_id = (SELECT family_id FROM refresh_tokens"
                "  WHERE jti = %s AND user_id = %s) RETURNING jti",
                (jti, user_id),
            ).fetchall()
            return bool(revoked)


def encode_cursor(created_at: datetime, analysis_id: UUID) -> str:
    raw = f"{created_at.isoformat()}|{analysis_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Raises ValueError on anything that is not a cursor this API handed out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, ident = raw.split("|", 1)
        return datetime.fromisoformat(stamp), UUID(ident)
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("malformed cursor") from exc


class AnalysisStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- API side -------------------------------------------------------------------------

    def create(
        self,
        *,
        analysis_id: UUID,
        owner_id: UUID,
        filename: str,
        content_type: str,
        size_bytes: int,
        object_key: str,
        upload_expires_at: datetime,
        idempotency_key: str | None,
        max_in_flight: int | None = None,
        zero_retention: bool = False,
    ) -> tuple[AnalysisRecord, bool]:
        """Insert an analysis; with an idempotency key already used, return that one instead.

        The boolean tells whether the row is new. With ``max_in_flight``, an owner who
        already has that many analyses awaiting upload, queued or processing gets
        ``InFlightLimitReached`` (counted under a per-owner lock: concurrent creates queue up
        rather than all see room). An owner whose account is gone gets ``AccountGoneError``.
        """
        try:
            with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                if max_in_flight is not None:
                    cur.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 16))", (str(owner_id),)
                    )
                    row = cur.execute(
                        "SELECT count(*) AS n FROM analyses"
                        " WHERE owner_id = %s AND status = ANY(%s)",
                        (owner_id, _UNFINISHED_STATUSES),
                    ).fetchone()
                    if row is not None and row["n"] >= max_in_flight:
                        raise InFlightLimitReached(max_in_flight)
                cur.execute(
                    "INSERT INTO analyses (id, owner_id, status, filename, content_type,"
                    " size_bytes, object_key, upload_expires_at, idempotency_key, zero_retention)"
                    " VALUES (%s, %s, 'awaiting_upload', %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL"
                    f" DO NOTHING RETURNING {_ANALYSIS_COLUMNS}",
                    (
                        analysis_id,
                        owner_id,
                        filename,
                        content_type,
                        size_bytes,
                        object_key,
                        upload_expires_at,
                        idempotency_key,
                        zero_retention,
                    ),
                )
                row = cur.fetchone()
                if row:
                    return AnalysisRecord.model_validate(row), True
                cur.execute(
                    f"SELECT {_ANALYSIS_COLUMNS} FROM analyses"
                    " WHERE owner_id = %s AND idempotency_key = %s",
                    (owner_id, idempotency_key),
                )
                existing = _record(cur.fetchone())
                assert existing is not None  # the conflict proves the row exists
                return existing, False
        except psycopg.errors.ForeignKeyViolation as exc:
            # A token trusted a little longer than its deleted account (realtone_api.deps).
            raise AccountGoneError() from exc

    def by_idempotency_key(self, owner_id: UUID, idempotency_key: str) -> AnalysisRecord | None:
        found = self._select(
            "owner_id = %s AND idempotency_key = %s", (owner_id, idempotency_key, 1)
        )
        return found[0] if found else None

    def get(self, analysis_id: UUID, owner_id: UUID | None = None) -> AnalysisRecord | None:
        sql = f"SELECT {_ANALYSIS_COLUMNS} FROM analyses WHERE id = %s"
        params: tuple[Any, ...] = (analysis_id,)
        if owner_id is not None:
            sql += " AND owner_id = %s"
            params = (analysis_id, owner_id)
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return _record(cur.execute(sql, params).fetchone())

    def chunks(self, analysis_id: UUID) -> list[Chunk]:
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                "SELECT chunk_id, start_time_seconds, end_time_seconds, score, voiced, reason,"
                " speaker, overlap FROM analysis_chunks WHERE analysis_id = %s ORDER BY chunk_id",
                (analysis_id,),
            ).fetchall()
        return [Chunk.model_validate(r) for r in rows]

    def list_for_owner(
        self, owner_id: UUID, limit: int, cursor: tuple[datetime, UUID] | None
    ) -> list[AnalysisRecord]:
        sql = f"SELECT {_ANALYSIS_COLUMNS} FROM analyses WHERE owner_id = %s"
        params: list[Any] = [owner_id]
        if cursor is not None:
            sql += " AND (created_at, id) < (%s, %s)"
            params += [cursor[0], cursor[1]]
        sql += " ORDER BY created_at DESC, id DESC LIMIT %s"
        params.append(limit)
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return [AnalysisRecord.model_validate(r) for r in cur.execute(sql, params)]

    def delete(self, analysis_id: UUID, owner_id: UUID) -> AnalysisRecord | None:
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "DELETE FROM analyses WHERE id = %s AND owner_id = %s"
                f" RETURNING {_ANALYSIS_COLUMNS}",
                (analysis_id, owner_id),
            )
            return _record(cur.fetchone())

    def count_in_flight(self, owner_id: UUID) -> int:
        """The owner's analyses awaiting their upload, queued or processing."""
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT count(*) FROM analyses WHERE owner_id = %s AND status = ANY(%s)",
                (owner_id, _UNFINISHED_STATUSES),
            ).fetchone()
        return int(row[0]) if row else 0

    def mark_queued(self, analysis_id: UUID) -> AnalysisRecord | None:
        """The object is in S3 (learnt from a HEAD): ``awaiting_upload`` → ``queued``."""
        return self._update("status = 'queued'", "status = 'awaiting_upload'", (analysis_id,))

    def expire(self, analysis_id: UUID) -> AnalysisRecord | None:
        """No upload came before the presigned policy ran out: ``awaiting_upload`` → ``expired``."""
        return self._update(
            "status = 'expired', error_code = NULL",
            "status = 'awaiting_upload' AND upload_expires_at < now()",
            (analysis_id,),
        )

    def mark_audio_replaced(self, analysis_id: UUID) -> AnalysisRecord | None:
        """Another object took the scored one's place: it is never served as this audio.
        (The status document does not change, so neither does ``updated_at``.)"""
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "UPDATE analyses SET audio_replaced_at = COALESCE(audio_replaced_at, now())"
                f" WHERE id = %s RETURNING {_ANALYSIS_COLUMNS}",
                (analysis_id,),
            )
            return _record(cur.fetchone())

    def mark_audio_deleted(
        self, analysis_id: UUID, reason: str, retention_days: int | None = None
    ) -> AnalysisRecord | None:
        """The audio object was deleted under the account's retention; the result stays. The
        first deletion's time and reason are kept. ``updated_at`` does not change: the
        result did not. The voices of its speakers (realtone_core.voices) go with the audio,
        in the same transaction."""
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "UPDATE analyses SET audio_deleted_at = COALESCE(audio_deleted_at, now()),"
                " audio_deleted_reason = COALESCE(audio_deleted_reason, %s),"
                " audio_retention_days = CASE WHEN audio_deleted_at IS NULL THEN %s"
                " ELSE audio_retention_days END"
                f" WHERE id = %s RETURNING {_ANALYSIS_COLUMNS}",
                (reason, retention_days, analysis_id),
            )
            record = _record(cur.fetchone())
            cur.execute("DELETE FROM analysis_speakers WHERE analysis_id = %s", (analysis_id,))
            return record

    # --- sweep ----------------------------------------------------------------------------

    def audio_past_retention(
        self, limit: int = 500
    ) -> list[tuple[AnalysisRecord, AudioDeletedReason, int | None]]:
        """Scored or failed analyses whose audio is still kept but must not be: those under
        zero-retention, and those older than their account's retention (0 days: all of
        them). Each with the reason and the retention (days) to record."""
        zero = (
            f"SELECT {_ANALYSIS_COLUMNS}, 'zero_retention' AS reason, NULL::integer AS days"
            " FROM analyses WHERE zero_retention AND audio_deleted_at IS NULL"
            " AND status IN ('completed', 'failed') LIMIT %s"
        )
        # Per account, through the partial index on (owner_id, created_at): only the audio
        # past its account's retention is read, however much is kept within it.
        aged = (
            "SELECT a.*, CASE WHEN u.retention_days = 0 THEN 'zero_retention'"
            " ELSE 'retention_period' END AS reason, NULLIF(u.retention_days, 0) AS days"
            " FROM users u CROSS JOIN LATERAL ("
            f"  SELECT {_ANALYSIS_COLUMNS} FROM analyses"
            "   WHERE owner_id = u.id AND audio_deleted_at IS NULL"
            "   AND status IN ('completed', 'failed') AND NOT zero_retention"
            "   AND created_at < now() - make_interval(days => u.retention_days)"
            "   LIMIT %s) a LIMIT %s"
        )
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(zero, (limit,)).fetchall()
            if len(rows) < limit:
                left = limit - len(rows)
                rows += cur.execute(aged, (left, left)).fetchall()
        found: list[tuple[AnalysisRecord, AudioDeletedReason, int | None]] = []
        for row in rows:
            zero, days = row.pop("reason") == "zero_retention", row.pop("days")
            reason: AudioDeletedReason = "zero_retention" if zero else "retention_period"
            found.append((AnalysisRecord.model_validate(row), reason, days))
        return found

    def expired_unchecked(self, grace_seconds: int, limit: int = 100) -> list[AnalysisRecord]:
        """``expired`` analyses whose upload window closed ``grace_seconds`` ago (an upload
        started in time has finished by then) and whose key was not looked at since."""
        return self._select(
            "status = 'expired' AND late_object_checked_at IS NULL"
            " AND upload_expires_at < now() - make_interval(secs => %s)",
            (grace_seconds, limit),
        )

    def mark_late_checked(self, analysis_id: UUID) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE analyses SET late_object_checked_at = now() WHERE id = %s", (analysis_id,)
            )

    def overdue_uploads(self, grace_seconds: int, limit: int = 100) -> list[AnalysisRecord]:
        """``awaiting_upload`` analyses whose upload policy ran out ``grace_seconds`` ago."""
        return self._select(
            "status = 'awaiting_upload' AND upload_expires_at < now() - make_interval(secs => %s)",
            (grace_seconds, limit),
        )

    def requeue_stuck(
        self, lease_seconds: int, max_attempts: int, limit: int = 100
    ) -> list[AnalysisRecord]:
        """Release analyses whose scoring stalled and mark them requeued; the caller sends
        their events again. Those out of attempts are left for ``out_of_attempts``."""
        stalled = (
            "attempts < %s AND ("
            "(status = 'processing' AND claimed_at < now() - make_interval(secs => %s))"
            " OR (status IN ('queued', 'processing') AND claimed_at IS NULL"
            "  AND COALESCE(requeued_at, updated_at) < now() - make_interval(secs => %s)))"
        )
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "UPDATE analyses SET claimed_at = NULL, requeued_at = now() WHERE id IN ("
                f" SELECT id FROM analyses WHERE {stalled} LIMIT %s FOR UPDATE SKIP LOCKED)"
                f" RETURNING {_ANALYSIS_COLUMNS}",
                (max_attempts, lease_seconds, lease_seconds, limit),
            )
            return [AnalysisRecord.model_validate(r) for r in cur.fetchall()]

    def out_of_attempts(
        self, lease_seconds: int, max_attempts: int, limit: int = 100
    ) -> list[AnalysisRecord]:
        """Stalled ``processing`` analyses that used all their attempts."""
        return self._select(
            "status = 'processing' AND attempts >= %s"
            " AND (claimed_at IS NULL OR claimed_at < now() - make_interval(secs => %s))",
            (max_attempts, lease_seconds, limit),
        )

    def _select(self, condition: str, values: tuple[Any, ...]) -> list[AnalysisRecord]:
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {_ANALYSIS_COLUMNS} FROM analyses WHERE {condition} LIMIT %s", values
            )
            return [AnalysisRecord.model_validate(r) for r in cur.fetchall()]

    # --- scorer side ----------------------------------------------------------------------

    def claim(
        self, analysis_id: UUID, object_key: str, lease_seconds: int
    ) -> AnalysisRecord | None:
        """Take the analysis for scoring; None when it is gone, finished or held by another.

        A ``processing`` analysis whose lease ran out (its scorer died, or released it after a
        transient failure) can be taken again; status still only moves forward.
        """
        return self._update(
            "status = 'processing', claim_token = %s, claimed_at = now(), attempts = attempts + 1",
            "object_key = %s AND (status = ANY(%s) OR (status = 'processing'"
            " AND (claimed_at IS NULL OR claimed_at < now() - make_interval(secs => %s))))",
            (uuid4(), analysis_id, object_key, _OPEN_STATUSES, lease_seconds),
        )

    def record_object(
        self, analysis_id: UUID, claim_token: UUID, etag: str, content_sha256: str
    ) -> None:
        """The object the holder of the claim downloaded: what was scored is these bytes."""
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE analyses SET object_etag = %s, content_sha256 = %s"
                " WHERE id = %s AND status = 'processing' AND claim_token = %s",
                (etag, content_sha256, analysis_id, claim_token),
            )

    def release(self, analysis_id: UUID, claim_token: UUID) -> None:
        """Give a claim back after a transient failure so a redelivery can retry at once."""
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE analyses SET claimed_at = NULL"
                " WHERE id = %s AND status = 'processing' AND claim_token = %s",
                (analysis_id, claim_token),
            )

    def complete(
        self, analysis_id: UUID, claim_token: UUID, result: ScoringResult
    ) -> AnalysisRecord | None:
        """Store the result, if this scorer still holds the claim (else nothing is written)."""
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "UPDATE analyses SET status = 'completed', duration_seconds = %s,"
                " processing_ms = %s, model = %s, summary = %s, timings = %s, content_sha256 = %s,"
                " scoring_key = %s, error_code = NULL, error_message = NULL, updated_at = now()"
                " WHERE id = %s AND status = 'processing' AND claim_token = %s"
                f" RETURNING {_ANALYSIS_COLUMNS}",
                (
                    result.duration_seconds,
                    result.processing_ms,
                    Jsonb(result.model.model_dump()),
                    Jsonb(result.summary.model_dump(mode="json")),
                    Jsonb(result.timings),
                    result.content_sha256,
                    result.scoring_key,
                    analysis_id,
                    claim_token,
                ),
            )
            record = _record(cur.fetchone())
            if record is None:
                return None
            cur.executemany(
                "INSERT INTO analysis_chunks (analysis_id, chunk_id, start_time_seconds,"
                " end_time_seconds, score, voiced, reason, speaker, overlap)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        analysis_id,
                        c.chunk_id,
                        c.start_time_seconds,
                        c.end_time_seconds,
                        c.score,
                        c.voiced,
                        c.reason,
                        c.speaker,
                        c.overlap,
                    )
                    for c in result.chunks
                ],
            )
            return record

    def find_reusable(
        self, owner_id: UUID, content_sha256: str, scoring_key: str
    ) -> tuple[UUID, float, Summary, list[Chunk]] | None:
        """A completed result of this owner for the same bytes scored the same way, if any.
        Never another owner's: how fast a result comes back must not tell anyone that
        somebody else analysed the same file."""
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "SELECT id, duration_seconds, summary FROM analyses WHERE status = 'completed'"
                " AND owner_id = %s AND content_sha256 = %s AND scoring_key = %s"
                " ORDER BY updated_at DESC LIMIT 1",
                (owner_id, content_sha256, scoring_key),
            ).fetchone()
        if row is None:
            return None
        return (
            row["id"],
            row["duration_seconds"],
            Summary.model_validate(row["summary"]),
            self.chunks(row["id"]),
        )

    def fail(
        self,
        analysis_id: UUID,
        code: str,
        message: str,
        *,
        claim_token: UUID | None = None,
        processing_ms: int | None = None,
    ) -> AnalysisRecord | None:
        """Mark an unfinished analysis ``failed`` (only if ``claim_token`` holds it, when given)."""
        assignments = "status = 'failed', error_code = %s, error_message = %s, processing_ms = %s"
        values: tuple[Any, ...] = (code, message, processing_ms, analysis_id)
        if claim_token is None:
            return self._update(assignments, "status = ANY(%s)", (*values, _UNFINISHED_STATUSES))
        return self._update(
            assignments, "status = 'processing' AND claim_token = %s", (*values, claim_token)
        )

    def _update(
        self, assignments: str, condition: str, values: tuple[Any, ...]
    ) -> AnalysisRecord | None:
        """``values`` fill the placeholders in order: assignments, the id, then condition."""
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"UPDATE analyses SET {assignments}, updated_at = now()"
                f" WHERE id = %s AND {condition} RETURNING {_ANALYSIS_COLUMNS}",
                values,
            )
            return _record(cur.fetchone())
