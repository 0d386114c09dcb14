from uuid import UUID

import pytest

from realtone_core.config import Settings
from realtone_core.models import Status
from realtone_scorer.service import Outcome, Scorer
from tests.audio import JUNK, wav_bytes
from tests.fakes import InMemoryAnalyses, InMemoryObjects, LoudnessDetector, Published


@pytest.fixture
def parts():
    analyses, objects, published = InMemoryAnalyses(), InMemoryObjects(), Published()
    detector = LoudnessDetector()
    scorer = Scorer(Settings(max_receive_count=3), analyses, objects, published, detector)
    return scorer, analyses, objects, published, detector


def test_scores_an_upload_once(parts):
    scorer, analyses, objects, published, _ = parts
    record = analyses.add()
    objects.objects[record.object_key] = wav_bytes(10.3, 44_100, channels=2)
    assert scorer.process_upload(record.object_key) is Outcome.COMPLETED
    done = analyses.rows[record.id]
    assert done.status == Status.COMPLETED
    assert [(c.start_time_seconds, c.end_time_seconds) for c in analyses.chunks[record.id]] == [
        (0, 4),
        (4, 8),
        (8, 10.3),
    ]
    assert done.duration_seconds == pytest.approx(10.3)
    assert done.model.name == "test:loudness"
    assert [r.status for r in published] == [Status.PROCESSING, Status.COMPLETED]
    # The same event again (a redelivery or a duplicate notification) scores nothing.
    assert scorer.process_upload(record.object_key) is Outcome.SKIPPED
    assert analyses.complete_calls == 1


def test_bad_audio_fails_with_its_code(parts):
    scorer, analyses, objects, published, _ = parts
    record = analyses.add()
    objects.objects[record.object_key] = JUNK
    assert scorer.process_upload(record.object_key) is Outcome.FAILED
    assert analyses.rows[record.id].error_code == "corrupt_audio"
    assert published[-1].status == Status.FAILED


def test_missing_object_fails_with_upload_missing(parts):
    scorer, analyses, *_ = parts
    record = analyses.add()
    assert scorer.process_upload(record.object_key) is Outcome.FAILED
    assert analyses.rows[record.id].error_code == "upload_missing"


def test_unknown_or_foreign_keys_are_skipped(parts):
    scorer, analyses, objects, *_ = parts
    record = analyses.add()
    assert scorer.process_upload("elsewhere/x.wav") is Outcome.SKIPPED
    other_name = record.object_key.rsplit("/", 1)[0] + "/other.wav"
    objects.objects[other_name] = wav_bytes(2)
    assert scorer.process_upload(other_name) is Outcome.SKIPPED
    assert analyses.rows[record.id].status == Status.AWAITING_UPLOAD


def test_transient_failure_is_retried_then_completes(parts):
    scorer, analyses, objects, _, detector = parts
    detector.fail_times = 1
    record = analyses.add()
    objects.objects[record.object_key] = wav_bytes(5)
    with pytest.raises(RuntimeError):
        scorer.process_upload(record.object_key, receive_count=1)
    assert analyses.rows[record.id].status == Status.PROCESSING
    # Released: the redelivered message may take it again at once.
    assert scorer.process_upload(record.object_key, receive_count=2) is Outcome.COMPLETED


def test_last_attempt_marks_internal_error(parts):
    scorer, analyses, objects, _, detector = parts
    detector.fail_times = 99
    record = analyses.add()
    objects.objects[record.object_key] = wav_bytes(5)
    with pytest.raises(RuntimeError):
        scorer.process_upload(record.object_key, receive_count=3)
    assert analyses.rows[record.id].status == Status.FAILED
    assert analyses.rows[record.id].error_code == "internal_error"


def test_silent_audio_is_inconclusive_and_never_scored(parts):
    scorer, analyses, objects, _, detector = parts
    import numpy as np

    from tests.audio import encode

    record = analyses.add()
    quiet = (1e-5 * np.ones(16_000 * 6)).astype(np.float32)
    objects.objects[record.object_key] = encode(quiet, 16_000, "WAV", "FLOAT")
    assert scorer.process_upload(record.object_key) is Outcome.COMPLETED
    assert detector.calls == 0
    assert analyses.rows[record.id].summary.verdict == "inconclusive"
    assert all(c.score is None and not c.voiced for c in analyses.chunks[record.id])


def test_identical_uploads_reuse_the_stored_result(parts):
    scorer, analyses, objects, _, detector = parts
    data = wav_bytes(9.0)
    first, second = analyses.add(), analyses.add("copy.wav")
    objects.objects[first.object_key] = data
    objects.objects[second.object_key] = data
    assert scorer.process_upload(first.object_key) is Outcome.COMPLETED
    calls = detector.calls
    assert scorer.process_upload(second.object_key) is Outcome.COMPLETED
    assert detector.calls == calls  # the model did not run again
    assert analyses.chunks[second.id] == analyses.chunks[first.id]
    assert analyses.rows[second.id].summary == analyses.rows[first.id].summary
    # Different bytes are scored afresh.
    third = analyses.add("other.wav")
    objects.objects[third.object_key] = wav_bytes(9.0, rate=22_050)
    assert scorer.process_upload(third.object_key) is Outcome.COMPLETED
    assert detector.calls > calls


def test_a_changed_detector_or_setting_scores_identical_bytes_afresh(parts):
    scorer, analyses, objects, _, detector = parts
    data = wav_bytes(9.0)

    def upload(name: str) -> UUID:
        record = analyses.add(name)
        objects.objects[record.object_key] = data
        assert scorer.process_upload(record.object_key) is Outcome.COMPLETED
        return record.id

    first = upload("a.wav")
    calls = detector.calls
    # A new calibration or precision is a new detector identity: the old scores do not apply.
    detector.gain = 3.0
    recalibrated = upload("b.wav")
    assert detector.calls > calls
    assert analyses.chunks[recalibrated] != analyses.chunks[first]
    # So is a setting that shapes the result, such as the verdict threshold.
    calls = detector.calls
    scorer.settings = scorer.settings.model_copy(update={"score_threshold": 0.9})
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
    assert scorer.process_upload(record.object_key) is Outcome.SKIPPED
    assert objects.abandoned == {record.object_key}
