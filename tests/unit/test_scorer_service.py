from dataclasses import replace
from uuid import UUID

import pytest

from realtone_core.models import Status
from realtone_scorer.options import ScoringOptions
from realtone_scorer.uploads import Outcome, Scorer
from tests.audio import JUNK, wav_bytes
from tests.fakes import InMemoryAnalyses, InMemoryObjects, LoudnessDetector, Published, deliver


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
    first, second = analyses.add(), analyses.add("copy.wav")
    objects.objects[first.object_key] = data
    objects.objects[second.object_key] = data
    assert deliver(scorer, first.object_key) is Outcome.COMPLETED
    calls = detector.calls
    assert deliver(scorer, second.object_key) is Outcome.COMPLETED
    assert detector.calls == calls  # the model did not run again
    assert analyses.chunks(second.id) == analyses.chunks(first.id)
    assert analyses.rows[second.id].summary == analyses.rows[first.id].summary
    # Different bytes are scored afresh.
    third = analyses.add("other.wav")
    objects.objects[third.object_key] = wav_bytes(9.0, rate=22_050)
    assert deliver(scorer, third.object_key) is Outcome.COMPLETED
    assert detector.calls > calls


def test_a_changed_detector_or_setting_scores_identical_bytes_afresh(parts):
    scorer, analyses, objects, _, detector = parts
    data = wav_bytes(9.0)

    def upload(name: str) -> UUID:
        record = analyses.add(name)
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
