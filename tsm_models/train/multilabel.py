"""Multi-label classification: multi-hot targets, BCE-with-logits, average precision and mAP.

A multi-label video has any number of the ``K`` classes (MMAction2's ``multi_class`` annotation lines
``path label label ...``). Targets are multi-hot ``(N, K)`` float rows; the network's logits are read through a
sigmoid, one independent probability per class (not a softmax over classes).

Metrics follow MMAction2 1.x ``mean_average_precision``: per class, the average precision
``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds in decreasing order (scikit-learn's
``average_precision_score``); classes without a positive video have no AP (``nan``) and are left out of
the mean. ``subset_accuracy`` is the fraction of videos whose thresholded set (probability >= 0.5) equals
their label set exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "average_precision",
    "bce_loss",
    "mean_average_precision",
    "multi_hot",
    "multilabel_report",
    "per_class_average_precision",
]


def multi_hot(labels: Sequence[Sequence[int]] | Sequence[int], num_classes: int) -> torch.Tensor:
    """Class-index lists -> ``(N, K)`` float32 multi-hot rows (a plain int is a one-label video)."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    out = torch.zeros(len(labels), num_classes, dtype=torch.float32)
    for i, row in enumerate(labels):
        idx = [row] if isinstance(row, (int, np.integer)) else list(row)
        for c in idx:
            if not 0 <= int(c) < num_classes:
                raise ValueError(f"label {c} of item {i} is out of range for {num_classes} classes")
            out[i, int(c)] = 1.0
    return out


def bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy with logits over ``(B, K)`` (MMAction2's ``BCELossWithLogits``)."""
    if logits.shape != target.shape:
        raise ValueError(f"multi-label targets must match the logits {tuple(logits.shape)}, got {tuple(target.shape)}")
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float64)


def average_precision(scores: Any, targets: Any) -> float:
    """AP of one class: ``scores (N,)``, binary ``targets (N,)``; ``nan`` when no target is positive."""
    s = _numpy(scores).reshape(-1)
    y = _numpy(targets).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"scores and targets must have the same length, got {s.shape} and {y.shape}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("targets must be 0 or 1")
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each distinct threshold
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def per_class_average_precision(scores: Any, targets: Any) -> np.ndarray:
    """``(K,)`` AP of each class of ``scores (N, K)`` and multi-hot ``targets (N, K)`` (``nan``: no positive)."""
    s, y = _numpy(scores), _numpy(targets)
    if s.ndim != 2 or s.shape != y.shape:
        raise ValueError(f"scores and targets must both be (N, K), got {s.shape} and {y.shape}")
    return np.array([average_precision(s[:, k], y[:, k]) for k in range(s.shape[1])])


def mean_average_precision(scores: Any, targets: Any) -> float:
    """Mean of the per-class APs over the classes with at least one positive video (MMAction2's mAP)."""
    ap = per_class_average_precision(scores, targets)
    ap = ap[~np.isnan(ap)]
    if ap.size == 0:
        raise ValueError("no class has a positive video: mAP is undefined")
    return float(ap.mean())


def multilabel_report(scores: Any, targets: Any, threshold: float = 0.5) -> dict[str, float]:
    """``{"mAP", "subset_accuracy", "num_samples"}`` of sigmoid ``scores (N, K)`` and multi-hot ``targets``.

    ``scores`` are probabilities (or logits, for mAP only: AP depends on the order alone); the subset
    accuracy thresholds them at ``threshold``.
    """
    s, y = _numpy(scores), _numpy(targets)
    return {
        "mAP": mean_average_precision(s, y),
        "subset_accuracy": float(((s >= threshold) == (y > 0.5)).all(1).mean()),
        "num_samples": int(s.shape[0]),
    }
