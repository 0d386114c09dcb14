"""``realtone eval``: the service's detection quality on a labelled set.

Every file is scored exactly as the service scores an upload (same decoding, windowing,
voice activity and top-third aggregation), so the figures are the service's figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from realtone_core.errors import AudioError
from realtone_scorer.calibration import fit
from realtone_scorer.checkpoints import calibration_path, load_detector
from realtone_scorer.metrics import auc, equal_error_rate, roc_points
from realtone_scorer.options import ScoringOptions
from realtone_scorer.pipeline import DetectorPort, score_file
from realtone_scorer.protocol import Item, ProtocolError, read_protocol
from realtone_scorer.settings import DEFAULT_MODEL


@dataclass
class Scored:
    items: list[Item] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    inconclusive: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def score_items(
    items: list[Item],
    options: ScoringOptions,
    detector: DetectorPort,
    progress: bool,
    batch_size: int = 8,
) -> Scored:
    out = Scored()
    started = time.perf_counter()
    bar = _progress(items, progress, "scoring")
    for item in bar:
        try:
            result = score_file(item.path, options, detector, batch_size)
        except AudioError as exc:
            out.failed[str(item.path)] = exc.code
            continue
        if result.summary.score is None:
            out.inconclusive.append(str(item.path))
            continue
        out.items.append(item)
        out.scores.append(result.summary.score)
        out.verdicts.append(result.summary.verdict)
    out.seconds = time.perf_counter() - started
    return out


def _progress(items: list[Item], enabled: bool, what: str) -> Any:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=what, unit="file", file=sys.stderr)


def report(scored: Scored, files: int, threshold: float) -> dict[str, Any]:
    scores = np.array(scored.scores)
    spoof = np.array([i.spoof for i in scored.items], dtype=bool)
    # What a user is told at the shipped threshold: fake or likely fake, or not.
    called = np.array([v in ("fake", "likely_fake") for v in scored.verdicts], dtype=bool)
    overall = equal_error_rate(scores, spoof)
    per_attack: dict[str, dict[str, float]] = {}
    by_attack: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(scored.items):
        if item.spoof:
            by_attack[item.attack].append(index)
    bona = np.flatnonzero(~spoof)
    for attack, indexes in sorted(by_attack.items()):
        subset = np.concatenate([bona, np.array(indexes)])
        eer = equal_error_rate(scores[subset], spoof[subset])
        per_attack[attack] = {"eer": eer.eer, "threshold": eer.threshold, "files": len(indexes)}
    return {
        "files": files,
        "scored": len(scored.items),
        "bonafide": int((~spoof).sum()),
        "spoof": int(spoof.sum()),
        "eer": overall.eer,
        "eer_threshold": overall.threshold,
        "auc": auc(scores, spoof),
        "per_attack": per_attack,
        "threshold": threshold,
        "false_alarm_rate": float(called[~spoof].mean()),
        "miss_rate": float((~called[spoof]).mean()),
        "files_per_second": files / scored.seconds if scored.seconds else None,
        "inconclusive": scored.inconclusive,
        "failed": scored.failed,
        "score_median": {
            "bonafide": statistics.median(scores[~spoof].tolist()),
            "spoof": statistics.median(scores[spoof].tolist()),
        },
    }


def write_scores(scored: Scored, path: Path) -> None:
    """One line per scored file: ``path,label,attack,score,verdict``."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "attack", "score", "verdict"])
        for item, score, verdict in zip(scored.items, scored.scores, scored.verdicts, strict=True):
            label = "spoof" if item.spoof else "bonafide"
            writer.writerow([str(item.path), label, item.attack, f"{score:.6f}", verdict])


def write_plots(scored: Scored, out_dir: Path, title: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from statistics import NormalDist

    import matplotlib.pyplot as plt

    scores = np.array(scored.scores)
    spoof = np.array([i.spoof for i in scored.items], dtype=bool)
    _, fa, miss = roc_points(scores, spoof)
    probit = np.vectorize(lambda p: NormalDist().inv_cdf(min(max(p, 1e-4), 1 - 1e-4)))
    ticks = [0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(probit(fa), probit(miss), lw=2)
    ax.plot(probit(np.array(ticks)), probit(np.array(ticks)), ":", color="grey", lw=1)
    ax.set_xticks(probit(np.array(ticks)), [f"{t:g}" for t in ticks])
    ax.set_yticks(probit(np.array(ticks)), [f"{t:g}" for t in ticks])
    ax.set_xlabel("false alarm rate (bona fide called spoof)")
    ax.set_ylabel("miss rate (spoof called bona fide)")
    ax.set_title(f"DET - {title}")
    ax.grid(alpha=0.3)
    det = out_dir / "det.png"
    fig.tight_layout()
    fig.savefig(det, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = [i / 40 for i in range(41)]
    ax.hist(scores[~spoof], bins=bins, alpha=0.6, label="bona fide")
    ax.hist(scores[spoof], bins=bins, alpha=0.6, label="spoof")
    ax.set_xlabel("file score (mean of the top third of window scores)")
    ax.set_ylabel("files")
    ax.legend()
    ax.set_title(f"Scores - {title}")
    hist = out_dir / "scores.png"
    fig.tight_layout()
    fig.savefig(hist, dpi=120)
    plt.close(fig)
    return [det, hist]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="realtone eval",
        description=(
            "Measure a detector on a labelled set, scoring each file exactly as the service "
            "does. Prints EER, its threshold, AUC, per-attack EER and files/s; writes a DET "
            "curve, a score histogram (PNG) and report.json."
        ),
        epilog=(
            "Protocol formats: ASVspoof lines 'SPEAKER UTTERANCE - ATTACK bonafide|spoof', or a "
            "CSV with columns path,label[,source,attack]. Example: realtone eval --model "
            "./my-model --protocol ASVspoof2019.LA.cm.dev.trl.txt --audio-dir LA/flac --calibrate"
        ),
    )
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="REALTONE_MODEL value (default: the shipped detector that `make run` loads,"
        f" {DEFAULT_MODEL}; also a folder, .pth, s3://, aasist:AASIST, dev:tiny)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        help="verdict threshold (default: the model's own, as the service uses it, else 0.5)",
    )
    parser.add_argument("--protocol", required=True, type=Path)
    parser.add_argument(
        "--audio-dir", type=Path, help="where the files are (default: the protocol's folder)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("eval-report"), help="folder for report.json and plots"
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="fit a calibration on these scores and write it beside the checkpoint"
        " (the scorer then applies it); fit on a development set, not the test set",
    )
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    try:
        items = read_protocol(args.protocol, args.audio_dir)
    except (ProtocolError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    detector = load_detector(args.model, precision=args.precision)
    if args.calibrate:
        if args.model.startswith(("dev:", "s3://")):
            print("error: --calibrate needs a local checkpoint to write beside", file=sys.stderr)
            return 2
        detector.calibration = None  # fit on the raw scores
    threshold = args.threshold
    if threshold is None:
        threshold = detector.card.threshold if detector.card.threshold is not None else 0.5
    scored = score_items(
        items,
        ScoringOptions(score_threshold=threshold),
        detector,
        not args.no_progress,
        batch_size=args.batch_size,
    )
    if len({i.spoof for i in scored.items}) < 2:
        print("error: need scored bona fide and spoof files to evaluate", file=sys.stderr)
        return 2
    result = report(scored, len(items), threshold)
    result["model"] = detector.card.model_dump()
    args.out.mkdir(parents=True, exist_ok=True)
    write_scores(scored, args.out / "scores.csv")
    plots = write_plots(scored, args.out, detector.card.name)
    if args.calibrate:
        calibration = fit(np.array(scored.scores), np.array([i.spoof for i in scored.items]))
        target = calibration_path(Path(args.model))
        calibration.save(target)
        result["calibration"] = {
            "scale": calibration.scale,
            "bias": calibration.bias,
            "written_to": str(target),
        }
    (args.out / "report.json").write_text(json.dumps(result, indent=2))
    _print(result, plots, args.out)
    return 0


def _print(result: dict[str, Any], plots: list[Path], out: Path) -> None:
    trained = "trained" if result["model"]["trained"] else "UNTRAINED"
    print(f"model      {result['model']['name']} ({trained})")
    skipped = f"{len(result['inconclusive'])} inconclusive, {len(result['failed'])} failed"
    print(
        f"files      {result['files']} ({result['bonafide']} bona fide,"
        f" {result['spoof']} spoof scored; {skipped})"
    )
    print(f"EER        {result['eer'] * 100:.2f} % at threshold {result['eer_threshold']:.4f}")
    print(f"AUC        {result['auc']:.4f}")
    print(
        f"at {result['threshold']:.3f}   false alarms {result['false_alarm_rate'] * 100:.1f} %"
        " (bona fide called fake or likely fake),"
        f" misses {result['miss_rate'] * 100:.1f} % (spoof called real)"
    )
    for attack, figures in result["per_attack"].items():
        print(f"  {attack:<12} EER {figures['eer'] * 100:.2f} % ({figures['files']} files)")
    if result["files_per_second"]:
        print(f"speed      {result['files_per_second']:.2f} files/s")
    if "calibration" in result:
        cal = result["calibration"]
        print(f"calibration scale {cal['scale']:.4f} bias {cal['bias']:.4f} -> {cal['written_to']}")
    written = [out / "report.json", out / "scores.csv", *plots]
    print(f"written    {', '.join(str(p) for p in written)}")


if __name__ == "__main__":
    sys.exit(main())
