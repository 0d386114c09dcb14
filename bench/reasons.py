"""How often each window gets a reason not to be judged (``realtone_scorer.reasons``), on
audio whose kind is known: the corpus's held-out real and synthetic speech (should be judged),
real music (Asterisk music on hold, fillets-ng's soundtrack: should be music_or_noise), and
generated tones, hum, noise and clipped speech.

    .venv/bin/python bench/reasons.py [--corpus .local/corpus]
"""

from __future__ import annotations

import argparse
import csv
import glob
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from realtone_scorer.audio import TARGET_RATE, decode  # noqa: E402
from realtone_scorer.options import ScoringOptions  # noqa: E402
from realtone_scorer.reasons import window_reason  # noqa: E402
from realtone_scorer.speech import FRAME, speech_probabilities  # noqa: E402
from realtone_scorer.windows import plan_windows  # noqa: E402

MUSIC = ["/usr/share/asterisk/moh/*.wav", "/usr/share/games/fillets-ng/music/*.ogg"]


def reasons(samples: np.ndarray, options: ScoringOptions) -> list[str]:
    probs = speech_probabilities(samples)
    out = []
    for w in plan_windows(samples, TARGET_RATE, options):
        frames = probs[w.start // FRAME : -(-w.end // FRAME)]
        out.append(window_reason(samples[w.start : w.end], w.voiced, frames, options) or "judged")
    return out


def generated(rate: int = TARGET_RATE) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    t = np.arange(rate * 12) / rate
    speech = decode(
        Path(sorted(glob.glob("/usr/share/asterisk/sounds/en_US_f_Allison/*.wav"))[5]), 60
    ).samples
    return {
        "tone 1 kHz": 0.3 * np.sin(2 * np.pi * 1000 * t),
        "mains hum 50 Hz": 0.2 * np.sin(2 * np.pi * 50 * t) + 0.05 * np.sin(2 * np.pi * 150 * t),
        "white noise": 0.1 * rng.standard_normal(len(t)),
        "chord": 0.1 * sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)),
        "clipped speech": np.clip(speech / np.abs(speech).max() * 8, -1, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=ROOT / ".local" / "corpus")
    args = parser.parse_args()
    options = ScoringOptions()
    rows: dict[str, Counter[str]] = {}
    with (args.corpus / "manifest.csv").open() as f:
        for row in csv.DictReader(f):
            if row["split"] != "test":
                continue
            kind = "real speech (test)" if row["label"] == "bonafide" else "synthetic speech (test)"
            samples = decode(args.corpus / row["path"], options.max_duration_seconds).samples
            rows.setdefault(kind, Counter()).update(reasons(samples, options))
    for pattern in MUSIC:
        for path in sorted(glob.glob(pattern)):
            samples = decode(Path(path), options.max_duration_seconds).samples
            rows.setdefault("real music", Counter()).update(reasons(samples, options))
    for name, samples in generated().items():
        rows.setdefault(name, Counter()).update(reasons(samples.astype(np.float32), options))
    names = ["judged", "no_speech", "music_or_noise", "clipped", "too_short"]
    print("| audio | windows | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for kind, counts in rows.items():
        total = sum(counts.values())
        cells = [f"{counts[n] / total * 100:.1f} %" for n in names]
        print(f"| {kind} | {total} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
