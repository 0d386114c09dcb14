"""The in-memory fake the unit tests use and the Postgres store behave alike: the same
claim / lease / release / complete / fail / reuse / in-flight cap / late-upload cases run
against both."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from realtone_core.errors import InFlightLimitReached
from realtone_core.models import AnalysisRecord, Chunk, ModelCard, ScoringResult, Status, Summary
from realtone_core.s3 import upload_key
from tests.fakes import InMemoryAnalyses

pytestmark = pytest.mark.integration

NewRecord = Callable[..., AnalysisRecord]


@pytest.fixture(params=["in-memory", "postgres"])
def store(request: pytest.FixtureRequest) -> tuple[Any, NewRecord]:
    """(store, new_record): a fresh analysis ``awaiting_upload`` in that store."""
    if request.param == "in-memory":
        fake = InMemoryAnalyses()
    else:
        services = request.getfixturevalue("services")
        fake = services.analyses

    def new_owner() -> uuid.UUID:
        if request.param == "in-memory":
            return uuid.uuid4()
        return services.users.create(f"contract-{uuid.uuid4().hex[:8]}@example.com", "x").id

    owner = new_owner()

    def new_record(
        expires_in: float = 900,
        idempotency_key: str | None = None,
        owner_id: uuid.UUID | None = None,
        max_in_flight: int | None = None,
    ) -> AnalysisRecord:
        ident = uuid.uuid4()
        mine = owner_id or owner
        record, _ = fake.create(
            analysis_id=ident,
            owner_id=mine,
            filename="c.wav",
            content_type="audio/wav",
            size_bytes=10,
            object_key=upload_key(mine, ident, "c.wav"),
            upload_expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
            idempotency_key=idempotency_key,
            max_in_flight=max_in_flight,
        )
        return record

    new_record.new_owner = new_owner  # type: ignore[attr-defined]
    return fake, new_record


def result(sha: str = "a" * 64, key: str = "k1") -> ScoringResult:
    return ScoringResult(
        duration_seconds=6.0,
        processing_ms=12,
        model=ModelCard(name="m", version="1", sha256="0" * 64, trained=True),
        summary=Summary(
            verdict="real",
            score=0.1,
            max_score=0.2,
            mean_score=0.1,
            fake_chunk_ratio=0.0,
            threshold=0.5,
        ),
        chunks=[
            Chunk(chunk_id=0, start_time_seconds=0, end_time_seconds=4, score=0.2, voiced=True),
            Chunk(chunk_id=1, start_time_seconds=4, end_time_seconds=6, score=None, voiced=False),
        ],
        content_sha256=sha,
        scoring_key=key,
        timings={},
    )


def test_create_is_idempotent_per_key(store):
    analyses, new = store
    first = new(idempotency_key="key-1")
    again = new(idempotency_key="key-1")
    assert again.id == first.id and again.status == Status.AWAITING_UPLOAD
    assert analyses.by_idempotency_key(first.owner_id, "key-1").id == first.id
    assert analyses.get(first.id, first.owner_id) is not None
    assert analyses.get(first.id, uuid.uuid4()) is None  # another owner sees nothing
    assert analyses.get(uuid.uuid4()) is None


def test_a_claim_holds_until_its_lease_runs_out_or_it_is_released(store):
    analyses, new = store
    r = new()
    assert analyses.claim(r.id, "uploads/other/key", 900) is None  # not its object
    held = analyses.claim(r.id, r.object_key, 900)
    assert held is not None and held.status == Status.PROCESSING and held.claim_token
    assert analyses.claim(r.id, r.object_key, 900) is None  # a live lease
    taken = analyses.claim(r.id, r.object_key, 0)  # a retry takes over
    assert taken is not None and taken.claim_token != held.claim_token
    analyses.release(r.id, held.claim_token)  # a stale token releases nothing
    assert analyses.claim(r.id, r.object_key, 900) is None
    analyses.release(r.id, taken.claim_token)
    assert analyses.claim(r.id, r.object_key, 900) is not None


def test_only_the_holder_completes_and_only_once(store):
    analyses, new = store
    r = new()
    first = analyses.claim(r.id, r.object_key, 900)
    second = analyses.claim(r.id, r.object_key, 0)
    assert analyses.complete(r.id, first.claim_token, result()) is None
    done = analyses.complete(r.id, second.claim_token, result())
    assert done is not None and done.status == Status.COMPLETED
    assert done.summary.verdict == "real" and done.duration_seconds == 6.0
    assert analyses.chunks(r.id) == result().chunks
    assert analyses.complete(r.id, second.claim_token, result()) is None
    assert analyses.claim(r.id, r.object_key, 0) is None  # never backwards


def test_fail_needs_the_claim_when_given_and_never_touches_a_finished_one(store):
    analyses, new = store
    r = new()
    held = analyses.claim(r.id, r.object_key, 900)
    assert analyses.fail(r.id, "corrupt_audio", "bad", claim_token=uuid.uuid4()) is None
    failed = analyses.fail(r.id, "corrupt_audio", "bad", claim_token=held.claim_token)
    assert failed.status == Status.FAILED and failed.error_code == "corrupt_audio"
    assert analyses.fail(r.id, "internal_error", "again") is None
    # The sweep fails an unfinished analysis without a claim.
    other = new()
    assert analyses.fail(other.id, "internal_error", "stuck").status == Status.FAILED


def test_reuse_finds_only_the_owners_completed_results_scored_the_same_way(store):
    analyses, new = store
    sha = uuid.uuid4().hex * 2
    r = new()
    held = analyses.claim(r.id, r.object_key, 900)
    assert analyses.find_reusable(r.owner_id, sha, "k1") is None
    analyses.complete(r.id, held.claim_token, result(sha, "k1"))
    found = analyses.find_reusable(r.owner_id, sha, "k1")
    assert found is not None
    ident, duration, summary, chunks = found
    assert (ident, duration, summary.verdict, chunks) == (r.id, 6.0, "real", result().chunks)
    assert analyses.find_reusable(r.owner_id, sha, "k2") is None
    # Never another owner's result: a fast answer would tell them someone had this file.
    assert analyses.find_reusable(new.new_owner(), sha, "k1") is None


def test_in_flight_analyses_are_capped_per_owner(store):
    analyses, new = store
    first, second = new(max_in_flight=2), new(max_in_flight=2)
    with pytest.raises(InFlightLimitReached):
        new(max_in_flight=2)
    new(max_in_flight=2, owner_id=new.new_owner())  # someone else
    new()  # no cap asked for
    analyses.expire(new(expires_in=-5).id)
    assert analyses.count_in_flight(first.owner_id) == 3  # the expired one is not
    held = analyses.claim(first.id, first.object_key, 900)
    assert analyses.count_in_flight(first.owner_id) == 3  # processing still is
    analyses.fail(first.id, "corrupt_audio", "bad", claim_token=held.claim_token)
    analyses.fail(second.id, "corrupt_audio", "bad")
    assert analyses.count_in_flight(first.owner_id) == 1


def test_the_scored_object_is_recorded_and_a_replacement_marked(store):
    analyses, new = store
    r = new()
    held = analyses.claim(r.id, r.object_key, 900)
    analyses.record_object(r.id, uuid.uuid4(), "stale-token-etag", "0" * 64)  # not the holder
    assert analyses.get(r.id).object_etag is None
    analyses.record_object(r.id, held.claim_token, "etag-1", "a" * 64)
    done = analyses.complete(r.id, held.claim_token, result("a" * 64))
    assert (done.object_etag, done.content_sha256, done.audio_replaced_at) == (
        "etag-1",
        "a" * 64,
        None,
    )
    marked = analyses.mark_audio_replaced(r.id)
    assert marked.audio_replaced_at is not None
    assert (marked.status, marked.updated_at) == (done.status, done.updated_at)
    assert analyses.mark_audio_replaced(r.id).audio_replaced_at == marked.audio_replaced_at


def test_expired_analyses_are_checked_once_for_late_uploads(store):
    analyses, new = store
    long_ago, recent, open_ = new(expires_in=-3600), new(expires_in=-5), new()
    analyses.expire(long_ago.id)
    analyses.expire(recent.id)
    due = {r.id for r in analyses.expired_unchecked(900, limit=1000)}
    assert long_ago.id in due and recent.id not in due and open_.id not in due
    analyses.mark_late_checked(long_ago.id)
    assert long_ago.id not in {r.id for r in analyses.expired_unchecked(900, limit=1000)}


def test_uploads_move_to_queued_or_expire_only_from_awaiting(store):
    analyses, new = store
    live, late = new(), new(expires_in=-5)
    assert analyses.expire(live.id) is None  # its window is still open
    assert analyses.mark_queued(live.id).status == Status.QUEUED
    assert analyses.mark_queued(live.id) is None
    assert analyses.expire(late.id).status == Status.EXPIRED
    assert analyses.mark_queued(late.id) is None
