"""Batching windows across messages: when the worker holds several uploads at once (a deep
queue on a GPU host), their windows share forward passes instead of each file running its
own small batches.

Each message is scored in its own thread through the one processing path; their calls to
``score`` meet here. The first caller to find no pass running becomes the leader: it waits
(briefly) until every upload still being decoded has asked too, or the pass is full, then
runs one forward pass for all waiting requests and hands each its scores.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from realtone_core.models import ModelCard
from realtone_scorer.pipeline import DetectorPort


@dataclass(eq=False)  # compared by identity: a request holds arrays
class _Request:
    windows: np.ndarray
    scores: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = field(default=False)


class PooledDetector:
    def __init__(
        self, inner: DetectorPort, max_windows: int, max_wait_seconds: float = 2.0
    ) -> None:
        self.inner = inner
        self.card: ModelCard = inner.card
        self.max_windows = max_windows
        self.max_wait = max_wait_seconds
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._running = False
        self._active = 0  # uploads in progress that may still ask for scores
        self.passes = 0

    @property
    def identity(self) -> str:
        return self.inner.identity

    def expect(self, uploads: int) -> None:
        """``uploads`` are about to be scored side by side: a leader may wait for them."""
        with self._cond:
            self._active += uploads

    def finished(self) -> None:
        """One expected upload is done (scored, failed or skipped): stop waiting for it."""
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def side_by_side(self, jobs: dict[str, Callable[[], None]]) -> Callable[[str], None]:
        """Start every job (one upload each) in a thread of its own, so their windows meet in
        shared forward passes. Returns ``wait(job_id)``, which waits for that job and raises
        its error: a caller that collects outcomes one by one (the BatchProcessor's partial
        batch failures) keeps working as ever."""

        def run(job: Callable[[], None]) -> None:
            try:
                job()
            finally:
                self.finished()

        self.expect(len(jobs))
        executor = ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="pooled-upload")
        futures = {
            ident: executor.submit(contextvars.copy_context().run, run, job)
            for ident, job in jobs.items()
        }
        executor.shutdown(wait=False)
        return lambda ident: futures[ident].result()

    def score(self, windows: np.ndarray) -> np.ndarray:
        request = _Request(windows)
        deadline = time.monotonic() + self.max_wait
        with self._cond:
            self._queue.append(request)
            self._cond.notify_all()
            while not request.done:
                queued = sum(len(r.windows) for r in self._queue)
                everyone_asked = len(self._queue) >= max(self._active, 1)
                ready = queued >= self.max_windows or everyone_asked or time.monotonic() >= deadline
                if not self._running and request in self._queue and ready:
                    self._lead()
                else:
                    self._cond.wait(
                        timeout=max(0.0, min(0.05, deadline - time.monotonic())) or 0.01
                    )
        if request.error is not None:
            raise request.error
        assert request.scores is not None
        return request.scores

    def _lead(self) -> None:
        """Run one pass for as many waiting requests as fit (called holding the lock)."""
        batch: list[_Request] = []
        total = 0
        for r in list(self._queue):
            if batch and total + len(r.windows) > self.max_windows:
                break
            batch.append(r)
            total += len(r.windows)
        for r in batch:
            self._queue.remove(r)
        self._running = True
        self._cond.release()
        try:
            try:
                scores = self.inner.score(np.concatenate([r.windows for r in batch]))
                self.passes += 1
                offset = 0
                for r in batch:
                    r.scores = scores[offset : offset + len(r.windows)]
                    offset += len(r.windows)
            except BaseException as exc:
                for r in batch:
                    r.error = exc
        finally:
            self._cond.acquire()
            self._running = False
            for r in batch:
                r.done = True
            self._cond.notify_all()
