"""Every case of the hostile corpus ends cleanly: ``completed`` or ``failed`` with its code."""

from __future__ import annotations

import numpy as np
import pytest

from realtone_core.models import Status
from realtone_scorer.options import ScoringOptions
from realtone_scorer.uploads import Scorer
from tests.fakes import InMemoryAnalyses, InMemoryObjects, LoudnessDetector, Published, deliver
from tests.hostile import corpus

CASES = corpus()


class FiniteCheckingDetector(LoudnessDetector):
    def score(self, windows: np.ndarray) -> np.ndarray:
        assert np.isfinite(windows).all() and np.abs(windows).max() <= 1.0
        return super().score(windows)


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 40
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("name", "data", "expected"), CASES, ids=[c[0] for c in CASES])
def test_hostile_audio_ends_cleanly(name, data, expected):
    analyses, objects, published = InMemoryAnalyses(), InMemoryObjects(), Published()
    scorer = Scorer(ScoringOptions(), analyses, objects, published, FiniteCheckingDetector())
    record = analyses.add()
    objects.objects[record.object_key] = data
    deliver(scorer, record.object_key)
    done = analyses.rows[record.id]
    assert done.status in (Status.COMPLETED, Status.FAILED)
    assert (done.error_code or "completed") == expected, done.error_message
    assert published[-1].status == done.status
    if done.status == Status.FAILED:
        assert done.error_message
