"""The train → eval path on a few seconds of generated data (the quick version CI runs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from realtone_scorer import evaluate, train
from realtone_scorer.checkpoints import load_detector
from tests.audio import encode, speech

RATE = 16_000


def make_set(folder, files_per_class=8):
    """Bona fide: real speech, cut 4 ways into 'speakers'. Spoof: the same kind of audio with a
    vocoder-like buzz - an artefact a detector can learn."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,label,source,attack"]
    t = np.arange(int(4.0 * RATE)) / RATE
    for i in range(files_per_class):
        x = speech(4.0, RATE, seed=100 + i)[:, 0]
        (folder / f"real{i}.wav").write_bytes(encode(x, RATE, "WAV", "FLOAT"))
        rows.append(f"real{i}.wav,bonafide,speaker{i % 4},-")
        y = speech(4.0, RATE, seed=200 + i)[:, 0] * 0.9 + 0.05 * np.sign(np.sin(2 * np.pi * 97 * t))
        (folder / f"fake{i}.wav").write_bytes(encode(y.astype(np.float32), RATE, "WAV", "FLOAT"))
        rows.append(f"fake{i}.wav,spoof,tts{i % 4},{'buzz' if i % 2 else 'buzz2'}")
    (folder / "set.csv").write_text("\n".join(rows) + "\n")
    return folder / "set.csv"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("train")
    protocol = make_set(base / "data")
    args = [
        "--data",
        str(protocol),
        "--epochs",
        "4",
        "--batch-size",
        "4",
        "--unfreeze-layers",
        "-1",
        "--lr",
        "3e-3",
        "--seed",
        "5",
        "--no-progress",
        "--name",
        "ci-detector",
        "--version",
        "1",
    ]
    assert train.main([*args, "--out", str(base / "model-a")]) == 0
    assert train.main([*args, "--out", str(base / "model-b")]) == 0
    return base, protocol


def test_training_is_deterministic_and_loadable(trained):
    base, _ = trained
    a = json.loads((base / "model-a" / "train_report.json").read_text())
    b = json.loads((base / "model-b" / "train_report.json").read_text())
    assert a["sha256"] == b["sha256"]  # same seed, same weights
    assert a["history"] == b["history"]
    detector = load_detector(str(base / "model-a"), precision="fp32")
    assert detector.card.trained is True and detector.card.name == "ci-detector"
    assert detector.card.sha256 == a["sha256"]
    # Held-out sources never appear in training.
    assert a["held_out_sources"] and all(
        s.startswith(("speaker", "tts")) for s in a["held_out_sources"]
    )


def test_held_out_split_keeps_sources_whole():
    sources = ["s1", "s1", "s2", "s3", "s3", "s4", "t1", "t2", "t2", "t3"]
    spoof = np.array([False] * 6 + [True] * 4)
    held = train.split_by_source(sources, spoof, 0.3, seed=1)
    for source in set(sources):
        sides = {bool(h) for s, h in zip(sources, held, strict=True) if s == source}
        assert len(sides) == 1
    assert spoof[held].any() and (~spoof[held]).any()
    assert spoof[~held].any() and (~spoof[~held]).any()


def test_eval_reports_and_calibrates(trained, tmp_path, capsys):
    base, protocol = trained
    out = tmp_path / "report"
    uncalibrated = load_detector(str(base / "model-a"), precision="fp32")
    assert (
        evaluate.main(
            [
                "--model",
                str(base / "model-a"),
                "--protocol",
                str(protocol),
                "--out",
                str(out),
                "--calibrate",
                "--precision",
                "fp32",
                "--no-progress",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["files"] == 16 and report["bonafide"] == 8 and report["spoof"] == 8
    assert 0 <= report["eer"] <= 1 and 0 <= report["auc"] <= 1
    assert set(report["per_attack"]) == {"buzz", "buzz2"}
    assert (out / "det.png").stat().st_size > 1000 and (out / "scores.png").stat().st_size > 1000
    assert "EER" in printed and "files/s" in printed
    # A trained model on this easy artefact separates the classes well.
    assert report["eer"] <= 0.25, report
    calibrated = load_detector(str(base / "model-a"), precision="fp32")
    assert calibrated.card.calibrated is True
    # Same weights, new scores: results of the uncalibrated model must not be reused.
    assert calibrated.card.sha256 == uncalibrated.card.sha256
    assert calibrated.identity != uncalibrated.identity


def test_eval_refuses_bad_protocols(tmp_path, capsys):
    (tmp_path / "p.csv").write_text("file,kind\n")
    assert evaluate.main(["--protocol", str(tmp_path / "p.csv"), "--no-progress"]) == 2
    assert "path" in capsys.readouterr().err
