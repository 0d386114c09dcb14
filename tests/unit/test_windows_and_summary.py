import numpy as np
import pytest

from realtone_core.errors import AudioError
from realtone_core.models import Chunk
from realtone_scorer.options import ScoringOptions
from realtone_scorer.summary import summarize
from realtone_scorer.windows import plan_windows, window_samples

RATE = 16_000


def plan(seconds: float | np.ndarray, hop: float = 4.0):
    x = (
        seconds
        if isinstance(seconds, np.ndarray)
        else 0.3 * np.ones(round(seconds * RATE), np.float32)
    )
    return plan_windows(x, RATE, ScoringOptions(hop_seconds=hop))


def spans(windows):
    return [(w.start / RATE, w.end / RATE) for w in windows]


def test_windows_follow_the_tail_rule():
    assert spans(plan(10.3)) == [(0, 4), (4, 8), (8, 10.3)]
    # A 0.3-s tail is shorter than 0.5 s and is dropped.
    assert spans(plan(8.3)) == [(0, 4), (4, 8)]
    assert spans(plan(8.5)) == [(0, 4), (4, 8), (8, 8.5)]
    assert spans(plan(0.6)) == [(0, 0.6)]
    assert spans(plan(8.0)) == [(0, 4), (4, 8)]


def test_hop_is_configurable():
    assert spans(plan(8.0, hop=2.0)) == [(0, 4), (2, 6), (4, 8)]


def test_short_and_empty_audio_are_refused():
    with pytest.raises(AudioError) as short:
        plan(0.4)
    assert short.value.code == "too_short"
    for empty in (np.zeros(0, np.float32), np.zeros(RATE * 5, np.float32)):
        with pytest.raises(AudioError) as err:
            plan(empty)
        assert err.value.code == "empty_audio"


def test_silent_windows_are_unvoiced():
    x = np.concatenate([0.3 * np.ones(4 * RATE), 1e-5 * np.ones(4 * RATE)]).astype(np.float32)
    assert [w.voiced for w in plan(x)] == [True, False]


def test_tail_is_repeat_padded_to_a_full_window():
    x = np.arange(int(4.5 * RATE), dtype=np.float32) / 1e6 + 0.1
    tail = plan(x)[1]
    padded = window_samples(x, tail, 4 * RATE)
    assert len(padded) == 4 * RATE
    real = x[4 * RATE :]
    assert np.array_equal(padded[: len(real)], real)
    assert np.array_equal(padded[len(real) : 2 * len(real)], real)


def chunks(*scores):
    return [
        Chunk(
            chunk_id=i,
            start_time_seconds=4 * i,
            end_time_seconds=4 * i + 4,
            score=s,
            voiced=s is not None,
        )
        for i, s in enumerate(scores)
    ]


def test_verdicts():
    assert summarize(chunks(0.9, 0.8, 0.1, 0.2), 0.5).verdict == "fake"
    assert summarize(chunks(0.9, 0.1, 0.2), 0.5).verdict == "likely_fake"
    assert summarize(chunks(0.1, 0.2, 0.49), 0.5).verdict == "real"
    assert summarize(chunks(None, None), 0.5).verdict == "inconclusive"
    # The threshold itself counts as fake.
    assert summarize(chunks(0.5, 0.1), 0.5).verdict == "fake"


def test_summary_figures_ignore_unvoiced_windows():
    s = summarize(chunks(0.9, None, 0.3, 0.6, 0.0, 0.2, 0.1), 0.5)
    assert s.max_score == 0.9
    assert s.mean_score == pytest.approx((0.9 + 0.3 + 0.6 + 0.0 + 0.2 + 0.1) / 6)
    # Top third of six voiced scores = the best two.
    assert s.score == pytest.approx((0.9 + 0.6) / 2)
    assert s.fake_chunk_ratio == pytest.approx(2 / 6)
    empty = summarize(chunks(None), 0.7)
    assert (empty.score, empty.threshold) == (None, 0.7)


def test_inconclusive_band_around_the_threshold():
    near = chunks(0.55, 0.3, 0.1, 0.2)  # one fake window of four; score = (0.55 + 0.3) / 2
    assert summarize(near, 0.5).verdict == "likely_fake"
    assert summarize(near, 0.5, inconclusive_band=0.1).verdict == "inconclusive"
    assert summarize(chunks(0.9, 0.95), 0.5, inconclusive_band=0.1).verdict == "fake"
