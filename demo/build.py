"""Build the demo detector from speech that ships offline (``make demo-model``).

Bona fide: the professional prompts of Debian's ``asterisk-core-sounds-en-g722`` (one
female voice, CC-BY-SA-3.0). Spoof, three families:

* ``espeak``  — formant synthesis: Harvard sentences in many espeak-ng voices;
* ``world``   — WORLD vocoder copy-synthesis (pyworld) of every real prompt;
* ``codec2``  — the Codec 2 speech codec at 1300 bit/s, encoded and decoded, of every prompt.

The vocoded copies share their source with the real prompt, so the held-out split (by
source) keeps a recording and its copies on the same side: the model must learn vocoder
artefacts, not the recordings. Trains a small WavLM-shaped model from random weights, then
evaluates on the held-out part. This is not a detector of real-world deepfakes.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
RATE = 16_000
ASTERISK = Path("/usr/share/asterisk/sounds/en")

HARVARD = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
]
ESPEAK_VOICES = [
    "en",
    "en-us",
    "en-gb-scotland",
    "en-029",
    "en+f3",
    "en-us+f2",
    "en+m3",
    "en-gb-x-rp+f4",
]


def write(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    sf.write(str(path), np.clip(samples, -1, 1).astype(np.float32), rate, subtype="PCM_16")


def bonafide(out: Path, limit: int | None) -> list[tuple[str, Path]]:
    import av

    files = sorted(glob.glob(str(ASTERISK / "**" / "*.g722"), recursive=True))
    files = [f for f in files if "/silence/" not in f]
    if not files:
        sys.exit("asterisk-core-sounds-en-g722 is not installed (make demo-model installs it)")
    made = []
    for f in files[:limit]:
        with av.open(f, format="g722") as media:
            x = np.concatenate([fr.to_ndarray().reshape(-1) for fr in media.decode(audio=0)])
        x = x.astype(np.float32) / (32768.0 if x.dtype == np.int16 else 1.0)
        if len(x) < RATE:  # under a second: too short to be useful
            continue
        stem = Path(f).relative_to(ASTERISK).with_suffix("").as_posix().replace("/", "_")
        path = out / "bonafide" / f"{stem}.wav"
        write(path, x)
        made.append((stem, path))
    return made


def world_copy(src: Path, dst: Path) -> None:
    import pyworld

    x, rate = sf.read(str(src), dtype="float64")
    f0, t = pyworld.harvest(x, rate)
    sp = pyworld.cheaptrick(x, f0, t, rate)
    ap = pyworld.d4c(x, f0, t, rate)
    write(dst, pyworld.synthesize(f0, sp, ap, rate).astype(np.float32))


def codec2_copy(src: Path, dst: Path) -> None:
    x, rate = sf.read(str(src), dtype="float32")
    narrow = soxr.resample(x, rate, 8000)
    pcm = (np.clip(narrow, -1, 1) * 32767).astype("<i2").tobytes()
    bits = subprocess.run(
        ["c2enc", "1300", "-", "-"], input=pcm, capture_output=True, check=True
    ).stdout
    decoded = subprocess.run(
        ["c2dec", "1300", "-", "-"], input=bits, capture_output=True, check=True
    ).stdout
    y = np.frombuffer(decoded, dtype="<i2").astype(np.float32) / 32768.0
    write(dst, soxr.resample(y, 8000, RATE))


def espeak(out: Path) -> list[tuple[str, Path]]:
    made = []
    for voice in ESPEAK_VOICES:
        for i, sentence in enumerate(HARVARD):
            wav = out / "espeak" / f"{voice}-{i:02d}.wav"
            with tempfile.NamedTemporaryFile(suffix=".wav") as raw:
                subprocess.run(
                    ["espeak-ng", "-v", voice, "-s", "155", "-w", raw.name, sentence], check=True
                )
                x, rate = sf.read(raw.name, dtype="float32")
            write(wav, soxr.resample(x, rate, RATE))
            made.append((voice, wav))
    return made


# Real voices the model never saw (other asterisk prompt packages): how often are they
# called fake? A detector that learnt "not Allison" instead of vocoder artefacts fails here.
OTHER_REAL_VOICES = {
    "es_MX_f_Allison (same speaker, Spanish)": Path("/usr/share/asterisk/sounds/es_MX_f_Allison"),
    "fr_CA_f_June (new female speaker, French)": Path("/usr/share/asterisk/sounds/fr_CA_f_June"),
    "it_IT_m_Carlo (new male speaker, Italian)": Path("/usr/share/asterisk/sounds/it_IT_m_Carlo"),
    "ru_RU_f_IvrvoiceRU (new female speaker, Russian)": Path(
        "/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU"
    ),
}


def other_real_voices(model: Path, work: Path, per_voice: int) -> dict[str, dict[str, float]]:
    import av

    from realtone_core.config import Settings
    from realtone_core.errors import AudioError
    from realtone_scorer.checkpoints import load_detector
    from realtone_scorer.pipeline import score_file

    detector = load_detector(str(model), precision="fp32")
    settings = Settings()
    results = {}
    for label, folder in OTHER_REAL_VOICES.items():
        files = sorted(glob.glob(str(folder / "**" / "*.g722"), recursive=True))
        files = [f for f in files if "/silence/" not in f]
        if not files:
            continue
        verdicts = []
        for f in files[:per_voice]:
            with av.open(f, format="g722") as media:
                x = np.concatenate([fr.to_ndarray().reshape(-1) for fr in media.decode(audio=0)])
            x = x.astype(np.float32) / (32768.0 if x.dtype == np.int16 else 1.0)
            if len(x) < RATE:
                continue
            path = work / "other-real.wav"
            write(path, x)
            try:
                verdicts.append(score_file(path, settings, detector).summary.verdict)
            except AudioError:
                continue
        called_fake = sum(v in ("fake", "likely_fake") for v in verdicts)
        results[label] = {
            "files": len(verdicts),
            "called_fake": called_fake,
            "false_alarm_rate": called_fake / max(len(verdicts), 1),
        }
        print(f"  {label}: {called_fake}/{len(verdicts)} real prompts called fake", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=ROOT / ".local" / "demo-data")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "demo")
    parser.add_argument(
        "--limit", type=int, help="use only the first N real prompts (a quick build)"
    )
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-voice", type=int, default=100, help="real prompts per unseen voice")
    parser.add_argument(
        "--only-other-voices",
        action="store_true",
        help="skip the build; score unseen real voices with the built model",
    )
    args = parser.parse_args()
    if args.only_other_voices:
        print("unseen real voices, scored by the demo model:")
        found = other_real_voices(args.out, args.work, args.per_voice)
        (args.out / "eval" / "other_real_voices.json").write_text(json.dumps(found, indent=2))
        return 0
    started = time.perf_counter()
    for sub in ("bonafide", "world", "codec2", "espeak"):
        (args.work / sub).mkdir(parents=True, exist_ok=True)

    rows = []
    real = bonafide(args.work, args.limit)
    print(f"bona fide: {len(real)} prompts", flush=True)
    for stem, path in real:
        rows.append((path, "bonafide", stem, "-"))
        world_copy(path, args.work / "world" / path.name)
        rows.append((args.work / "world" / path.name, "spoof", stem, "world"))
        codec2_copy(path, args.work / "codec2" / path.name)
        rows.append((args.work / "codec2" / path.name, "spoof", stem, "codec2"))
    for voice, path in espeak(args.work):
        rows.append((path, "spoof", f"espeak:{voice}", "espeak"))
    protocol = args.work / "all.csv"
    with protocol.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "source", "attack"])
        for path, label, source, attack in rows:
            w.writerow([path.relative_to(args.work), label, source, attack])
    print(f"data: {len(rows)} files in {time.perf_counter() - started:.0f} s", flush=True)

    from realtone_scorer import evaluate, train

    code = train.main(
        [
            "--data",
            str(protocol),
            "--out",
            str(args.out),
            "--init",
            "random:small",
            "--unfreeze-layers",
            "-1",
            "--epochs",
            str(args.epochs),
            "--batch-size",
            "16",
            "--lr",
            "5e-4",
            "--seed",
            str(args.seed),
            "--held-out",
            "0.2",
            "--name",
            "realtone-demo",
            "--version",
            time.strftime("%Y%m%d"),
        ]
    )
    if code:
        return code
    held = set(json.loads((args.out / "train_report.json").read_text())["held_out_sources"])
    held_protocol = args.work / "held_out.csv"
    with held_protocol.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "source", "attack"])
        for path, label, source, attack in rows:
            if source in held:
                w.writerow([path.relative_to(args.work), label, source, attack])
    code = evaluate.main(
        [
            "--model",
            str(args.out),
            "--protocol",
            str(held_protocol),
            "--out",
            str(args.out / "eval"),
            "--precision",
            "fp32",
        ]
    )
    print("unseen real voices, scored by the demo model:")
    found = other_real_voices(args.out, args.work, args.per_voice)
    (args.out / "eval" / "other_real_voices.json").write_text(json.dumps(found, indent=2))
    print(f"demo model built in {time.perf_counter() - started:.0f} s -> {args.out}")
    return code


if __name__ == "__main__":
    sys.exit(main())
