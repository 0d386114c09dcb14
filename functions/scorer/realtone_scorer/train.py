"""``realtone train``: fine-tune a WavLM-shaped detector on labelled 4-s windows.

The held-out split is chosen by source (speaker or recording), never by window, so no two
windows of one recording sit on both sides. Deterministic for a seed; uses a GPU when
present. The output is a checkpoint directory ``REALTONE_MODEL`` can load.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from realtone_core.errors import AudioError
from realtone_scorer.audio import TARGET_RATE, decode
from realtone_scorer.checkpoints import build_dev_tiny, load_detector, save_directory
from realtone_scorer.detector import (
    WavLMDetector,
    base_config,
    choose_device,
    small_config,
    state_sha256,
)
from realtone_scorer.metrics import equal_error_rate
from realtone_scorer.options import ScoringOptions
from realtone_scorer.protocol import Item, ProtocolError, read_protocol
from realtone_scorer.windows import plan_windows, window_samples


@dataclass
class Windows:
    samples: np.ndarray  # (n, 64000) float32
    spoof: np.ndarray  # (n,) bool
    source: list[str]
    file: list[str]


def cut_windows(items: list[Item], options: ScoringOptions, progress: bool) -> Windows:
    """Voiced 4-s windows of every file, cut exactly as the scorer cuts them."""
    chunks: list[np.ndarray] = []
    labels: list[bool] = []
    sources: list[str] = []
    files: list[str] = []
    length = round(options.window_seconds * TARGET_RATE)
    for item in _bar(items, progress, "cutting windows"):
        try:
            audio = decode(item.path, options.max_duration_seconds)
            windows = plan_windows(audio.samples, TARGET_RATE, options)
        except AudioError as exc:
            print(f"skipping {item.path}: {exc.message}", file=sys.stderr)
            continue
        for w in windows:
            if w.voiced:
                chunks.append(window_samples(audio.samples, w, length).astype(np.float32))
                labels.append(item.spoof)
                sources.append(item.source)
                files.append(str(item.path))
    if not chunks:
        raise ValueError("no voiced windows in the training data")
    return Windows(np.stack(chunks), np.array(labels), sources, files)


def split_by_source(
    sources: list[str], spoof: np.ndarray, held_out: float, seed: int
) -> np.ndarray:
    """A boolean mask of held-out windows: whole sources go to one side or the other, and
    each side keeps both classes when the data allows it."""
    rng = random.Random(seed)
    groups: dict[str, set[bool]] = {}
    for source, label in zip(sources, spoof.tolist(), strict=True):
        groups.setdefault(source, set()).add(label)
    names = sorted(groups)
    rng.shuffle(names)
    want = max(1, round(len(names) * held_out))
    chosen: list[str] = []
    for label in (False, True):  # one source of each class first
        for name in names:
            if label in groups[name] and name not in chosen:
                chosen.append(name)
                break
    for name in names:
        if len(chosen) >= want:
            break
        if name not in chosen:
            chosen.append(name)
    if len(chosen) >= len(names):
        raise ValueError("too few sources for a held-out split: need at least 3 (both classes)")
    return np.array([s in set(chosen) for s in sources])


def _bar(items: Any, enabled: bool, what: str, **kwargs: Any) -> Any:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=what, file=sys.stderr, **kwargs)


def initial_model(spec: str) -> WavLMDetector:
    if spec == "dev:tiny":
        return build_dev_tiny()
    if spec == "random:base":
        return WavLMDetector(base_config())
    if spec == "random:small":
        return WavLMDetector(small_config())
    members = load_detector(spec, device="cpu", precision="fp32").members
    if len(members) != 1 or not isinstance(members[0], WavLMDetector):
        raise ValueError(f"{spec} is not a WavLM detector; `realtone train` fine-tunes WavLM")
    return members[0]


def trainable(model: WavLMDetector, unfreeze_layers: int | None) -> list[nn.Parameter]:
    """The head, plus the top ``unfreeze_layers`` encoder layers (all of it for -1)."""
    for p in model.parameters():
        p.requires_grad = unfreeze_layers == -1
    if unfreeze_layers and unfreeze_layers > 0:
        for layer in model.wavlm.encoder.layers[-unfreeze_layers:]:
            for p in layer.parameters():
                p.requires_grad = True
    for p in model.head.parameters():
        p.requires_grad = True
    return [p for p in model.parameters() if p.requires_grad]


@torch.no_grad()
def predict(
    model: WavLMDetector, samples: np.ndarray, device: torch.device, batch: int
) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(samples), batch):
        x = model.features(torch.from_numpy(samples[i : i + batch]).to(device))
        out.append(torch.sigmoid(model(x)).double().cpu().numpy())
    return np.concatenate(out)


def train(
    model: WavLMDetector,
    data: Windows,
    held: np.ndarray,
    *,
    epochs: int,
    batch: int,
    lr: float,
    patience: int,
    seed: int,
    unfreeze_layers: int | None,
    progress: bool,
) -> dict[str, Any]:
    torch.manual_seed(seed)
    device = choose_device("auto")
    model.to(device)
    params = trainable(model, unfreeze_layers)
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    loss_fn = nn.BCEWithLogitsLoss()
    train_idx = np.flatnonzero(~held)
    rng = np.random.default_rng(seed)
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    history = []
    stale = 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(train_idx)
        losses = []
        steps = _bar(range(0, len(order), batch), progress, f"epoch {epoch}", leave=False)
        for start in steps:
            idx = order[start : start + batch]
            x = model.features(torch.from_numpy(data.samples[idx]).to(device))
            y = torch.from_numpy(data.spoof[idx].astype(np.float32)).to(device)
            optimiser.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        scores = predict(model, data.samples[held], device, batch)
        eer = equal_error_rate(scores, data.spoof[held]).eer
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "held_out_eer": eer})
        print(
            f"epoch {epoch}: train loss {np.mean(losses):.4f},"
            f" held-out window EER {eer * 100:.2f} %",
            file=sys.stderr,
            flush=True,
        )
        if best is None or eer < best[0]:
            best = (eer, {k: v.detach().clone() for k, v in model.state_dict().items()})
            stale = 0
        else:
            stale += 1
            if stale >= patience:
                print(f"early stop: no improvement for {patience} epochs", file=sys.stderr)
                break
    assert best is not None
    model.load_state_dict(best[1])
    model.to("cpu").eval()
    return {"history": history, "best_held_out_window_eer": best[0], "device": str(device)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="realtone train",
        description=(
            "Fine-tune a WavLM-shaped detector on labelled audio: the files are cut into the "
            "scorer's 4-s voiced windows, a held-out split is chosen by source (speaker or "
            "recording), training stops early when the held-out EER stops improving, and the "
            "best model is saved as a checkpoint directory REALTONE_MODEL can load."
        ),
        epilog="Example: realtone train --data train.csv --out ./my-detector --unfreeze-layers 2",
    )
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        help="a protocol: ASVspoof lines or CSV path,label[,source]",
    )
    parser.add_argument(
        "--audio-dir", type=Path, help="where the files are (default: the protocol's folder)"
    )
    parser.add_argument("--out", required=True, type=Path, help="checkpoint directory to write")
    parser.add_argument(
        "--init",
        default="dev:tiny",
        help="starting weights: a REALTONE_MODEL value, random:small or random:base"
        " (default dev:tiny)",
    )
    parser.add_argument(
        "--unfreeze-layers",
        type=int,
        default=0,
        help="also train the top N encoder layers (-1: all of it; default: head only)",
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--patience", type=int, default=3, help="epochs without improvement before stopping"
    )
    parser.add_argument("--held-out", type=float, default=0.25, help="share of sources held out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="realtone-detector")
    parser.add_argument("--version", default=time.strftime("%Y%m%d"))
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    started = time.perf_counter()
    try:
        items = read_protocol(args.data, args.audio_dir)
    except (ProtocolError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = cut_windows(items, ScoringOptions(), progress=not args.no_progress)
    held = split_by_source(data.source, data.spoof, args.held_out, args.seed)
    held_sources = sorted({s for s, h in zip(data.source, held.tolist(), strict=True) if h})
    print(
        f"{len(data.spoof)} windows from {len(items)} files; held out {int(held.sum())} windows"
        f" of {len(held_sources)} sources: {', '.join(held_sources)}",
        file=sys.stderr,
    )
    model = initial_model(args.init)
    result = train(
        model,
        data,
        held,
        epochs=args.epochs,
        batch=args.batch_size,
        lr=args.lr,
        patience=args.patience,
        seed=args.seed,
        unfreeze_layers=args.unfreeze_layers,
        progress=not args.no_progress,
    )
    card = {"name": args.name, "version": args.version, "trained": True}
    save_directory(model, args.out, card)
    report = {
        **result,
        "card": card,
        "sha256": state_sha256(model),
        "init": args.init,
        "unfreeze_layers": args.unfreeze_layers,
        "seed": args.seed,
        "files": len(items),
        "windows": len(data.spoof),
        "held_out_sources": held_sources,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "train_report.json").write_text(json.dumps(report, indent=2))
    print(
        f"saved {args.out} (best held-out window EER"
        f" {result['best_held_out_window_eer'] * 100:.2f} %, {report['seconds']} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
