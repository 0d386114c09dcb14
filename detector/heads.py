"""Training the small heads on cached front-end features, and turning window scores into the
file verdicts the service gives (the same rules as ``realtone_scorer.summary``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from realtone_scorer.metrics import equal_error_rate


@dataclass(frozen=True)
class HeadOptions:
    hidden: int = 0  # 0: logistic regression; > 0: one hidden layer
    weight_decay: float = 1e-2
    dropout: float = 0.2
    lr: float = 1e-3
    epochs: int = 40
    batch: int = 128
    patience: int = 8


@dataclass
class Head:
    """A trained head on standardised features: ``logit(x) = net((x - center) / scale)``."""

    center: np.ndarray
    scale: np.ndarray
    net: nn.Module

    @torch.no_grad()
    def logits(self, x: np.ndarray) -> np.ndarray:
        self.net.eval()
        z = torch.from_numpy(((x - self.center) / self.scale).astype(np.float32))
        out: np.ndarray = self.net(z).squeeze(-1).double().numpy()
        return out


def _network(dim: int, options: HeadOptions) -> nn.Module:
    if options.hidden:
        return nn.Sequential(
            nn.Linear(dim, options.hidden),
            nn.GELU(),
            nn.Dropout(options.dropout),
            nn.Linear(options.hidden, 1),
        )
    return nn.Linear(dim, 1)


def train_head(
    x: np.ndarray,
    spoof: np.ndarray,
    x_dev: np.ndarray,
    spoof_dev: np.ndarray,
    options: HeadOptions,
    seed: int,
) -> tuple[Head, float]:
    """Class-balanced BCE with AdamW; keeps the epoch with the lowest dev window EER.
    Returns the head and that EER."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    center = x.mean(axis=0)
    scale = np.maximum(x.std(axis=0), 1e-6)
    xs = torch.from_numpy(((x - center) / scale).astype(np.float32))
    ys = torch.from_numpy(spoof.astype(np.float32))
    net = _network(x.shape[1], options)
    head = Head(center, scale, net)
    positive = max(float(spoof.mean()), 1e-6)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - positive) / positive))
    optimiser = torch.optim.AdamW(
        net.parameters(), lr=options.lr, weight_decay=options.weight_decay
    )
    best = (math.inf, {k: v.clone() for k, v in net.state_dict().items()})
    stale = 0
    for _ in range(options.epochs):
        net.train()
        order = rng.permutation(len(xs))
        for i in range(0, len(order), options.batch):
            idx = torch.from_numpy(order[i : i + options.batch])
            optimiser.zero_grad()
            loss_fn(net(xs[idx]).squeeze(-1), ys[idx]).backward()
            optimiser.step()
        eer = equal_error_rate(head.logits(x_dev), spoof_dev).eer
        if eer < best[0] - 1e-4:
            best, stale = (eer, {k: v.clone() for k, v in net.state_dict().items()}), 0
        else:
            stale += 1
            if stale >= options.patience:
                break
    net.load_state_dict(best[1])
    net.eval()
    return head, best[0]


def fit_logistic(x: np.ndarray, spoof: np.ndarray, l2: float = 1e-2) -> tuple[np.ndarray, float]:
    """Class-balanced L2 logistic regression by Newton's method: (weights, bias)."""
    y = spoof.astype(np.float64)
    features = np.hstack([x, np.ones((len(x), 1))])
    weight = np.where(y > 0, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    w = np.zeros(features.shape[1])
    penalty = l2 * np.eye(features.shape[1])
    penalty[-1, -1] = 0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(features @ w)))
        gradient = features.T @ (weight * (p - y)) / len(y) + penalty @ w
        hessian = (features.T * (weight * p * (1 - p))) @ features / len(y) + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(w)), gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w[:-1], float(w[-1])


# --- files -------------------------------------------------------------------------------------


@dataclass
class FileScores:
    """Per file: the summary score (mean of the top third), the largest window score, and the
    share of windows at or over the threshold (all as the service computes them)."""

    score: np.ndarray
    max_score: np.ndarray
    files: np.ndarray  # indexes of the files that had windows

    def called_fake(self, threshold: float) -> np.ndarray:
        """``fake`` or ``likely_fake``: any window at or over the threshold."""
        called: np.ndarray = self.max_score >= threshold
        return called


def file_scores(window_scores: np.ndarray, owner: np.ndarray) -> FileScores:
    order = np.argsort(owner, kind="stable")
    files, starts = np.unique(owner[order], return_index=True)
    groups = np.split(window_scores[order], starts[1:])
    score, top = [], []
    for values in groups:
        ranked = np.sort(values)[::-1]
        k = max(1, math.ceil(len(ranked) / 3))
        score.append(ranked[:k].mean())
        top.append(ranked[0])
    return FileScores(np.array(score), np.array(top), files)


def sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1 / (1 + np.exp(-z))
    return out
