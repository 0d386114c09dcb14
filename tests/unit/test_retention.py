"""Retention and account deletion (realtone_core.account, the scorer's zero-retention step,
the sweep's enforcement) driven with the in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from uuid import uuid4

import pytest

from realtone_core import account, lifecycle
from realtone_core.errors import RealToneError
from realtone_core.models import Status
from realtone_core.s3 import ZERO_RETENTION_TAG
from realtone_core.sweep import SweepReport, enforce_retention
from realtone_scorer.options import ScoringOptions
from realtone_scorer.uploads import Outcome, Scorer
from tests.audio import JUNK, wav_bytes
from tests.fakes import (
    InMemoryAccounts,
    InMemoryAnalyses,
    InMemoryCache,
    InMemoryLimiter,
    InMemoryObjects,
    InMemoryQuota,
    LoudnessDetector,
    Published,
    deliver,
)

POLICY = lifecycle.UploadPolicy(
    max_upload_bytes=10_000_000,
    upload_url_seconds=600,
    analyses_per_minute=100,
    upload_bytes_per_day=10**9,
)


@pytest.fixture
def ports():
    analyses = InMemoryAnalyses()
    return SimpleNamespace(
        analyses=analyses,
        accounts=InMemoryAccounts(analyses),
        objects=InMemoryObjects(),
        cache=InMemoryCache(),
        limiter=InMemoryLimiter(),
        published=Published(),
    )


def create(ports, owner, key=None):
    return lifecycle.create_analysis(
        owner,
        lifecycle.NewUpload("clip.wav", "audio/wav", 1000, key),
        POLICY,
        analyses=ports.analyses,
        objects=ports.objects,
        cache=ports.cache,
        limiter=ports.limiter,
        accounts=ports.accounts,
    )


def scorer(ports, quota=None):
    return Scorer(
        ScoringOptions(),
        ports.analyses,
        ports.objects,
        ports.published,
        LoudnessDetector(),
        quota=quota,
    )


def uploaded(ports, owner, data):
    record, _ = create(ports, owner)
    ports.objects.objects[record.object_key] = data
    return record


# --- the setting -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 30, 3650, "zero"])
def test_a_retention_is_days_from_1_to_3650_or_zero(ports, value):
    user = ports.accounts.add()
    changed = account.set_retention(user.id, value, accounts=ports.accounts)
    assert account.from_days(changed.retention_days) == value
    stored = account.account(user.id, accounts=ports.accounts)
    assert stored.retention_days == changed.retention_days


@pytest.mark.parametrize("value", [0, -1, 3651, True, 7.0, "7", "Zero", None, [30]])
def test_anything_else_is_a_validation_error_and_changes_nothing(ports, value):
    user = ports.accounts.add(retention_days=12)
    with pytest.raises(RealToneError) as err:
        account.set_retention(user.id, value, accounts=ports.accounts)
    assert (err.value.status_code, err.value.code) == (422, "validation_error")
    assert 'from 1 to 3650, or "zero"' in err.value.message
    assert ports.accounts.by_id(user.id).retention_days == 12


def test_a_deleted_account_has_no_settings(ports):
    for call in (
        lambda: account.account(uuid4(), accounts=ports.accounts),
        lambda: account.set_retention(uuid4(), 7, accounts=ports.accounts),
        lambda: create(ports, uuid4()),
    ):
        with pytest.raises(RealToneError) as err:
            call()
        assert (err.value.status_code, err.value.code) == (401, "invalid_token")


# --- uploads under zero-retention --------------------------------------------------------


def test_uploads_of_a_zero_retention_account_are_tagged_and_marked(ports):
    keeper, zero = ports.accounts.add(), ports.accounts.add(retention_days=0)
    kept, _ = create(ports, keeper.id)
    assert not kept.zero_retention and ports.objects.policy_tags[kept.object_key] is None
    gone, _ = create(ports, zero.id, key="k")
    assert gone.zero_retention
    assert ports.objects.policy_tags[gone.object_key] == ZERO_RETENTION_TAG
    # A replay's fresh policy carries the tag too, whatever the account says by then.
    account.set_retention(zero.id, 30, accounts=ports.accounts)
    ports.objects.policy_tags.clear()
    again, _ = create(ports, zero.id, key="k")
    assert again.id == gone.id and ports.objects.policy_tags[gone.object_key] == ZERO_RETENTION_TAG


def test_the_scorer_deletes_zero_retention_audio_as_soon_as_it_is_scored(ports):
    zero = ports.accounts.add(retention_days=0)
    record = uploaded(ports, zero.id, wav_bytes(9.0))
    assert deliver(scorer(ports), record.object_key) is Outcome.COMPLETED
    assert record.object_key not in ports.objects.objects
    done = ports.analyses.rows[record.id]
    assert done.status == Status.COMPLETED and done.summary is not None
    assert len(ports.analyses.chunks(record.id)) == 3
    assert (done.audio_deleted_reason, done.audio_retention_days) == ("zero_retention", None)
    # The document published says so; it carries no way to the audio.
    document = done.to_analysis(ports.published.chunks[-1])
    assert ports.published[-1].audio_deleted_at is not None
    assert document.audio_deleted.reason == "zero_retention" and len(document.chunks) == 3
    with pytest.raises(RealToneError) as err:
        lifecycle.audio_url(done, objects=ports.objects, expires_in=60)
    assert (err.value.status_code, err.value.code) == (410, "audio_deleted")
    assert "zero-retention" in err.value.message


def test_a_failed_analysis_of_a_zero_retention_account_keeps_no_audio_either(ports):
    zero = ports.accounts.add(retention_days=0)
    record = uploaded(ports, zero.id, JUNK)
    assert deliver(scorer(ports), record.object_key) is Outcome.FAILED
    failed = ports.analyses.rows[record.id]
    assert failed.error_code == "corrupt_audio" and failed.audio_deleted_at is not None
    assert record.object_key not in ports.objects.objects


def test_a_reused_result_deletes_the_new_upload_too(ports):
    zero = ports.accounts.add(retention_days=0)
    data = wav_bytes(6.0, seed=5)
    run = scorer(ports)
    first, second = uploaded(ports, zero.id, data), uploaded(ports, zero.id, data)
    assert deliver(run, first.object_key) is Outcome.COMPLETED
    assert deliver(run, second.object_key) is Outcome.COMPLETED
    assert run.detector.calls == 1  # the second was not scored again: its result was reused
    assert ports.analyses.chunks(second.id) == ports.analyses.chunks(first.id)
    assert ports.objects.objects == {}
    assert ports.analyses.rows[second.id].audio_deleted_reason == "zero_retention"


def test_an_account_that_keeps_audio_keeps_it(ports):
    keeper = ports.accounts.add(retention_days=7)
    record = uploaded(ports, keeper.id, wav_bytes(3.0))
    assert deliver(scorer(ports), record.object_key) is Outcome.COMPLETED
    assert record.object_key in ports.objects.objects
    assert ports.analyses.rows[record.id].audio_deleted_at is None


def test_switching_to_zero_while_an_upload_waits_deletes_it_when_scored(ports):
    user = ports.accounts.add()
    record = uploaded(ports, user.id, wav_bytes(3.0))
    account.set_retention(user.id, "zero", accounts=ports.accounts)
    assert deliver(scorer(ports), record.object_key) is Outcome.COMPLETED
    assert record.object_key not in ports.objects.objects


def test_a_storage_failure_keeps_the_result_and_leaves_the_audio_to_the_sweep(ports):
    zero = ports.accounts.add(retention_days=0)
    record = uploaded(ports, zero.id, wav_bytes(3.0))

    def broken(key):
        raise ConnectionError("storage down")

    ports.objects.delete = broken
    assert deliver(scorer(ports), record.object_key) is Outcome.COMPLETED
    done = ports.analyses.rows[record.id]
    assert done.status == Status.COMPLETED and done.audio_deleted_at is None
    del ports.objects.delete
    report = SweepReport()
    enforce_retention(ports, report)
    assert report.audio_deleted == [str(record.id)]
    assert record.object_key not in ports.objects.objects


def test_an_object_put_again_under_a_key_whose_audio_was_deleted_is_deleted(ports):
    zero = ports.accounts.add(retention_days=0)
    record = uploaded(ports, zero.id, wav_bytes(3.0))
    run = scorer(ports)
    deliver(run, record.object_key)
    # The upload policy outlives the first upload: the same POST again.
    ports.objects.objects[record.object_key] = wav_bytes(3.0, seed=9)
    assert deliver(run, record.object_key, receive_count=2) is Outcome.SKIPPED
    assert record.object_key not in ports.objects.objects


def test_the_quota_message_does_not_promise_a_kept_upload(ports):
    zero = ports.accounts.add(retention_days=0)
    record = uploaded(ports, zero.id, wav_bytes(8.0))
    assert deliver(scorer(ports, InMemoryQuota(5)), record.object_key) is Outcome.FAILED
    failed = ports.analyses.rows[record.id]
    assert failed.error_code == "quota_exceeded"
    assert "not kept (zero-retention)" in failed.error_message
    assert "is kept" not in failed.error_message


# --- the sweep enforces ------------------------------------------------------------------


def _age(ports, record, days):
    ports.analyses.rows[record.id] = ports.analyses.rows[record.id].model_copy(
        update={"created_at": datetime.now(UTC) - timedelta(days=days)}
    )


def test_the_sweep_deletes_audio_older_than_the_accounts_days(ports):
    user = ports.accounts.add(retention_days=7)
    run = scorer(ports)
    old, young, waiting = (uploaded(ports, user.id, wav_bytes(2.0, seed=s)) for s in (1, 2, 3))
    for record in (old, young):
        deliver(run, record.object_key)
    _age(ports, old, 8)
    _age(ports, young, 6)
    _age(ports, waiting, 30)  # never scored: the sweep's other passes deal with it
    report = SweepReport()
    enforce_retention(ports, report)
    assert report.audio_deleted == [str(old.id)]
    assert set(ports.objects.objects) == {young.object_key, waiting.object_key}
    gone = ports.analyses.rows[old.id]
    assert (gone.audio_deleted_reason, gone.audio_retention_days) == ("retention_period", 7)
    assert gone.status == Status.COMPLETED and len(ports.analyses.chunks(old.id)) == 1
    # The cached document says so at once.
    assert b'"reason":"retention_period"' in ports.cache.get(old.id).body
    with pytest.raises(RealToneError) as err:
        lifecycle.audio_url(gone, objects=ports.objects, expires_in=60)
    assert err.value.code == "audio_deleted" and "after 7 days" in err.value.message
    again = SweepReport()
    enforce_retention(ports, again)
    assert again.audio_deleted == []


def test_switching_to_zero_retention_deletes_the_audio_already_kept(ports):
    user = ports.accounts.add()
    run = scorer(ports)
    record = uploaded(ports, user.id, wav_bytes(2.0))
    deliver(run, record.object_key)
    account.set_retention(user.id, "zero", accounts=ports.accounts)
    report = SweepReport()
    enforce_retention(ports, report)
    assert report.audio_deleted == [str(record.id)]
    assert ports.analyses.rows[record.id].audio_deleted_reason == "zero_retention"
    assert ports.objects.objects == {}


# --- deleting an account -----------------------------------------------------------------


def test_deleting_an_account_deletes_its_audio_rows_and_cached_documents(ports):
    user, other = ports.accounts.add(), ports.accounts.add()
    mine = [uploaded(ports, user.id, wav_bytes(2.0, seed=s)) for s in range(3)]
    theirs = uploaded(ports, other.id, wav_bytes(2.0))
    stray = f"uploads/{user.id}/{uuid4()}/left-behind.wav"  # no analysis refers to it
    ports.objects.objects[stray] = b"x"
    deleted = account.delete_account(
        user.id, accounts=ports.accounts, objects=ports.objects, cache=ports.cache
    )
    assert deleted == 3
    assert set(ports.objects.objects) == {theirs.object_key}
    assert all(ports.analyses.get(r.id) is None for r in mine)
    assert ports.analyses.get(theirs.id) is not None
    # Tombstones: a scorer finishing late cannot publish a document back.
    for r in mine:
        assert ports.cache.get(r.id) is None
        lifecycle.publish(ports.cache, r, [])
        assert ports.cache.get(r.id) is None
    with pytest.raises(RealToneError) as err:
        account.delete_account(
            user.id, accounts=ports.accounts, objects=ports.objects, cache=ports.cache
        )
    assert (err.value.status_code, err.value.code) == (401, "invalid_token")


def test_storage_failing_leaves_the_account_whole_to_retry(ports):
    user = ports.accounts.add()
    record = uploaded(ports, user.id, wav_bytes(2.0))

    def broken(prefix):
        raise ConnectionError("storage down")

    ports.objects.delete_prefix = broken
    with pytest.raises(ConnectionError):
        account.delete_account(
            user.id, accounts=ports.accounts, objects=ports.objects, cache=ports.cache
        )
    assert ports.accounts.by_id(user.id) is not None and ports.analyses.get(record.id)
