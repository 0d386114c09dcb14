"""Running a family network with ONNX Runtime: export once, then a session that shares the
CPUs with torch without fighting it.

ORT's eager convolutions are several times cheaper on a CPU than torch's for AASIST
(measured: ~0.15 vs ~0.9 CPU-seconds per window), which is the difference between meeting
and missing real time.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from realtone_scorer.threads import cpu_count


def export(module: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """Export ``module`` (one float input with a batch dimension) to ONNX at ``path``."""
    module = module.eval()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # The legacy exporter gives a faster graph than the dynamo one for these models
        # (scorer-speed notes); its deprecation and tracer warnings are expected.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return path


def session(path: Path, threads: int | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # As many as torch's pool (sized to the container's CPUs at start): never more.
    options.intra_op_num_threads = threads or min(torch.get_num_threads(), cpu_count())
    options.inter_op_num_threads = 1
    # Spinning threads wait busily for work; beside torch's pool on the same cores they make
    # both ~2x slower (seen here), so they sleep instead.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxModule:
    """A module's forward, exported and run by ONNX Runtime (float32 in and out)."""

    def __init__(self, module: nn.Module, example: torch.Tensor, threads: int | None = None):
        with tempfile.TemporaryDirectory(prefix="realtone-onnx-") as tmp:
            self._session = session(export(module, example, Path(tmp) / "model.onnx"), threads)

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        out: np.ndarray = self._session.run(
            None, {"input": np.ascontiguousarray(inputs, dtype=np.float32)}
        )[0]
        return out
