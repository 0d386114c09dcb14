"""Detection metrics on per-file scores (higher = more likely spoof)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EER:
    eer: float
    threshold: float


def roc_points(scores: np.ndarray, spoof: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-accept (bona fide called spoof) and miss (spoof called bona fide) rates at every
    threshold: a file is called spoof when ``score >= threshold``."""
    scores = np.asarray(scores, dtype=np.float64)
    spoof = np.asarray(spoof, dtype=bool)
    if spoof.all() or not spoof.any():
        raise ValueError("need both bona fide and spoof scores")
    thresholds = np.concatenate([np.unique(scores), [np.inf]])
    n_bona, n_spoof = int((~spoof).sum()), int(spoof.sum())
    order = np.sort
    bona_sorted, spoof_sorted = order(scores[~spoof]), order(scores[spoof])
    # Counts of scores >= t via binary search: O(n log n) for all thresholds.
    false_accept = (n_bona - np.searchsorted(bona_sorted, thresholds, side="left")) / n_bona
    miss = np.searchsorted(spoof_sorted, thresholds, side="left") / n_spoof
    return thresholds, false_accept, miss


def equal_error_rate(scores: np.ndarray, spoof: np.ndarray) -> EER:
    thresholds, fa, miss = roc_points(scores, spoof)
    i = int(np.argmin(np.abs(fa - miss)))
    # Between two thresholds the rates cross; the EER is taken where they are closest,
    # averaging the two rates there.
    return EER(float((fa[i] + miss[i]) / 2), float(thresholds[i]))


def auc(scores: np.ndarray, spoof: np.ndarray) -> float:
    """Probability that a random spoof file scores above a random bona fide one (ties: ½)."""
    scores = np.asarray(scores, dtype=np.float64)
    spoof = np.asarray(spoof, dtype=bool)
    ranks = _average_ranks(scores)
    n_spoof, n_bona = int(spoof.sum()), int((~spoof).sum())
    return float((ranks[spoof].sum() - n_spoof * (n_spoof + 1) / 2) / (n_spoof * n_bona))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks
