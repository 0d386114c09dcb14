from dataclasses import replace
from uuid import UUID, uuid4

import pytest

from realtone_core.models import Status
from realtone_scorer.options import ScoringOptions
from realtone_scorer.uploads import Outcome, Scorer
from tests.audio import JUNK, wav_bytes
from tests.fakes import (
    InMemoryAnalyses,
    InMemoryObjects,
    InMemoryQueue,
    InMemoryQuota,
    LoudnessDetector,
    Published,
    deliver,
)
from tests.hostile import amplified_wav


@pytest.fixture
def parts():
    analyses, objects, published = InMemoryAnalyses(), InMemoryObjects(), Published()
    detector = LoudnessDetector()
    scorer = Scorer(ScoringOptions(), analyses, objects, published, detector)
    return scorer, analyses, objects, published, detector


def test_scores_an_upload_once(parts):
    scorer, analyses, objects, published, _ = parts
    record = analyses.add()
    objects.objects[record.object_key] = wav_bytes(10.3, 44_100, channels=2)
    assert deliver(scorer, record.object_key) is Outcome.COMPLETED
    done = analyses.rows[record.id]
    assert done.status == Status.COMPLETED
    assert [(c.start_time_seconds, c.end_time_seconds) for c in analyses.chunks(record.id)] == [
        (0, 4),
        (4, 8),
        (8, 10.3),
    ]
    assert done.duration_seconds == pytest.approx(10.3)
    assert done.model.name == "test:loudness"
    assert [r.status for r in published] == [Status.PROCESSING, Status.COMPLETED]
    # The same event again (a redelivery or a duplicate notification) scores nothing.
    assert deliver(scorer, record.object_key) is Outcome.SKIPPED
    assert analyses.complete_calls == 1


def test_bad_audio_fails_with_its_code(parts):
    scorer, analyses, objects, published, _ = parts
    record = analyses.add()
    objects.objects[record.object_key] = JUNK
    assert deliver(scorer, record.object_key) is Outcome.FAILED
    assert analyses.rows[record.id].error_code == "corrupt_audio"
    assert published[-1].status == Status.FAILED


def test_missing_object_fails_with_upload_missing(parts):
    scorer, analyses, *_ = parts
    record = analyses.add()
    assert deliver(scorer, record.object_key) is Outcome.FAILED
    assert analyses.rows[record.id].error_code == "upload_missing"


def test_unknown_or_foreign_keys_are_skipped(parts):
    scorer, analyses, objects, *_ = parts
    record = analyses.add()
    assert deliver(scorer, "elsewhere/x.wav") is Outcome.SKIPPED
    other_name = record.object_key.rsplit("/", 1)[0] + "/other.wav"
    objects.objects[other_name] = wav_bytes(2)
    assert deliver(scorer, other_name) is Outcome.SKIPPED
    assert analyses.rows[record.id].status == Status.AWAITING_UPLOAD


def test_transient_failure_is_retried_then_completes(parts):
    scorer, analyses, objects, _, detector = parts
    detector.fail_times = 1
    record = analyses.add()
    objects.objects[record.object_key] = wav_bytes(5)
    with pytest.raises(RuntimeError):
        deliver(scorer, record.object_key, 1)
    assert analyses.rows[record.id].status == Status.PROCESSING
    # Released: even a first delivery (a duplicate event, or the sweep's resend), which
    # respects a live lease, may take it at once.
    assert deliver(scorer, record.object_key, 1) is Outcome.COMPLETED


def test_a_live_claim_is_not_taken_by_a_duplicate_event(parts):
    scorer, analyses, objects, *_ = parts
    record = analyses.add()
    objects.objects[record.object_key] = wav_bytes(5)
    assert analyses.claim(record.id, record.object_key, 900) is not None  # a live scorer
    assert deliver(scorer, record.object_key, 1) is Outcome.SKIPPED
    # A redelivery means the earlier attempt is over: it takes the claim over.
    assert deliver(scorer, record.object_key, 2) is Outcome.COMPLETED


@pytest.mark.parametrize("event_size", [None, 10**9])
def test_an_object_over_the_size_limit_fails_too_large(parts, event_size):
    scorer, analyses, objects, *_ = parts
    scorer.max_upload_bytes = 50_000
    record = analyses.add()
    objects.objects[record.object_key] = wav_bytes(5)  # 160 kB
    # Whether the event says the size or not, the limit holds (the download stops at it).
    assert deliver(scorer, record.object_key, size=event_size) is Outcome.FAILED
    assert analyses.rows[record.id].error_code == "too_large"


def test_the_completed_document_is_published_with_its_windows(parts):
    scorer, analyses, objects, published, _ = parts
    record = analyses.add()
    objects.objects[record.object_key] = wav_bytes(9.0)
    assert deliver(scorer, record.object_key) is Outcome.COMPLETED
    assert published[-1].status == Status.COMPLETED
    assert published.chunks[-1] == analyses.chunks(record.id)
    assert [len(c) for c in published.chunks[:-1]] == [0]  # processing: no windows yet


def test_last_attempt_marks_internal_error(parts):
    scorer, analyses, objects, _, detector = parts
    detector.fail_times = 99
    record = analyses.add()
    objects.objects[record.object_key] = wav_bytes(5)
    with pytest.raises(RuntimeError):
        deliver(scorer, record.object_key, 3)
    assert analyses.rows[record.id].status == Status.FAILED
    assert analyses.rows[record.id].error_code == "internal_error"


def test_silent_audio_is_inconclusive_and_never_scored(parts):
    scorer, analyses, objects, _, detector = parts
    import numpy as np

    from tests.audio import encode

    record = analyses.add()
    quiet = (1e-5 * np.ones(16_000 * 6)).astype(np.float32)
    objects.objects[record.object_key] = encode(quiet, 16_000, "WAV", "FLOAT")
    assert deliver(scorer, record.object_key) is Outcome.COMPLETED
    assert detector.calls == 0
    assert analyses.rows[record.id].summary.verdict == "inconclusive"
    assert all(c.score is None and not c.voiced for c in analyses.chunks(record.id))


def test_identical_uploads_reuse_the_stored_result(parts):
    scorer, analyses, objects, _, detector = parts
    data = wav_bytes(9.0)
    owner = uuid4()
    first, second = analyses.add(owner=owner), analyses.add("copy.wav", owner=owner)
    objects.objects[first.object_key] = data
    objects.objects[second.object_key] = data
    assert deliver(scorer, first.object_key) is Outcome.COMPLETED
    calls = detector.calls
    assert deliver(scorer, second.object_key) is Outcome.COMPLETED
    assert detector.calls == calls  # the model did not run again
    assert analyses.chunks(second.id) == analyses.chunks(first.id)
    assert analyses.rows[second.id].summary == analyses.rows[first.id].summary
    # Different bytes are scored afresh.
    third = analyses.add("other.wav", owner=owner)
    objects.objects[third.object_key] = wav_bytes(9.0, rate=22_050)
    assert deliver(scorer, third.object_key) is Outcome.COMPLETED
    assert detector.calls > calls


def test_a_changed_detector_or_setting_scores_identical_bytes_afresh(parts):
    scorer, analyses, objects, _, detector = parts
    data = wav_bytes(9.0)
    owner = uuid4()

    def upload(name: str) -> UUID:
        record = analyses.add(name, owner=owner)
        objects.objects[record.object_key] = data
        assert deliver(scorer, record.object_key) is Outcome.COMPLETED
        return record.id

    first = upload("a.wav")
    calls = detector.calls
    # A new calibration or precision is a new detector identity: the old scores do not apply.
    detector.gain = 3.0
    recalibrated = upload("b.wav")
    assert detector.calls > calls
    assert analyses.chunks(recalibrated) != analyses.chunks(first)
    # So is a setting that shapes the result, such as the verdict threshold.
    calls = detector.calls
    scorer.options = replace(scorer.options, score_threshold=0.9)
    rethresholded = upload("c.wav")
    assert detector.calls > calls
    assert analyses.rows[rethresholded].summary.threshold == 0.9
    # Unchanged again: reused.
    calls = detector.calls
    again = upload("d.wav")
    assert detector.calls == calls
    assert analyses.rows[again].summary == analyses.rows[rethresholded].summary


def test_an_upload_for_a_deleted_analysis_is_marked_abandoned(parts):
    scorer, analyses, objects, *_ = parts
    record = analyses.add()
    objects.objects[record.object_key] = wav_bytes(2.0)
    del analyses.rows[record.id]  # deleted while the upload was in flight
    assert deliver(scorer, record.object_key) is Outcome.SKIPPED
    assert objects.abandoned == {record.object_key}


def test_another_owners_identical_upload_is_scored_afresh(parts):
    scorer, analyses, objects, _, detector = parts
    data = wav_bytes(9.0)
    mine, theirs = analyses.add(), analyses.add()
    objects.objects[mine.object_key] = data
    objects.objects[theirs.object_key] = data
    assert deliver(scorer, mine.object_key) is Outcome.COMPLETED
    calls = detector.calls
    assert deliver(scorer, theirs.object_key) is Outcome.COMPLETED
    assert detector.calls > calls  # nothing of the first owner's result was reused


def test_an_amplified_upload_is_refused_from_its_header(parts):
    scorer, analyses, objects, _, detector = parts
    scorer.quota = InMemoryQuota(10_000)
    record = analyses.add()
    objects.objects[record.object_key] = amplified_wav()
    assert deliver(scorer, record.object_key) is Outcome.FAILED
    assert analyses.rows[record.id].error_code == "unsupported_sample_rate"
    assert detector.calls == 0 and scorer.quota.used(record.owner_id) == 0


def test_decoded_seconds_are_charged_once_per_analysis_and_refused_over_the_quota(parts):
    scorer, analyses, objects, published, detector = parts
    scorer.quota = InMemoryQuota(25)
    owner = uuid4()
    first, second = analyses.add(owner=owner), analyses.add(owner=owner)
    objects.objects[first.object_key] = wav_bytes(10.3)
    objects.objects[second.object_key] = wav_bytes(20.0, seed=3)
    assert deliver(scorer, first.object_key) is Outcome.COMPLETED
    assert scorer.quota.used(owner) == 11
    calls = detector.calls
    assert deliver(scorer, second.object_key) is Outcome.FAILED
    failed = analyses.rows[second.id]
    assert failed.error_code == "quota_exceeded" and "renews in" in failed.error_message
    assert detector.calls == calls  # refused before any window was scored
    assert scorer.quota.used(owner) == 11  # a refusal costs nothing
    assert objects.objects[second.object_key]  # and the upload is kept
    assert published[-1].status == Status.FAILED
    # Another owner has their own allowance.
    other = analyses.add()
    objects.objects[other.object_key] = wav_bytes(20.0, seed=3)
    assert deliver(scorer, other.object_key) is Outcome.COMPLETED


def test_a_retry_is_not_charged_twice(parts):
    scorer, analyses, objects, _, detector = parts
    scorer.quota = InMemoryQuota(15)
    detector.fail_times = 1
    record = analyses.add()
    objects.objects[record.object_key] = wav_bytes(10.0)
    with pytest.raises(RuntimeError):
        deliver(scorer, record.object_key, 1)
    assert deliver(scorer, record.object_key, 2) is Outcome.COMPLETED
    assert scorer.quota.used(record.owner_id) == 10


def test_the_scorer_records_what_it_read(parts):
    import hashlib

    scorer, analyses, objects, *_ = parts
    record = analyses.add()
    data = wav_bytes(3.0)
    objects.objects[record.object_key] = data
    assert deliver(scorer, record.object_key) is Outcome.COMPLETED
    done = analyses.rows[record.id]
    assert done.object_etag == hashlib.md5(data).hexdigest()
    assert done.content_sha256 == hashlib.sha256(data).hexdigest()


def test_an_object_swapped_in_after_scoring_is_deleted_and_never_reassociated(parts):
    scorer, analyses, objects, published, detector = parts
    record = analyses.add()
    objects.objects[record.object_key] = wav_bytes(3.0)
    assert deliver(scorer, record.object_key) is Outcome.COMPLETED
    scored = analyses.rows[record.id]
    calls, documents = detector.calls, len(published)
    # A stale event for the scored object changes nothing.
    assert deliver(scorer, record.object_key) is Outcome.SKIPPED
    assert analyses.rows[record.id].audio_replaced_at is None
    # The upload policy, still valid, puts other bytes under the key.
    objects.objects[record.object_key] = b"<html><script>alert(1)</script></html>"
    assert deliver(scorer, record.object_key) is Outcome.SKIPPED
    now = analyses.rows[record.id]
    assert record.object_key not in objects.objects
    assert now.audio_replaced_at is not None
    assert (now.status, now.summary, now.updated_at) == (
        scored.status,
        scored.summary,
        scored.updated_at,
    )
    assert detector.calls == calls and len(published) == documents


def test_an_upload_for_an_expired_analysis_is_deleted(parts):
    scorer, analyses, objects, *_ = parts
    record = analyses.add(status=Status.EXPIRED)
    objects.objects[record.object_key] = wav_bytes(2.0)
    assert deliver(scorer, record.object_key) is Outcome.SKIPPED
    assert record.object_key not in objects.objects
    assert analyses.rows[record.id].status == Status.EXPIRED


def test_heavy_owners_are_moved_to_the_heavy_queue():
    from realtone_scorer.uploads import FairShare, S3Object

    analyses, heavy, quota = InMemoryAnalyses(), InMemoryQueue(), InMemoryQuota(10_000)
    fair = FairShare(analyses, heavy, quota, max_in_flight=2, max_seconds_today=600)
    busy, light, spent = uuid4(), uuid4(), uuid4()
    for _ in range(3):
        analyses.add(owner=busy, status=Status.QUEUED)
    mine = analyses.add(owner=light, status=Status.QUEUED)
    quota.charge(spent, uuid4(), 601)

    def event(owner):
        record = analyses.add(owner=owner, status=Status.QUEUED)
        return [S3Object("bucket", record.object_key)], f"body-{owner}"

    assert fair.defer(*event(busy)) is True
    assert fair.defer(*event(spent)) is True
    assert fair.defer([S3Object("bucket", mine.object_key)], "light") is False
    assert fair.defer([S3Object("bucket", "elsewhere/x.wav")], "foreign") is False
    assert heavy.sent == [f"body-{busy}", f"body-{spent}"]
    # Without a heavy queue nothing moves.
    assert FairShare(analyses, None, quota, max_in_flight=0).defer(*event(busy)) is False


def test_music_is_not_judged_and_the_result_says_why(parts):
    scorer, analyses, objects, _, detector = parts
    from pathlib import Path

    music = Path(__file__).resolve().parents[1] / "data" / "audio"
    record = analyses.add("hold-music.flac")
    objects.objects[record.object_key] = (
        music / "music-macroform-cold_day-excerpt.flac"
    ).read_bytes()
    assert deliver(scorer, record.object_key) is Outcome.COMPLETED
    done = analyses.rows[record.id]
    assert done.summary.verdict == "inconclusive" and done.summary.reason == "music_or_noise"
    assert {c.reason for c in analyses.chunks(record.id)} == {"music_or_noise"}
    assert detector.calls == 0  # nothing was run through the model


def test_a_long_file_publishes_its_windows_as_they_are_scored(parts):
    scorer, analyses, objects, published, _ = parts
    record = analyses.add()
    objects.objects[record.object_key] = wav_bytes(100.0)  # 25 windows, batches of 8
    assert deliver(scorer, record.object_key) is Outcome.COMPLETED
    steps = [p for p in published.progress if p is not None]
    assert [p.windows_done for p in steps] == [8, 16, 24]
    assert all(p.windows_total == 25 for p in steps)
    # Each progress document carries the windows decided so far, in order, with scores.
    partial = [c for c, p in zip(published.chunks, published.progress, strict=True) if p]
    for step, chunks in zip(steps, partial, strict=True):
        assert [c.chunk_id for c in chunks] == list(range(step.windows_done))
        assert all(c.score is not None for c in chunks)
    # The final document is the complete result, without progress.
    assert published[-1].status == Status.COMPLETED and published.progress[-1] is None
    assert published.chunks[-1] == analyses.chunks(record.id)
