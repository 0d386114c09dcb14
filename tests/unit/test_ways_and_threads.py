"""Choosing how a detector runs by measuring it, and sizing thread pools to the container."""

from __future__ import annotations

import numpy as np
import torch

from realtone_core.models import ModelCard
from realtone_scorer import ways
from realtone_scorer.checkpoints import build_dev_tiny
from realtone_scorer.detector import Detector
from realtone_scorer.families.base import DetectorNet
from realtone_scorer.threads import cpu_count
from tests.audio import speech

CARD = ModelCard(name="t", version="1", sha256="0" * 64, trained=False)


class Jumpy(DetectorNet):
    """A member whose bf16 run moves scores a lot: the probe must refuse that way."""

    family = "jumpy"

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1.0))

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        return windows[:, :8]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        bump = 3.0 if features.dtype == torch.bfloat16 else 0.0
        return (features.float().sum(dim=1) * self.scale + bump).to(features.dtype)


def test_the_probe_times_every_way_and_keeps_fp32_exact():
    detector = Detector.prepare(build_dev_tiny(), CARD, "cpu", "auto")
    (choice,) = detector.probe
    assert set(choice.seconds) == set(ways.WAYS)
    assert choice.way in ways.WAYS and choice.seconds[choice.way] is not None
    fastest = min(s for s in choice.seconds.values() if s is not None)
    assert choice.seconds[choice.way] == fastest
    assert detector.card.runtime == choice.way
    reference = Detector.prepare(build_dev_tiny(), CARD, "cpu", "fp32")
    windows = np.stack([speech(4.0, seed=i)[:, 0] for i in range(3)])
    assert np.abs(detector.score(windows) - reference.score(windows)).max() <= ways.TOLERANCE


def test_a_way_that_moves_scores_past_the_tolerance_is_never_chosen(monkeypatch):
    # Jumpy is so small that an ONNX way can beat fp32 by more than bf16 ever could, and bf16
    # would then be skipped untried; make sure it is tried, so its score change is judged.
    monkeypatch.setattr(ways, "BF16_BEST_SPEEDUP", float("inf"))
    detector = Detector.prepare(Jumpy(), CARD, "cpu", "auto")
    (choice,) = detector.probe
    assert choice.seconds["bf16"] is None and "scores move" in choice.notes["bf16"]
    assert choice.way != "bf16"


def test_a_forced_way_skips_the_probe_and_is_part_of_the_identity():
    forced = Detector.prepare(build_dev_tiny(), CARD, "cpu", "onnx-fp32")
    assert forced.probe is None and forced.ways == ["onnx-fp32"]
    fp32 = Detector.prepare(build_dev_tiny(), CARD, "cpu", "fp32")
    assert forced.identity != fp32.identity  # reuse never mixes results of two ways
    windows = ways.probe_windows(2)
    assert np.abs(forced.score(windows) - fp32.score(windows)).max() < 1e-4


def test_cpu_count_follows_the_cgroup_quota(tmp_path):
    v2 = tmp_path / "cpu.max"
    v1 = (tmp_path / "quota", tmp_path / "period")
    v2.write_text("150000 100000\n")
    assert cpu_count(v2, v1) == min(2, cpu_count(tmp_path / "none", v1))
    v2.write_text("50000 100000\n")
    assert cpu_count(v2, v1) == 1
    v2.write_text("max 100000\n")
    unlimited = cpu_count(v2, v1)
    assert unlimited >= 1
    v1[0].write_text("100000")
    v1[1].write_text("100000")
    assert cpu_count(tmp_path / "none", v1) == 1
