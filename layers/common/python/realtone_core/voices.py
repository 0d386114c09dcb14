"""Who is speaking: the voice (a speaker embedding) of each speaker the scorer found in an
analysis, the voices an account enrolled, and searching an account's analyses by voice.

Embeddings are 256-d and L2-normalised (a GE2E speaker encoder), stored with pgvector;
similarity is cosine similarity (1 - pgvector's ``<=>`` cosine distance). Only the owner's
data is ever read or searched, and embeddings never leave this module except to the scorer
(``enrolled``): the API shows names, ids and similarities.

Privacy: a speaker's embedding lives as long as its analysis's audio. It goes with the
analysis and the account (foreign keys that cascade), is deleted when the audio is deleted
under the account's retention (``AnalysisStore.mark_audio_deleted``), and is never stored for
a zero-retention analysis (``save_speakers``). Enrolled voices are the user's explicit act:
kept until the user deletes them (or the account).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from psycopg import Cursor
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from realtone_core.db import Database
from realtone_core.errors import ErrorCode, RealToneError
from realtone_core.models import UtcDatetime

if TYPE_CHECKING:
    import numpy as np

EMBEDDING_DIM = 256
# Cosine similarity at or above which two voices are taken as the same speaker: at most 1 %
# false matches between different offline speakers (python -m detector.speakers;
# docs/speakers.md has the figures).
MATCH_THRESHOLD = 0.86
MAX_VOICE_NAME = 100
# Speakers one voice may be enrolled from, and voices per account (the scorer compares every
# speaker it finds with all of them).
MAX_SOURCES = 20
MAX_VOICES = 500
# An account with at most this many speakers is searched exactly (a scan of its rows through
# the owner index, a few ms); above, through the HNSW index (bench/voices.py measures both).
EXACT_SEARCH_MAX = 10_000
# HNSW search: rows fetched per round trip, and the candidate list of the index scan.
SEARCH_BATCH = 64
HNSW_EF_SEARCH = 100
# The most speakers one HNSW search looks at (pgvector's hnsw.max_scan_tuples default).
HNSW_MAX_SCAN = 20_000

# One speaker as the scorer reports it: (speaker number, seconds of speech, embedding).
SpeakerVoice = tuple[int, float, Sequence[float]]


class VoiceSource(BaseModel):
    analysis_id: UUID
    speaker: int


class Voice(BaseModel):
    """An enrolled voice as clients see it (never its embedding)."""

    id: UUID
    name: str
    sources: list[VoiceSource]
    created_at: UtcDatetime


class SearchHit(BaseModel):
    """An analysis in which a speaker sounds like the query, with the closest speaker."""

    analysis_id: UUID
    filename: str
    created_at: UtcDatetime
    speaker: int
    similarity: float
    # That speaker's verdict when the result lists speakers, else the analysis's.
    verdict: str | None = None


@dataclass(frozen=True)
class SearchPage:
    items: list[SearchHit]
    # (created_at, analysis_id) of the last item when more follow.
    next_after: tuple[datetime, UUID] | None


def not_found_voice() -> RealToneError:
    return RealToneError(ErrorCode.NOT_FOUND, "No such voice", status_code=404)


def vector_literal(embedding: Sequence[float]) -> str:
    """pgvector's text form of an embedding, checked: EMBEDDING_DIM finite numbers."""
    values = [float(v) for v in embedding]
    if len(values) != EMBEDDING_DIM:
        raise ValueError(f"a voice embedding has {EMBEDDING_DIM} values, not {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError("a voice embedding must be finite")
    return "[" + ",".join(repr(v) for v in values) + "]"


def parse_vector(text: str) -> np.ndarray:
    """An embedding from pgvector's text form (for the scorer; the API never needs one)."""
    import numpy as np

    return np.array(text[1:-1].split(","), dtype=np.float32)


class VoiceStore:
    """Speakers' voices and enrolled voices in Postgres (pgvector)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- scorer side ----------------------------------------------------------------------

    def save_speakers(
        self, analysis_id: UUID, owner_id: UUID, speakers: Iterable[SpeakerVoice]
    ) -> int:
        """Store the voices of an analysis's speakers, replacing what an earlier attempt
        stored (a redelivered message writes the same rows). Nothing is stored for a
        zero-retention analysis, one whose audio was already deleted, or one that is not
        ``owner_id``'s. Returns how many rows were written."""
        rows = [
            (int(speaker), float(seconds), vector_literal(embedding))
            for speaker, seconds, embedding in speakers
        ]
        if any(speaker < 0 or not seconds >= 0 for speaker, seconds, _ in rows):
            raise ValueError("speakers are numbered from 0 and speak for seconds >= 0")
        with self.db.connection() as conn, conn.cursor() as cur:
            keeps = cur.execute(
                "SELECT created_at FROM analyses WHERE id = %s AND owner_id = %s"
                " AND NOT zero_retention AND audio_deleted_at IS NULL FOR SHARE",
                (analysis_id, owner_id),
            ).fetchone()
            if keeps is None:
                return 0
            cur.execute(
                "DELETE FROM analysis_speakers WHERE analysis_id = %s AND NOT speaker = ANY(%s)",
                (analysis_id, [r[0] for r in rows]),
            )
            cur.executemany(
                "INSERT INTO analysis_speakers"
                " (analysis_id, speaker, owner_id, seconds, embedding, created_at)"
                " VALUES (%s, %s, %s, %s, l2_normalize(%s::vector), %s)"
                " ON CONFLICT (analysis_id, speaker) DO UPDATE"
                " SET seconds = excluded.seconds, embedding = excluded.embedding"
                " WHERE (analysis_speakers.seconds, analysis_speakers.embedding)"
                "  IS DISTINCT FROM (excluded.seconds, excluded.embedding)",
                [(analysis_id, s, owner_id, sec, emb, keeps[0]) for s, sec, emb in rows],
            )
        return len(rows)

    def speaker_embeddings(self, analysis_id: UUID, owner_id: UUID) -> dict[int, np.ndarray]:
        """The stored voices of the owner's analysis, speaker → embedding: a reused result
        (the same bytes scored the same way) is matched and stored with its source's."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT speaker, embedding::text FROM analysis_speakers"
                " WHERE analysis_id = %s AND owner_id = %s ORDER BY speaker",
                (analysis_id, owner_id),
            ).fetchall()
        return {int(s): parse_vector(text) for s, text in rows}

    def enrolled(self, owner_id: UUID) -> list[tuple[UUID, str, np.ndarray]]:
        """The owner's enrolled voices (id, name, embedding), for matching speakers."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT id, name, embedding::text FROM voices WHERE owner_id = %s"
                " ORDER BY created_at, id",
                (owner_id,),
            ).fetchall()
        return [(UUID(str(ident)), name, parse_vector(text)) for ident, name, text in rows]

    # --- enrolled voices ------------------------------------------------------------------

    def enroll(self, owner_id: UUID, name: str, sources: Sequence[VoiceSource]) -> Voice:
        """A new voice: the L2-normalised mean of the sources' voices (speakers of the
        owner's completed analyses). Unknown analyses are 404s, unfinished ones 409s,
        speakers they do not have 422s; too many voices a 409."""
        name = name.strip()
        if not 1 <= len(name) <= MAX_VOICE_NAME:
            raise RealToneError(
                ErrorCode.VALIDATION_ERROR, f"name: 1 to {MAX_VOICE_NAME} characters", 422
            )
        unique = list(dict.fromkeys((s.analysis_id, s.speaker) for s in sources))
        if not 1 <= len(unique) <= MAX_SOURCES:
            raise RealToneError(
                ErrorCode.VALIDATION_ERROR, f"sources: 1 to {MAX_SOURCES} speakers", 422
            )
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            # One enrolment at a time per owner, so the voice limit holds.
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 15))", (str(owner_id),))
            count = cur.execute(
                "SELECT count(*) AS n FROM voices WHERE owner_id = %s", (owner_id,)
            ).fetchone()
            if count is not None and count["n"] >= MAX_VOICES:
                raise RealToneError(
                    ErrorCode.VOICE_LIMIT_REACHED,
                    f"An account keeps at most {MAX_VOICES} voices; delete one first",
                    409,
                )
            for analysis_id, speaker in unique:
                _check_speaker(cur, owner_id, analysis_id, speaker)
            kept = [{"analysis_id": str(a), "speaker": s} for a, s in unique]
            row = cur.execute(
                "INSERT INTO voices (id, owner_id, name, embedding, sources)"
                " SELECT %s, %s, %s, l2_normalize(avg(embedding)), %s FROM analysis_speakers"
                " WHERE owner_id = %s AND (analysis_id, speaker) IN"
                "  (SELECT * FROM unnest(%s::uuid[], %s::int[]))"
                " RETURNING id, name, sources, created_at",
                (
                    uuid4(),
                    owner_id,
                    name,
                    Jsonb(kept),
                    owner_id,
                    [a for a, _ in unique],
                    [s for _, s in unique],
                ),
            ).fetchone()
        return Voice.model_validate(row)

    def list_voices(self, owner_id: UUID) -> list[Voice]:
        """The owner's voices, newest first."""
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT id, name, sources, created_at FROM voices WHERE owner_id = %s"
                " ORDER BY created_at DESC, id DESC",
                (owner_id,),
            )
            return [Voice.model_validate(r) for r in cur.fetchall()]

    def get_voice(self, owner_id: UUID, voice_id: UUID) -> Voice | None:
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "SELECT id, name, sources, created_at FROM voices WHERE id = %s AND owner_id = %s",
                (voice_id, owner_id),
            ).fetchone()
        return Voice.model_validate(row) if row else None

    def delete_voice(self, owner_id: UUID, voice_id: UUID) -> bool:
        with self.db.connection() as conn:
            gone = conn.execute(
                "DELETE FROM voices WHERE id = %s AND owner_id = %s RETURNING id",
                (voice_id, owner_id),
            ).fetchone()
        return gone is not None

    # --- search ---------------------------------------------------------------------------

    def speaker_query(self, owner_id: UUID, analysis_id: UUID, speaker: int) -> str:
        """The voice of a speaker of the owner's analysis, to search with (pgvector text)."""
        with self.db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return _check_speaker(cur, owner_id, analysis_id, speaker)

    def voice_query(self, owner_id: UUID, voice_id: UUID) -> str:
        """The embedding of the owner's enrolled voice, to search with (pgvector text)."""
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT embedding::text FROM voices WHERE id = %s AND owner_id = %s",
                (voice_id, owner_id),
            ).fetchone()
        if row is None:
            raise not_found_voice()
        return str(row[0])

    def search(
        self,
        owner_id: UUID,
        query: str | Sequence[float],
        *,
        min_similarity: float = MATCH_THRESHOLD,
        limit: int = 20,
        after: tuple[datetime, UUID] | None = None,
        exclude_analysis_id: UUID | None = None,
    ) -> SearchPage:
        """The owner's analyses in which a speaker's voice has a cosine similarity of at
        least ``min_similarity`` to ``query`` (one hit per analysis: its closest speaker),
        newest first, ``limit`` at a time after ``after`` (the last hit's created_at and
        analysis id)."""
        literal = query if isinstance(query, str) else vector_literal(query)
        filters, params = ["owner_id = %(owner)s"], {"owner": owner_id, "q": literal}
        if exclude_analysis_id is not None:
            filters.append("analysis_id <> %(exclude)s")
            params["exclude"] = exclude_analysis_id
        if after is not None:
            filters.append("(created_at, analysis_id) < (%(at)s, %(id)s)")
            params.update(at=after[0], id=after[1])
        max_distance = 1.0 - min_similarity
        with self.db.connection() as conn, conn.cursor() as cur:
            size = cur.execute(
                "SELECT count(*) FROM (SELECT 1 FROM analysis_speakers WHERE owner_id = %s"
                " LIMIT %s) s",
                (owner_id, EXACT_SEARCH_MAX + 1),
            ).fetchone()
            if size is not None and size[0] <= EXACT_SEARCH_MAX:
                matches = _exact_matches(cur, " AND ".join(filters), params, max_distance)
            else:
                matches = _hnsw_matches(conn, " AND ".join(filters), params, max_distance)
            best: dict[UUID, tuple[datetime, int, float]] = {}
            for analysis_id, speaker, created_at, distance in matches:
                if analysis_id not in best or distance < best[analysis_id][2]:
                    best[analysis_id] = (created_at, speaker, distance)
            ordered = sorted(best.items(), key=lambda kv: (kv[1][0], kv[0]), reverse=True)
            page = ordered[: limit + 1]
            details = _details(cur, [ident for ident, _ in page[:limit]])
        items = [
            SearchHit(
                analysis_id=ident,
                filename=details[ident][0],
                created_at=created_at,
                speaker=speaker,
                similarity=round(max(-1.0, min(1.0, 1.0 - distance)), 4),
                verdict=_verdict(details[ident][1], speaker),
            )
            for ident, (created_at, speaker, distance) in page[:limit]
            if ident in details
        ]
        more = len(page) > limit and bool(items)
        return SearchPage(items, (items[-1].created_at, items[-1].analysis_id) if more else None)


Match = tuple[UUID, int, datetime, float]


def _exact_matches(
    cur: Cursor[Any], where: str, params: dict[str, Any], max_distance: float
) -> list[Match]:
    """Every speaker of a small account within ``max_distance``: a scan of its rows."""
    cur.execute(
        "SELECT analysis_id, speaker, created_at, d FROM (SELECT analysis_id, speaker,"
        f" created_at, embedding <=> %(q)s::vector AS d FROM analysis_speakers WHERE {where}) s"
        " WHERE d <= %(max)s",
        {**params, "max": max_distance},
    )
    return [(r[0], r[1], r[2], r[3]) for r in cur.fetchall()]


def _hnsw_matches(
    conn: Any, where: str, params: dict[str, Any], max_distance: float
) -> list[Match]:
    """The speakers of a large account within ``max_distance``, through the HNSW index.

    The index is over every account's speakers and the owner is a filter. pgvector 0.8's
    iterative scan (``hnsw.iterative_scan``) keeps the scan going until enough rows pass the
    filter (without it, an index scan returns at most ``ef_search`` rows before filtering, so
    an account's matches could be lost among other accounts' voices). ``relaxed_order``
    returns rows in nearly increasing distance (strict order would drop some to keep the
    order exact); they are read a batch at a time from a server-side cursor and the scan
    stops after the first batch with no row within ``max_distance``: every match has been
    seen by then, except what a relaxed order put further back, which a whole batch of
    non-matches makes vanishingly unlikely. It never looks at more than ``HNSW_MAX_SCAN``
    speakers."""
    found: list[Match] = []
    conn.execute(f"SET LOCAL hnsw.ef_search = {HNSW_EF_SEARCH}")
    conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
    conn.execute(f"SET LOCAL hnsw.max_scan_tuples = {HNSW_MAX_SCAN}")
    # Through the index: seeing a LIMIT of HNSW_MAX_SCAN over a large account, the planner
    # would rather read and sort all of its rows (the exact scan, several times slower).
    conn.execute("SET LOCAL enable_seqscan = off")
    conn.execute("SET LOCAL enable_sort = off")
    with conn.cursor(name="voice_search") as named:
        named.itersize = SEARCH_BATCH
        named.execute(
            "SELECT analysis_id, speaker, created_at, embedding <=> %(q)s::vector AS d"
            f" FROM analysis_speakers WHERE {where}"
            " ORDER BY embedding <=> %(q)s::vector LIMIT %(scan)s",
            {**params, "scan": HNSW_MAX_SCAN},
        )
        while batch := named.fetchmany(SEARCH_BATCH):
            near = [(r[0], r[1], r[2], r[3]) for r in batch if r[3] <= max_distance]
            found += near
            if not near:
                break
    return found


def _details(cur: Cursor[Any], ids: list[UUID]) -> dict[UUID, tuple[str, Any]]:
    if not ids:
        return {}
    cur.execute("SELECT id, filename, summary FROM analyses WHERE id = ANY(%s)", (ids,))
    return {r[0]: (r[1], r[2]) for r in cur.fetchall()}


def _verdict(summary: Any, speaker: int) -> str | None:
    if not isinstance(summary, dict):
        return None
    for entry in summary.get("speakers") or []:
        if isinstance(entry, dict) and entry.get("speaker") == speaker and entry.get("verdict"):
            return str(entry["verdict"])
    verdict = summary.get("verdict")
    return str(verdict) if verdict else None


def _check_speaker(
    cur: Cursor[dict[str, Any]], owner_id: UUID, analysis_id: UUID, speaker: int
) -> str:
    """The speaker's voice (pgvector text); the error a client can act on when there is
    none: another owner's or unknown analysis 404, unfinished 409, no such speaker 422."""
    cur.execute(
        "SELECT a.status, a.zero_retention, a.audio_deleted_at IS NOT NULL AS audio_deleted,"
        " s.embedding::text AS embedding,"
        " (SELECT count(*) FROM analysis_speakers WHERE analysis_id = a.id) AS speakers"
        " FROM analyses a LEFT JOIN analysis_speakers s"
        "  ON s.analysis_id = a.id AND s.speaker = %s"
        " WHERE a.id = %s AND a.owner_id = %s",
        (speaker, analysis_id, owner_id),
    )
    row = cur.fetchone()
    if row is None:
        raise RealToneError(ErrorCode.NOT_FOUND, f"No such analysis: {analysis_id}", 404)
    status, zero, deleted, embedding, count = (
        row["status"],
        row["zero_retention"],
        row["audio_deleted"],
        row["embedding"],
        row["speakers"],
    )
    if status != "completed":
        raise RealToneError(
            ErrorCode.ANALYSIS_NOT_COMPLETED,
            f"Analysis {analysis_id} is {status}: its speakers are known once it is completed",
            409,
        )
    if embedding is None:
        if zero:
            why = "it was made under zero-retention, which keeps no voices"
        elif deleted:
            why = "its voices were deleted with its audio under the account's retention"
        elif count == 0:
            why = "no speaker was found in it"
        else:
            why = f"its speakers are numbered 0 to {count - 1}"
        raise RealToneError(
            ErrorCode.UNKNOWN_SPEAKER,
            f"Analysis {analysis_id} has no speaker {speaker}: {why}",
            422,
        )
    return str(embedding)
