"""The shipped detector's build on seconds of data (the quick path CI keeps): corpus → train →
measure → model folder → `realtone eval`, and the folder's integrity checks."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from detector import build, corpus, report
from realtone_scorer import evaluate
from realtone_scorer.checkpoints import load_detector
from realtone_scorer.families.base import ModelLoadError
from tests.audio import speech


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("detector")
    assert corpus.main(["--quick", "--out", str(base / "corpus")]) == 0
    args = [
        "--corpus", str(base / "corpus"),
        "--out", str(base / "model"),
        "--report", str(base / "report.json"),
        "--work", str(base / "work"),
        "--skip-published",
        "--version", "ci",
    ]  # fmt: skip
    assert build.main(args) == 0
    return base


def test_the_build_writes_a_trained_calibrated_folder_the_scorer_loads(built):
    detector = load_detector(str(built / "model"), precision="fp32")
    card = detector.card
    assert card.trained and card.calibrated and card.name == "realtone-detector"
    assert card.threshold is not None and 0.5 <= card.threshold < 1
    assert card.members and card.members[0]["family"] == "whisper"
    scores = detector.score(np.stack([speech(4.0, seed=i)[:, 0] for i in range(3)]))
    assert scores.shape == (3,) and np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()


def test_the_report_measures_every_split_and_left_out_family(built):
    figures = json.loads((built / "report.json").read_text())
    assert figures["shipped"] in ("whisper", "fusion")
    for split in ("test", "test_channel"):
        shipped = figures[split][figures["shipped"]]
        assert {"eer", "false_alarm_rate", "miss_rate"} <= set(shipped)
    assert figures["leave_one_family_out"]
    page = report.render(figures)
    assert "leave one family out" in page and "What it has never heard" in page


def test_eval_of_the_folder_writes_scores_and_rates_at_its_threshold(built, capsys):
    out = built / "eval"
    protocol = built / "corpus" / "protocol_test.csv"
    args = ["--model", str(built / "model"), "--protocol", str(protocol)]
    assert evaluate.main([*args, "--out", str(out), "--no-progress", "--precision", "fp32"]) == 0
    result = json.loads((out / "report.json").read_text())
    card = json.loads((built / "model" / "model_card.json").read_text())
    assert result["threshold"] == pytest.approx(card["threshold"])
    assert 0 <= result["false_alarm_rate"] <= 1 and 0 <= result["miss_rate"] <= 1
    with (out / "scores.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) == {"path", "label", "attack", "score", "verdict"}
    assert {r["verdict"] for r in rows} <= {"fake", "likely_fake", "real", "inconclusive"}
    assert "false alarms" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["flip", "truncate", "drop-licence", "extra-file"])
def test_a_damaged_folder_stops_the_scorer_naming_the_file(built, tmp_path, damage):
    folder = tmp_path / "model"
    shutil.copytree(built / "model", folder)
    weights = next(folder.glob("whisper-head/*.pt"))
    if damage == "flip":
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
        named = weights.name
    elif damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:100])
        named = weights.name
    elif damage == "extra-file":
        (folder / "whisper-head" / "sneaky.pt").write_bytes(b"x")
        named = "sneaky.pt"
    else:
        licences = list(folder.glob("*/LICENSE"))
        if not licences:
            pytest.skip("the quick build shipped no AASIST member")
        licences[0].unlink()
        named = "LICENSE"
    with pytest.raises(ModelLoadError, match=named):
        load_detector(str(folder), precision="fp32")
