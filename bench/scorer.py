"""Scorer benchmark: the production pipeline against the original service's way.

Same run, same audio (2 minutes of speech-like signal, 44.1 kHz stereo WAV), same weights
(a WavLM-base sized detector, random init, seeded):

* baseline — the whole file decoded at once (float64, as ``soundfile.read`` gives it),
  mixed and resampled in one go, then each 4-s window through the fp32 eager model alone;
* ours — ``realtone_scorer.pipeline.score_file``: streamed decoding, batched windows and
  the precision the service picks for this machine (bf16 on CPUs with AVX-512 BF16).

The last line is machine-readable:
``throughput_ratio=<ours/baseline> overhead=<(pipeline - bare model)/bare model> peak_rss_mb=<n>``
where peak_rss_mb is the peak resident memory of scoring a 30-minute 44.1 kHz stereo file
in a fresh process. Run with ``make bench``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from realtone_core.models import ModelCard  # noqa: E402
from realtone_scorer.audio import TARGET_RATE  # noqa: E402
from realtone_scorer.detector import Detector, WavLMDetector, base_config  # noqa: E402
from realtone_scorer.options import ScoringOptions  # noqa: E402
from realtone_scorer.pipeline import score_file  # noqa: E402
from realtone_scorer.windows import plan_windows, window_samples  # noqa: E402
from tests.audio import speechlike  # noqa: E402

SEED = 1234


def write_speech(path: Path, seconds: float, rate: int = 44_100) -> None:
    """Speech-like stereo audio, written a minute at a time (never whole in memory)."""
    with sf.SoundFile(str(path), "w", rate, 2, format="WAV", subtype="PCM_16") as f:
        left = seconds
        minute = 0
        while left > 0:
            chunk = min(60.0, left)
            f.write(speechlike(chunk, rate, channels=2, seed=minute))
            left -= chunk
            minute += 1


def build_model() -> WavLMDetector:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return WavLMDetector(base_config()).eval()


def baseline(path: Path, model: WavLMDetector, options: ScoringOptions) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    data, rate = sf.read(str(path))  # whole file, float64
    mono = data.mean(axis=1)
    samples = soxr.resample(mono, rate, TARGET_RATE).astype(np.float32)
    # The original way scored every window, silent or not.
    windows = plan_windows(samples, TARGET_RATE, replace(options, voice_threshold_dbfs=-200.0))
    length = round(options.window_seconds * TARGET_RATE)
    scores = []
    with torch.inference_mode():
        for w in windows:
            x = torch.from_numpy(window_samples(samples, w, length))[None]
            x = (x - x.mean()) / torch.sqrt(x.var() + 1e-7)
            scores.append(float(torch.sigmoid(model(x))[0]))
    return time.perf_counter() - started, np.array(scores)


def peak_rss_for(path: Path, precision: str) -> float:
    code = (
        "import sys, torch\n"
        "from pathlib import Path\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from bench.scorer import build_model, production_detector\n"
        "from realtone_scorer.options import ScoringOptions\n"
        "from realtone_scorer.pipeline import score_file\n"
        f"detector = production_detector(build_model(), {precision!r})\n"
        "result = score_file(Path(sys.argv[1]), ScoringOptions(), detector)\n"
        "hwm = int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) / 1024\n"
        "print(len(result.chunks), hwm)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    windows, hwm = out.stdout.split()
    print(f"30-min file: {windows} windows scored, peak RSS {float(hwm):.0f} MB", flush=True)
    return float(hwm)


def production_detector(model: WavLMDetector, precision: str) -> Detector:
    card = ModelCard(name="bench:wavlm-base-random", version="1", sha256="-", trained=False)
    return Detector.prepare(model, card, "cpu", precision)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the timed audio")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timing runs")
    parser.add_argument(
        "--long-minutes", type=float, default=30.0, help="file for the memory figure"
    )
    args = parser.parse_args()
    torch.manual_seed(SEED)
    options, batch_size = ScoringOptions(), 8
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    with tempfile.TemporaryDirectory(prefix="realtone-bench-") as tmp:
        audio = Path(tmp) / "speech.wav"
        write_speech(audio, args.seconds)

        reference = build_model()
        ours_model = build_model()
        detector = production_detector(ours_model, args.precision)
        millions = sum(p.numel() for p in reference.parameters()) / 1e6
        print(
            f"model: WavLM-base sized, {millions:.1f} M parameters;"
            f" ours runs {detector.precision} on {detector.device}",
            flush=True,
        )

        # Warm both up on one window so neither pays first-call costs in the timing.
        warm = np.zeros((1, 64_000), np.float32) + 0.1
        with torch.inference_mode():
            reference(torch.from_numpy(warm))
        detector.score(warm)

        # The bare model on the same windows, same batches and precision: what the pipeline adds.
        from realtone_scorer.audio import decode

        samples = decode(audio, options.max_duration_seconds).samples
        windows = plan_windows(samples, TARGET_RATE, options)
        batches = [
            np.stack([window_samples(samples, w, 64_000) for w in windows[i : i + batch_size]])
            for i in range(0, len(windows), batch_size)
        ]

        # Interleaved repeats, best of each: other load on the machine hits all three alike.
        base_times, ours_times, bare_times = [], [], []
        for _ in range(args.repeats):
            seconds, base_scores = baseline(audio, reference, options)
            base_times.append(seconds)
            started = time.perf_counter()
            result = score_file(audio, options, detector, batch_size)
            ours_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            for batch in batches:
                detector.score(batch)
            bare_times.append(time.perf_counter() - started)
        base_seconds, ours_seconds, bare_seconds = min(base_times), min(ours_times), min(bare_times)
        ours_scores = np.array([c.score for c in result.chunks])
        print(
            f"baseline:   {base_seconds:.2f} s ({len(base_scores)} windows one at a time, fp32)",
            flush=True,
        )
        print(
            f"ours:       {ours_seconds:.2f} s (decode {result.timings['decode_ms']} ms)",
            flush=True,
        )
        print(f"bare model: {bare_seconds:.2f} s (same windows and batches as ours)", flush=True)
        print(
            f"runs (s): baseline {base_times}, ours {ours_times}, bare {bare_times}".replace(
                "np.float64", ""
            ),
            flush=True,
        )

        max_diff = float(np.abs(ours_scores - base_scores).max())
        print(
            f"max score difference ours vs baseline fp32: {max_diff:.5f} (limit 0.02)", flush=True
        )
        throughput = base_seconds / ours_seconds
        overhead = (ours_seconds - bare_seconds) / bare_seconds

        long_audio = Path(tmp) / "long.wav"
        write_speech(long_audio, args.long_minutes * 60)
        peak = peak_rss_for(long_audio, args.precision)

    print(f"throughput_ratio={throughput:.2f} overhead={overhead:.3f} peak_rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
