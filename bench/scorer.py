"""Scorer benchmark: the production pipeline against the original service's way, per way of
running the detector, all in one run on the same audio.

Two minutes of real speech (one voice, looped) as 44.1 kHz stereo. Two detectors:
* a WavLM-base sized detector (random init, seeded; the original service's model shape);
* the shipped default (``builtin:realtone-detector``), the one ``make run`` loads.

For each: the baseline — the whole file decoded at once (float64, as ``soundfile.read``
gives it), mixed and resampled in one go, each 4-s window through the members in torch fp32
alone — then ``realtone_scorer.pipeline.score_file`` (streamed decoding, batched windows)
with every way of running the members (torch fp32 / bf16, ONNX Runtime fp32 / int8), and with
the way the scorer's start-up probe chooses on this machine. Interleaved repeats, best of
each, so other load hits all alike.

The last line is machine-readable, for the shipped default's chosen way:
``throughput_ratio=<baseline/ours> overhead=<(pipeline - bare model)/bare model>
peak_rss_mb=<scoring a 30-min 44.1 kHz stereo file in a fresh process>
realtime_factor=<audio seconds per scorer second> speaker_cost=<(with speaker embeddings -
without)/without>``; the first three are for the detector's pipeline alone, the service also
embeds speakers (``speaker_cost`` more). The WavLM figures print on the line
before it, prefixed ``wavlm:``. Run with ``make bench``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from realtone_core.models import ModelCard  # noqa: E402
from realtone_scorer.audio import TARGET_RATE, decode  # noqa: E402
from realtone_scorer.checkpoints import load_detector  # noqa: E402
from realtone_scorer.detector import Detector, WavLMDetector, base_config  # noqa: E402
from realtone_scorer.options import ScoringOptions  # noqa: E402
from realtone_scorer.pipeline import score_file  # noqa: E402
from realtone_scorer.settings import DEFAULT_MODEL  # noqa: E402
from realtone_scorer.speaker_encoder import SpeakerEncoder  # noqa: E402
from realtone_scorer.threads import cpu_count, size_torch  # noqa: E402
from realtone_scorer.ways import WAYS  # noqa: E402
from realtone_scorer.windows import plan_windows, window_samples  # noqa: E402

SEED = 1234
BATCH = 8


def write_speech(path: Path, seconds: float, rate: int = 44_100) -> None:
    """Real speech (one voice, looped; tests/data/audio) as stereo, written a minute at a time
    (never whole in memory): windows the voice activity model lets through to the detector."""
    from tests.audio import speech

    with sf.SoundFile(str(path), "w", rate, 2, format="WAV", subtype="PCM_16") as f:
        left, minute = seconds, 0
        while left > 0:
            chunk = min(60.0, left)
            f.write(speech(chunk, rate, channels=2, seed=minute))
            left -= chunk
            minute += 1


def wavlm_detector(way: str) -> Detector:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = WavLMDetector(base_config())
    card = ModelCard(name="bench:wavlm-base-random", version="1", sha256="-", trained=False)
    return Detector.prepare(model, card, "cpu", way)  # type: ignore[arg-type]


def default_detector(way: str) -> Detector:
    return load_detector(DEFAULT_MODEL, device="cpu", precision=way)  # type: ignore[arg-type]


def baseline(path: Path, detector: Detector, options: ScoringOptions) -> tuple[float, np.ndarray]:
    """The original way: whole-file decode, then every window (silent or not) alone, fp32."""
    started = time.perf_counter()
    data, rate = sf.read(str(path))
    samples = soxr.resample(data.mean(axis=1), rate, TARGET_RATE).astype(np.float32)
    windows = plan_windows(samples, TARGET_RATE, replace(options, voice_threshold_dbfs=-200.0))
    length = round(options.window_seconds * TARGET_RATE)
    scores = [detector.score(window_samples(samples, w, length)[None])[0] for w in windows]
    return time.perf_counter() - started, np.array(scores)


@dataclass
class Timing:
    way: str
    seconds: float
    bare: float  # the members alone on the same windows and batches
    scores: np.ndarray


def time_way(
    path: Path, detector: Detector, options: ScoringOptions, batches: list[np.ndarray]
) -> Timing:
    started = time.perf_counter()
    result = score_file(path, options, detector, BATCH)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    for batch in batches:
        detector.score(batch)
    bare = time.perf_counter() - started
    scores = np.array([c.score for c in result.chunks if c.score is not None])
    return Timing(detector.precision, seconds, bare, scores)


def compare(
    name: str, make: object, audio: Path, options: ScoringOptions, repeats: int, seconds: float
) -> tuple[float, float, float, str]:
    """Prints baseline, every way and the chosen one; returns (ratio, overhead, rtf, way)."""
    assert callable(make)
    samples = decode(audio, options.max_duration_seconds).samples
    windows = plan_windows(samples, TARGET_RATE, options)
    batches = [
        np.stack([window_samples(samples, w, 64_000) for w in windows[i : i + BATCH]])
        for i in range(0, len(windows), BATCH)
    ]
    reference = make("fp32")
    started = time.perf_counter()
    chosen = make("auto")
    probe_seconds = time.perf_counter() - started
    detectors = {way: make(way) for way in WAYS}
    detectors["chosen"] = chosen
    for d in (reference, *detectors.values()):
        d.score(batches[0][:1])  # first-call costs out of the timings
    best_base = float("inf")
    base_scores = np.zeros(0)
    best: dict[str, Timing] = {}
    for _ in range(repeats):
        base, base_scores = baseline(audio, reference, options)
        best_base = min(best_base, base)
        for label, detector in detectors.items():
            timing = time_way(audio, detector, options, batches)
            if label not in best or timing.seconds < best[label].seconds:
                best[label] = timing
    print(f"{name}: baseline {best_base:.2f} s (fp32, whole-file decode, one window at a time)")
    for label, timing in best.items():
        change = float(np.abs(timing.scores - base_scores[: len(timing.scores)]).max())
        note = f"  (probe chose {chosen.precision} in {probe_seconds:.2f} s)"
        print(
            f"{name}:   {label:<10} {timing.seconds:6.2f} s"
            f"  ratio {best_base / timing.seconds:5.2f}  bare model {timing.bare:6.2f} s"
            f"  max score change {change:.4f}{note if label == 'chosen' else ''}",
            flush=True,
        )
    chosen_timing = best["chosen"]
    ratio = best_base / chosen_timing.seconds
    overhead = (chosen_timing.seconds - chosen_timing.bare) / chosen_timing.bare
    return ratio, overhead, seconds / chosen_timing.seconds, chosen.precision


def speaker_cost(audio: Path, options: ScoringOptions, repeats: int) -> float:
    """The shipped default (chosen way) with the speaker encoder against without it: what
    telling speakers apart adds to scoring, the same audio, interleaved, best of each."""
    detector = default_detector("auto")
    voices = SpeakerEncoder()
    score_file(audio, options, detector, BATCH, voices=voices)  # first-call costs
    plain = with_voices = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        score_file(audio, options, detector, BATCH)
        plain = min(plain, time.perf_counter() - started)
        started = time.perf_counter()
        score_file(audio, options, detector, BATCH, voices=voices)
        with_voices = min(with_voices, time.perf_counter() - started)
    cost = with_voices / plain - 1
    print(
        f"speakers: pipeline {plain:.2f} s without speaker embeddings, {with_voices:.2f} s with"
        f" (one 1.6-s GE2E partial per window, two more where the speaker changes):"
        f" +{cost * 100:.1f} %",
        flush=True,
    )
    return cost


def peak_rss_for(path: Path) -> float:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from realtone_scorer.checkpoints import load_detector\n"
        "from realtone_scorer.options import ScoringOptions\n"
        "from realtone_scorer.pipeline import score_file\n"
        "from realtone_scorer.settings import DEFAULT_MODEL\n"
        "detector = load_detector(DEFAULT_MODEL, device='cpu')\n"
        "result = score_file(Path(sys.argv[1]), ScoringOptions(), detector)\n"
        "hwm = int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) / 1024\n"
        "print(len(result.chunks), hwm)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    windows, hwm = out.stdout.split()[-2:]
    print(f"30-min file: {windows} windows scored, peak RSS {float(hwm):.0f} MB", flush=True)
    return float(hwm)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the timed audio")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timing runs")
    parser.add_argument("--long-minutes", type=float, default=30.0, help="for the memory figure")
    parser.add_argument("--skip-wavlm", action="store_true", help="only the shipped default")
    args = parser.parse_args()
    threads = size_torch()
    print(f"torch {torch.__version__}, {threads} threads ({cpu_count()} usable CPUs)", flush=True)
    options = ScoringOptions()
    with tempfile.TemporaryDirectory(prefix="realtone-bench-") as tmp:
        audio = Path(tmp) / "speech.wav"
        write_speech(audio, args.seconds)
        if not args.skip_wavlm:
            ratio, overhead, rtf, way = compare(
                "wavlm", wavlm_detector, audio, options, args.repeats, args.seconds
            )
            print(
                f"wavlm: throughput_ratio={ratio:.2f} overhead={overhead:.3f}"
                f" realtime_factor={rtf:.1f} way={way}",
                flush=True,
            )
        ratio, overhead, rtf, way = compare(
            "default", default_detector, audio, options, args.repeats, args.seconds
        )
        speakers = speaker_cost(audio, options, args.repeats)
        long_audio = Path(tmp) / "long.wav"
        write_speech(long_audio, args.long_minutes * 60)
        peak = peak_rss_for(long_audio)
    print(
        f"throughput_ratio={ratio:.2f} overhead={overhead:.3f} peak_rss_mb={peak:.0f}"
        f" realtime_factor={rtf:.1f} way={way} speaker_cost={speakers:.3f}"
    )


if __name__ == "__main__":
    main()
