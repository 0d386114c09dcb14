"""Windows of several uploads share forward passes, and each gets exactly its own scores."""

from __future__ import annotations

import time
from functools import partial

import numpy as np
import pytest

from realtone_scorer.pooling import PooledDetector
from tests.fakes import LoudnessDetector


class SlowCounting(LoudnessDetector):
    def __init__(self) -> None:
        super().__init__()
        self.batch_sizes: list[int] = []

    def score(self, windows: np.ndarray) -> np.ndarray:
        self.batch_sizes.append(len(windows))
        time.sleep(0.05)
        return super().score(windows)


def test_concurrent_uploads_share_passes_and_get_their_own_scores():
    inner = SlowCounting()
    pool = PooledDetector(inner, max_windows=64)
    rng = np.random.default_rng(0)
    inputs = [rng.uniform(-0.5, 0.5, (3 + i, 1000)).astype(np.float32) for i in range(6)]
    results: dict[int, np.ndarray] = {}

    def upload(i: int) -> None:
        time.sleep(0.01 * i)  # decoding takes different times
        results[i] = pool.score(inputs[i])

    wait = pool.side_by_side({str(i): partial(upload, i) for i in range(6)})
    for i in range(6):
        wait(str(i))
    for i, windows in enumerate(inputs):
        assert np.array_equal(results[i], LoudnessDetector().score(windows))
    assert pool.passes < 6  # fewer passes than uploads
    assert sum(inner.batch_sizes) == sum(len(w) for w in inputs)
    assert max(inner.batch_sizes) <= 64


def test_a_pass_never_exceeds_the_limit_and_a_lone_upload_does_not_wait():
    inner = SlowCounting()
    pool = PooledDetector(inner, max_windows=8, max_wait_seconds=5)
    started = time.monotonic()
    pool.side_by_side({"alone": lambda: pool.score(np.zeros((5, 100), np.float32) + 0.1)})("alone")
    assert time.monotonic() - started < 1  # nobody else to wait for
    outs: list[np.ndarray] = []

    def upload() -> None:
        outs.append(pool.score(np.zeros((5, 100), np.float32) + 0.2))

    wait = pool.side_by_side({str(i): upload for i in range(3)})
    for i in range(3):
        wait(str(i))
    assert len(outs) == 3 and all(len(o) == 5 for o in outs)
    assert max(inner.batch_sizes) <= 8


def test_a_failed_upload_raises_when_its_outcome_is_collected():
    pool = PooledDetector(LoudnessDetector(), max_windows=8)

    def broken() -> None:
        raise ValueError("decoding failed")

    wait = pool.side_by_side({"ok": lambda: None, "bad": broken})
    wait("ok")
    with pytest.raises(ValueError, match="decoding failed"):
        wait("bad")


def test_a_failed_pass_fails_each_caller():
    inner = LoudnessDetector(fail_times=1)
    pool = PooledDetector(inner, max_windows=8)
    with pytest.raises(RuntimeError, match="simulated"):
        pool.score(np.zeros((2, 10), np.float32))
    assert len(pool.score(np.zeros((2, 10), np.float32))) == 2  # the next pass works
