"""How each detector member runs on this CPU, chosen by timing it rather than by CPU flags.

A flag says what a CPU can do, not what is fast: on one 2-core Xeon that reports
``avx512_bf16`` (and no AMX), bf16 was 1.45x *slower* than fp32, while on an EPYC it was
2x faster. Lambda does not promise which CPU a container gets. So at load the scorer runs
each candidate way (torch fp32 and bf16, ONNX Runtime fp32 and int8) on a few speech-shaped
windows, keeps those whose final scores stay within ``TOLERANCE`` of torch fp32, and uses
the fastest. ``REALTONE_PRECISION`` forces one way and skips the probe.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from realtone_scorer.families.base import WINDOW_SAMPLES, DetectorNet, ModelLoadError

TOLERANCE = 0.02  # largest change of a final score (0..1) a faster way may bring
# The probe sees two synthetic windows; real audio moved int8 scores up to 3x further than
# they did (make bench), so a way must stay within this stricter margin on the probe.
PROBE_TOLERANCE = TOLERANCE / 2
PROBE_WINDOWS = 2
PROBE_SHA256 = "719590a99456e034d3aa42e053f666960da3857afb41bf3a63c59aca16158e36"
# fp32 first (the reference), the cheap-to-try ONNX ways next, bf16 last.
WAYS = ("fp32", "onnx-fp32", "onnx-int8", "bf16")
# bf16 was at best 2.8x faster than fp32 on any CPU measured (scorer-speed notes): when fp32
# is more than this much slower than the best way found, bf16 cannot win and is not tried.
BF16_BEST_SPEEDUP = 3.0
# A member whose warm fp32 call on one window takes longer than this is probed on one window.
HEAVY_SECONDS = 0.1

Runner = Callable[[torch.Tensor], np.ndarray]  # fp32 features → (batch,) float64 logits


def probe_windows(count: int = PROBE_WINDOWS) -> np.ndarray:
    """The first ``count`` 4-s windows of ``models/probe/speech.flac``: real speech, because a
    faster way's error depends on the input (synthetic signals moved int8 scores several
    times further than speech did). It ships with the package, sha256-pinned."""
    import soundfile as sf

    from realtone_scorer.model_folder import models_dir

    path = models_dir() / "probe" / "speech.flac"
    data = path.read_bytes() if path.is_file() else b""
    if hashlib.sha256(data).hexdigest() != PROBE_SHA256:
        raise ModelLoadError(f"{path} is missing or changed; it must have sha256 {PROBE_SHA256}")
    samples, _ = sf.read(io.BytesIO(data), dtype="float32")
    return np.stack([samples[i * WINDOW_SAMPLES : (i + 1) * WINDOW_SAMPLES] for i in range(count)])


class _Forward(nn.Module):
    """A member's forward alone (features in, logits out), for export."""

    def __init__(self, member: DetectorNet) -> None:
        super().__init__()
        self.member = member

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.member(features)


def torch_runner(member: DetectorNet, dtype: torch.dtype) -> Runner:
    net = member if dtype == torch.float32 else copy.deepcopy(member).to(dtype)
    net.eval()

    @torch.inference_mode()
    def run(features: torch.Tensor) -> np.ndarray:
        out: np.ndarray = net(features.to(dtype)).float().double().cpu().numpy()
        return out

    return run


def onnx_runners(member: DetectorNet, example: torch.Tensor) -> dict[str, Runner]:
    """``onnx-fp32`` and ``onnx-int8`` runners from one export of the member's forward."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from realtone_scorer.onnx_runtime import export, session

    runners: dict[str, Runner] = {}
    with tempfile.TemporaryDirectory(prefix="realtone-way-") as tmp:
        fp32 = export(_Forward(member), example, Path(tmp) / "member.onnx")
        runners["onnx-fp32"] = _session_runner(session(fp32))
        int8 = Path(tmp) / "member-int8.onnx"
        # MatMul only: quantised convolutions were measured slower than fp32 (speed notes).
        with _quiet_root_logger():  # it advises shape pre-processing; measured as is
            quantize_dynamic(
                str(fp32), str(int8), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8
            )
        runners["onnx-int8"] = _session_runner(session(int8))
    return runners


def _session_runner(sess: Any) -> Runner:
    def run(features: torch.Tensor) -> np.ndarray:
        x = features.detach().cpu().numpy().astype(np.float32)
        out: np.ndarray = sess.run(None, {"input": x})[0].astype(np.float64)
        return out

    return run


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def build_runner(member: DetectorNet, way: str, example: torch.Tensor) -> Runner:
    if way == "fp32":
        return torch_runner(member, torch.float32)
    if way in ("bf16", "fp16"):
        return torch_runner(member, torch.bfloat16 if way == "bf16" else torch.float16)
    if way in ("onnx-fp32", "onnx-int8"):
        return onnx_runners(member, example)[way]
    raise ValueError(f"unknown way {way!r}")


@dataclass
class Choice:
    """What the probe found for one member: seconds per probe batch for each way it tried
    (None: failed or out of tolerance) and the way chosen."""

    family: str
    way: str
    seconds: dict[str, float | None] = field(default_factory=dict)
    max_score_change: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def _timed(run: Runner, features: torch.Tensor) -> tuple[np.ndarray, float]:
    run(features[:1])  # warm-up: first-call allocations, lazy initialisation
    started = time.perf_counter()
    out = run(features)
    return out, time.perf_counter() - started


def _reference(member: DetectorNet, features: torch.Tensor) -> tuple[np.ndarray, float, int]:
    """torch fp32 on the probe windows: (logits, seconds per call, windows used). The first
    call warms up (one-time allocations, up to ~0.5 s); a member still slow on one window is
    timed on one window only: the probe must stay within a few seconds of start-up."""
    run = torch_runner(member, torch.float32)
    run(features[:1])
    started = time.perf_counter()
    one = run(features[:1])
    seconds = time.perf_counter() - started
    if seconds > HEAVY_SECONDS or len(features) == 1:
        return one, seconds, 1
    started = time.perf_counter()
    out = run(features)
    return out, time.perf_counter() - started, len(features)


class _Candidates:
    """The ways to try for one member, built on demand (both ONNX ways share one export)."""

    def __init__(self, member: DetectorNet, example: torch.Tensor) -> None:
        self.member = member
        self.example = example
        self.onnx: dict[str, Runner] = {}

    def runner(self, way: str) -> Runner:
        if way.startswith("onnx"):
            if not self.onnx:
                self.onnx = onnx_runners(self.member, self.example)
            return self.onnx[way]
        return build_runner(self.member, way, self.example)


def choose_ways(
    members: list[DetectorNet],
    final_score: Callable[[np.ndarray], np.ndarray],
    windows: np.ndarray | None = None,
) -> tuple[list[Runner], list[Choice]]:
    """Per member, the fastest way whose final scores stay within ``TOLERANCE`` of fp32.

    ``final_score`` maps (batch, members) logits to the scores users see (fusion and
    calibration), so the tolerance is judged where it matters, on the windows every member
    was probed on.
    """
    x = torch.from_numpy(windows if windows is not None else probe_windows())
    features = [m.features(x).float() for m in members]
    references = [_reference(m, f) for m, f in zip(members, features, strict=True)]
    shared = min(n for _, _, n in references)
    reference = np.stack([out[:shared] for out, _, _ in references], axis=1)
    reference_scores = final_score(reference)
    runners: list[Runner] = []
    choices: list[Choice] = []
    for index, member in enumerate(members):
        _, fp32_seconds, used = references[index]
        probe = features[index][:used]
        choice = Choice(member.family, "fp32", {"fp32": fp32_seconds}, {"fp32": 0.0})
        best: tuple[float, Runner] = (fp32_seconds, torch_runner(member, torch.float32))
        candidates = _Candidates(member, probe[:1])
        for way in WAYS[1:]:
            if way == "bf16" and fp32_seconds / BF16_BEST_SPEEDUP > best[0]:
                choice.seconds[way] = None
                choice.notes[way] = "not tried: cannot beat the fastest way found"
                continue
            try:
                runner = candidates.runner(way)
                out, seconds = _timed(runner, probe)
            except Exception as exc:  # a way this family or platform cannot take
                choice.seconds[way] = None
                choice.notes[way] = f"{type(exc).__name__}: {exc}"[:200]
                continue
            logits = reference.copy()
            logits[:, index] = out[:shared]
            change = float(np.abs(final_score(logits) - reference_scores).max())
            if not math.isfinite(change):
                change = math.inf
            choice.max_score_change[way] = round(change, 5)
            if change > PROBE_TOLERANCE:
                choice.seconds[way] = None
                choice.notes[way] = f"scores move by {change:.3f} (> {PROBE_TOLERANCE})"
                continue
            choice.seconds[way] = seconds
            if seconds < best[0]:
                best = (seconds, runner)
                choice.way = way
        runners.append(best[1])
        choices.append(choice)
    return runners, choices
