"""EER, AUC and calibration on score sets whose answers are known."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest

from realtone_scorer.calibration import Calibration, fit, logit
from realtone_scorer.metrics import auc, equal_error_rate
from realtone_scorer.protocol import ProtocolError, read_protocol


def labelled(bona, spoof):
    scores = np.array([*bona, *spoof], dtype=float)
    return scores, np.array([False] * len(bona) + [True] * len(spoof))


def test_perfect_separation():
    scores, spoof = labelled([0.1, 0.2, 0.3], [0.7, 0.8, 0.9])
    assert equal_error_rate(scores, spoof).eer == 0.0
    assert auc(scores, spoof) == 1.0


def test_no_information():
    scores, spoof = labelled([0.5] * 10, [0.5] * 10)
    assert equal_error_rate(scores, spoof).eer == pytest.approx(0.5)
    assert auc(scores, spoof) == pytest.approx(0.5)


def test_small_hand_computed_case():
    scores, spoof = labelled([0.1, 0.2, 0.3, 0.4], [0.35, 0.5, 0.6, 0.7])
    eer = equal_error_rate(scores, spoof)
    # Calling >= 0.4 spoof: one bona fide accepted (0.4), one spoof missed (0.35) -> 1/4 each.
    assert eer.eer == pytest.approx(0.25)
    assert eer.threshold == pytest.approx(0.4)
    assert auc(scores, spoof) == pytest.approx(15 / 16)


def test_gaussian_scores_give_the_theoretical_eer():
    rng = np.random.default_rng(7)
    scores, spoof = labelled(rng.normal(0, 1, 20_000), rng.normal(2, 1, 20_000))
    # Two unit Gaussians 2 apart cross at 1: EER = P(N(0,1) > 1) = 0.1587.
    assert equal_error_rate(scores, spoof).eer == pytest.approx(1 - NormalDist().cdf(1), abs=0.01)
    assert auc(scores, spoof) == pytest.approx(NormalDist().cdf(2 / np.sqrt(2)), abs=0.01)


def test_inverted_scores_are_bad_not_broken():
    scores, spoof = labelled([0.9, 0.8], [0.1, 0.2])
    assert equal_error_rate(scores, spoof).eer == pytest.approx(1.0)
    assert auc(scores, spoof) == 0.0


def test_calibration_recovers_a_known_mapping():
    rng = np.random.default_rng(3)
    raw = rng.uniform(0.01, 0.99, 50_000)
    # The truth: P(spoof | raw) = sigmoid(2 * logit(raw) - 1).
    truth = 1 / (1 + np.exp(-(2 * logit(raw) - 1)))
    spoof = rng.uniform(size=raw.size) < truth
    cal = fit(raw, spoof)
    assert cal.scale == pytest.approx(2.0, abs=0.1)
    assert cal.bias == pytest.approx(-1.0, abs=0.1)
    calibrated = cal.apply(raw)

    def log_loss(p):
        p = np.clip(p, 1e-9, 1 - 1e-9)
        return -np.mean(spoof * np.log(p) + (~spoof) * np.log(1 - p))

    assert log_loss(calibrated) < log_loss(raw)


def test_calibration_round_trips_and_keeps_ranking(tmp_path):
    cal = Calibration(scale=1.7, bias=-0.3, fitted_on=10)
    cal.save(tmp_path / "calibration.json")
    again = Calibration.load(tmp_path / "calibration.json")
    assert again == cal
    scores = np.array([0.1, 0.4, 0.6, 0.95])
    assert np.all(np.diff(again.apply(scores)) > 0)


def test_protocols(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.flac").write_bytes(b"x")
    (tmp_path / "proto.txt").write_text(
        "LA_0079 a - - bonafide\nLA_0080 b - A07 spoof\nLA_0080 c - A19 spoof\n"
    )
    items = read_protocol(tmp_path / "proto.txt")
    assert [(i.path.name, i.spoof, i.source, i.attack) for i in items] == [
        ("a.flac", False, "LA_0079", "-"),
        ("b.flac", True, "LA_0080", "A07"),
        ("c.flac", True, "LA_0080", "A19"),
    ]
    (tmp_path / "list.csv").write_text("path,label,source\na.flac,real,s1\nb.flac,fake,s2\n")
    items = read_protocol(tmp_path / "list.csv")
    assert [(i.spoof, i.source) for i in items] == [(False, "s1"), (True, "s2")]
    (tmp_path / "bad.csv").write_text("path,label\na.flac,maybe\n")
    with pytest.raises(ProtocolError, match="maybe"):
        read_protocol(tmp_path / "bad.csv")
    (tmp_path / "missing.txt").write_text("S x - - spoof\n")
    with pytest.raises(ProtocolError, match="no audio file"):
        read_protocol(tmp_path / "missing.txt")
