"""``make detector``: train the shipped detector on the offline corpus, measure it honestly,
and write the model folder and its report.

1. Every corpus file is cut into its voiced 4-s windows as the scorer cuts uploads.
2. Frozen front ends see every window once (cached): the Whisper tiny.en encoder's pooled
   hidden-state statistics and the published AASIST-L's readout.
3. Members: a head on the Whisper statistics (layers and width chosen on the dev split) and a
   new output layer on the AASIST-L readout (AASIST fine-tuned at its last layer). Each is
   trained on the train split with early stopping on dev.
4. Fusion: logistic regression of the members' logits on dev; calibration (Platt) of the
   fused score on dev; the verdict threshold: the lowest whose file-level false alarms on dev
   bona fide speech stay within the target.
5. Measured on speakers, voices and channels never used in 1-4: the ``test`` split (held-out
   speakers and voices) and ``test_channel`` (held-out codecs), leave-one-generator-family-out
   (members, fusion, calibration and threshold all retrained without the family), each
   member against the fusion, and the published AASIST checkpoints on the same files.

Deterministic for a ``--seed``. Writes ``models/realtone-detector`` (or ``--out``) and
``report.json`` beside ``--report``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from detector.dataset import CorpusFile, Windows, cut, manifest_key, read_manifest
from detector.features import (
    ALL_LAYERS,
    aasist_readouts,
    cached,
    published_aasist_logits,
    whisper_columns,
    whisper_embeddings,
)
from detector.heads import Head, HeadOptions, file_scores, fit_logistic, sigmoid, train_head
from realtone_scorer.calibration import Calibration, fit
from realtone_scorer.detector import Fusion
from realtone_scorer.families.aasist import load_aasist
from realtone_scorer.families.whisper import WhisperHeadConfig, WhisperNet, load_whisper_encoder
from realtone_scorer.metrics import equal_error_rate
from realtone_scorer.model_folder import Member, models_dir, write_model_folder
from realtone_scorer.options import ScoringOptions
from realtone_scorer.threads import size_torch

FAMILIES = ("neural", "statistical", "diphone", "formant", "vocoder", "codec", "griffinlim", "lpc")
AASIST_VARIANT = "AASIST-L"
# Largest share of dev bona fide files that may be called fake or likely fake at the threshold.
DEV_FALSE_ALARM_TARGET = 0.03
WHISPER_CANDIDATES = (
    (WhisperHeadConfig(layers=(2, 4)), HeadOptions()),
    (WhisperHeadConfig(layers=ALL_LAYERS), HeadOptions()),
    (WhisperHeadConfig(layers=ALL_LAYERS, hidden=128), HeadOptions(hidden=128)),
)


@dataclass
class Data:
    files: list[CorpusFile]
    windows: Windows
    spoof: np.ndarray  # per window
    family: np.ndarray  # per window: generator family or "bonafide"
    split: np.ndarray  # per window
    whisper: np.ndarray  # per window, every layer's statistics
    aasist: np.ndarray  # per window, AASIST-L readout


@dataclass
class Heads:
    """The members, each trained on the train split with early stopping on dev."""

    whisper_config: WhisperHeadConfig
    whisper: Head
    aasist: Head
    dev_eer: dict[str, float]

    def logits(self, data: Data, mask: np.ndarray, members: tuple[str, ...]) -> np.ndarray:
        columns = {
            "whisper": lambda: self.whisper.logits(
                data.whisper[mask][:, whisper_columns(self.whisper_config.layers)]
            ),
            "aasist": lambda: self.aasist.logits(data.aasist[mask]),
        }
        return np.stack([columns[m]() for m in members], axis=1)


@dataclass
class Trained:
    """A detector made of ``members``: fusion, calibration and threshold fitted on dev."""

    heads: Heads
    members: tuple[str, ...]
    fusion: Fusion
    calibration: Calibration
    threshold: float
    dev_eer: float

    def member_logits(self, data: Data, mask: np.ndarray) -> np.ndarray:
        return self.heads.logits(data, mask, self.members)

    def probabilities(self, data: Data, mask: np.ndarray) -> np.ndarray:
        fused = self.fusion.combine(self.member_logits(data, mask))
        return self.calibration.apply(sigmoid(fused))


# The detectors compared: the Whisper member alone, and its fusion with fine-tuned AASIST-L.
CONFIGURATIONS = {"whisper": ("whisper",), "fusion": ("whisper", "aasist")}


def load_data(corpus: Path, work: Path, options: ScoringOptions) -> Data:
    files = read_manifest(corpus)
    key = manifest_key(corpus, options)
    windows_path = work / f"windows-{key}.npz"
    if windows_path.exists():
        saved = np.load(windows_path)
        windows = Windows(files, saved["samples"], saved["owner"])
    else:
        windows = cut(files, options)
        work.mkdir(parents=True, exist_ok=True)
        np.savez(windows_path, samples=windows.samples, owner=windows.owner)
    owner = windows.owner
    print(f"{len(files)} files, {len(owner)} voiced windows", file=sys.stderr)
    whisper = cached(work / f"whisper-{key}.npy", lambda: whisper_embeddings(windows.samples))
    aasist = cached(
        work / f"aasist-l-{key}.npy", lambda: aasist_readouts(windows.samples, AASIST_VARIANT)
    )
    return Data(
        files=files,
        windows=windows,
        spoof=np.array([files[i].spoof for i in owner], dtype=bool),
        family=np.array([files[i].family for i in owner]),
        split=np.array([files[i].split for i in owner]),
        whisper=whisper,
        aasist=aasist,
    )


def _dev_threshold(probabilities: np.ndarray, owner: np.ndarray, bona: np.ndarray) -> float:
    """The lowest threshold at which at most the target share of dev bona fide files has a
    window at or over it (so is called fake or likely fake)."""
    scores = file_scores(probabilities[bona], owner[bona])
    ranked = np.sort(scores.max_score)[::-1]
    allowed = int(np.floor(DEV_FALSE_ALARM_TARGET * len(ranked)))
    # Just over the (allowed+1)-th highest bona fide maximum, and never below one half.
    edge = ranked[min(allowed, len(ranked) - 1)]
    return float(min(max(np.nextafter(edge, 1.0), 0.5), 0.99))


def train_heads(data: Data, train_mask: np.ndarray, dev_mask: np.ndarray, seed: int) -> Heads:
    y, y_dev = data.spoof[train_mask], data.spoof[dev_mask]
    best: tuple[float, WhisperHeadConfig, Head] | None = None
    for config, options in WHISPER_CANDIDATES:
        columns = whisper_columns(config.layers)
        head, eer = train_head(
            data.whisper[train_mask][:, columns],
            y,
            data.whisper[dev_mask][:, columns],
            y_dev,
            options,
            seed,
        )
        if best is None or eer < best[0]:
            best = (eer, config, head)
    assert best is not None
    aasist_head, aasist_eer = train_head(
        data.aasist[train_mask], y, data.aasist[dev_mask], y_dev, HeadOptions(), seed
    )
    return Heads(best[1], best[2], aasist_head, {"whisper": best[0], "aasist": aasist_eer})


def train(data: Data, excluded: tuple[str, ...], seed: int) -> dict[str, Trained]:
    """Every configuration, trained and fitted without the ``excluded`` families."""
    keep = ~np.isin(data.family, excluded)
    train_mask = (data.split == "train") & keep
    dev_mask = (data.split == "dev") & keep
    y_dev = data.spoof[dev_mask]
    heads = train_heads(data, train_mask, dev_mask, seed)
    out = {}
    for name, members in CONFIGURATIONS.items():
        dev_logits = heads.logits(data, dev_mask, members)
        weights, bias = fit_logistic(dev_logits, y_dev)
        fusion = Fusion(tuple(float(w) for w in weights), bias)
        calibration = fit(sigmoid(fusion.combine(dev_logits)), y_dev)
        trained = Trained(heads, members, fusion, calibration, 0.5, 1.0)
        probabilities = trained.probabilities(data, dev_mask)
        trained.threshold = _dev_threshold(probabilities, data.windows.owner[dev_mask], ~y_dev)
        trained.dev_eer = equal_error_rate(probabilities, y_dev).eer
        out[name] = trained
    return out


# --- measuring ---------------------------------------------------------------------------------


def measure(
    window_scores: np.ndarray, spoof: np.ndarray, owner: np.ndarray, threshold: float | None
) -> dict[str, Any]:
    """File-level figures: EER on the summary score; at the threshold, the share of bona fide
    files called fake or likely fake and the share of spoofed files not called either."""
    files = file_scores(window_scores, owner)
    file_spoof = np.array([spoof[owner == f][0] for f in files.files], dtype=bool)
    result: dict[str, Any] = {
        "bonafide_files": int((~file_spoof).sum()),
        "spoof_files": int(file_spoof.sum()),
    }
    if file_spoof.any() and (~file_spoof).any():
        eer = equal_error_rate(files.score, file_spoof)
        result["eer"] = round(eer.eer, 4)
    if threshold is not None:
        called = files.called_fake(threshold)
        if (~file_spoof).any():
            result["false_alarm_rate"] = round(float(called[~file_spoof].mean()), 4)
        if file_spoof.any():
            result["miss_rate"] = round(float((~called[file_spoof]).mean()), 4)
    return result


def evaluate(
    data: Data, configurations: dict[str, Trained], split: str, families: tuple[str, ...] = ()
) -> dict[str, Any]:
    """File-level figures of each configuration and of each member alone (EER only: a member
    alone has no threshold of its own)."""
    mask = data.split == split
    if families:
        mask &= ~data.spoof | np.isin(data.family, families)
    owner, spoof = data.windows.owner[mask], data.spoof[mask]
    out = {
        name: measure(trained.probabilities(data, mask), spoof, owner, trained.threshold)
        for name, trained in configurations.items()
    }
    heads = next(iter(configurations.values())).heads
    for member in ("whisper", "aasist"):
        logits = heads.logits(data, mask, (member,))[:, 0]
        out[f"{member}_member"] = measure(logits, spoof, owner, None)
    return out


def per_family(
    data: Data,
    scores: np.ndarray,
    mask: np.ndarray,
    threshold: float | None,
    families: tuple[str, ...],
) -> dict[str, Any]:
    out = {}
    for family in families:
        subset = mask & (~data.spoof | (data.family == family))
        if (data.spoof & subset).any():
            out[family] = measure(
                scores[subset[mask]], data.spoof[subset], data.windows.owner[subset], threshold
            )
    return out


def published_figures(
    data: Data, corpus: Path, work: Path, options: ScoringOptions
) -> dict[str, Any]:
    """The authors' checkpoints as published, on the same test files, at their own operating
    point (spoof when the spoof class wins: probability 0.5)."""
    key = manifest_key(corpus, options)
    # AASIST-L's published logits follow from the cached readouts and its own output layer.
    out_layer = load_aasist(models_dir() / "aasist", AASIST_VARIANT).net.out_layer
    with torch.no_grad():
        two = out_layer(torch.from_numpy(data.aasist.astype(np.float32))).double().numpy()
    logits_l = two[:, 0] - two[:, 1]
    figures: dict[str, Any] = {"AASIST": {}, "AASIST-L": {}}
    for split in ("test", "test_channel"):
        mask = data.split == split
        samples = data.windows.samples[mask]
        full = cached(
            work / f"published-AASIST-{split}-{key}.npy",
            partial(published_aasist_logits, samples, "AASIST"),
        )
        for variant, logits in (("AASIST", full), ("AASIST-L", logits_l[mask])):
            figures[variant][split] = measure(
                sigmoid(logits), data.spoof[mask], data.windows.owner[mask], 0.5
            )
    return figures


# --- writing -----------------------------------------------------------------------------------


def choose(report: dict[str, Any], families: tuple[str, ...]) -> str:
    """Ship the fusion only where it measures better than the Whisper member alone: on the
    held-out test split and on average over the leave-one-family-out folds."""
    logo = report["leave_one_family_out"]

    def mean_logo(name: str) -> float:
        eers = [logo[f]["test"][name]["eer"] for f in families if "test" in logo[f]]
        return float(np.mean(eers)) if eers else 0.0

    better_test = report["test"]["fusion"]["eer"] <= report["test"]["whisper"]["eer"]
    better_logo = mean_logo("fusion") <= mean_logo("whisper")
    return "fusion" if better_test and better_logo else "whisper"


def shipped_members(trained: Trained) -> list[Member]:
    heads = trained.heads
    encoder = load_whisper_encoder()
    whisper = WhisperNet(heads.whisper_config, encoder)
    head = heads.whisper
    whisper.head.center.copy_(torch.from_numpy(head.center.astype(np.float32)))
    whisper.head.scale.copy_(torch.from_numpy(head.scale.astype(np.float32)))
    whisper.head.net.load_state_dict(head.net.state_dict())
    members = [Member("whisper-head", whisper)]
    if "aasist" not in trained.members:
        return members
    aasist = load_aasist(models_dir() / "aasist", AASIST_VARIANT)
    # The new output layer, with the readout's standardisation folded in; spoof logit = l0-l1.
    linear = heads.aasist.net
    assert isinstance(linear, torch.nn.Linear)
    w = linear.weight.detach().double().numpy()[0] / heads.aasist.scale
    b = float(linear.bias.detach()[0]) - float(w @ heads.aasist.center)
    with torch.no_grad():
        aasist.net.out_layer.weight.copy_(torch.from_numpy(np.stack([w / 2, -w / 2])).float())
        aasist.net.out_layer.bias.copy_(torch.tensor([b / 2, -b / 2]))
    return [*members, Member("aasist-l-ft", aasist, AASIST_VARIANT)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m detector.build",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--corpus", type=Path, default=Path(".local/corpus"))
    parser.add_argument("--out", type=Path, default=Path("models/realtone-detector"))
    parser.add_argument("--report", type=Path, default=Path("docs/detector/report.json"))
    parser.add_argument("--work", type=Path, default=Path(".local/detector-build"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--version", default=time.strftime("%Y.%m.%d"))
    parser.add_argument("--skip-published", action="store_true", help="skip the AASIST comparison")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    size_torch()
    torch.manual_seed(args.seed)
    options = ScoringOptions()
    data = load_data(args.corpus, args.work, options)

    configurations = train(data, (), args.seed)
    families = tuple(f for f in FAMILIES if f in set(data.family))
    report: dict[str, Any] = {
        "corpus": json.loads((args.corpus / "summary.json").read_text()),
        "windows": {s: int((data.split == s).sum()) for s in np.unique(data.split)},
        "whisper_head": asdict(configurations["whisper"].heads.whisper_config),
        "member_dev_window_eer": configurations["whisper"].heads.dev_eer,
        "configurations": {
            name: {
                "members": list(t.members),
                "fusion": {"weights": list(t.fusion.weights), "bias": t.fusion.bias},
                "calibration": {"scale": t.calibration.scale, "bias": t.calibration.bias},
                "threshold": t.threshold,
                "dev_window_eer": t.dev_eer,
            }
            for name, t in configurations.items()
        },
    }
    for split in ("test", "test_channel"):
        mask = data.split == split
        report[split] = evaluate(data, configurations, split)
        report[split]["per_family"] = {
            name: per_family(data, t.probabilities(data, mask), mask, t.threshold, families)
            for name, t in configurations.items()
        }
    logo: dict[str, Any] = {}
    for family in families:
        others = (data.split == "train") & data.spoof & (data.family != family)
        if not others.any():
            logo[family] = {"skipped": "no other generator family to train on"}
            continue
        folds = train(data, (family,), args.seed)
        logo[family] = {
            "test": evaluate(data, folds, "test", (family,)),
            "test_channel": evaluate(data, folds, "test_channel", (family,)),
            "threshold": {name: t.threshold for name, t in folds.items()},
        }
        print(f"  leave out {family}: {logo[family]['test']}", file=sys.stderr)
    report["leave_one_family_out"] = logo
    if not args.skip_published:
        report["published_aasist"] = published_figures(data, args.corpus, args.work, options)

    shipped = choose(report, families)
    report["shipped"] = shipped
    trained = configurations[shipped]
    card = {
        "name": "realtone-detector",
        "version": args.version,
        "family": "fusion" if len(trained.members) > 1 else trained.members[0],
        "trained": True,
        "trained_on": (
            "RealTone offline corpus (make corpus): real speech from Debian packages against"
            f" {', '.join(families)} synthesis, all through one random channel chain"
        ),
        "threshold": trained.threshold,
        "metrics": {
            "test_eer": report["test"][shipped].get("eer"),
            "test_false_alarm_rate": report["test"][shipped].get("false_alarm_rate"),
            "test_channel_eer": report["test_channel"][shipped].get("eer"),
            "leave_one_family_out_eer": {
                f: logo[f]["test"][shipped].get("eer") for f in families if "test" in logo[f]
            },
        },
    }
    sha = write_model_folder(
        args.out, shipped_members(trained), trained.fusion, trained.calibration, card
    )
    report["model"] = {"path": str(args.out), "sha256": sha}
    report["seconds"] = round(time.perf_counter() - started)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("test", "test_channel", "shipped")}, indent=1))
    print(f"wrote {args.out} ({sha[:12]}) and {args.report} in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
