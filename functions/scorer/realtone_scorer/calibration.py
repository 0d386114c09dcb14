"""Score calibration: logistic regression on the detector's log-odds (Platt scaling).

``realtone eval --calibrate`` fits it and writes ``calibration.json`` beside the checkpoint;
the scorer applies it when present, so a window's score is a probability of being
synthetic and the verdict thresholds mean what they say.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

CALIBRATION_FILE = "calibration.json"
_EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class Calibration:
    scale: float
    bias: float
    fitted_on: int = 0

    def apply(self, scores: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.scale * logit(scores) + self.bias)))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> Calibration:
        data = json.loads(path.read_text())
        return cls(float(data["scale"]), float(data["bias"]), int(data.get("fitted_on", 0)))


def fit(
    scores: np.ndarray, spoof: np.ndarray, l2: float = 1e-3, iterations: int = 100
) -> Calibration:
    """Maximum-likelihood logistic fit of ``spoof`` on ``logit(scores)`` (Newton's method,
    a little L2 so separable data does not run off to infinity)."""
    x = logit(scores)
    y = np.asarray(spoof, dtype=np.float64)
    if y.min() == y.max():
        raise ValueError("calibration needs both bona fide and spoof examples")
    w = np.zeros(2)  # scale, bias
    features = np.stack([x, np.ones_like(x)], axis=1)
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(features @ w)))
        gradient = features.T @ (p - y) + l2 * w
        hessian = features.T @ (features * (p * (1 - p))[:, None]) + l2 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return Calibration(float(w[0]), float(w[1]), len(y))
