"""Classification metrics as MMAction2 defines them, multi-view averaging and confusion matrices.

Layouts: ``scores`` are ``(N, K)`` per-video class scores (logits or probabilities), ``labels`` are ``(N,)``
integer class indices; multi-view scores are ``(N, V, K)`` with ``V = clips x crops`` views per video.
Everything accepts numpy arrays or torch tensors and returns plain Python / numpy values.

* :func:`top_k_accuracy` is MMAction2's ``top_k_accuracy``: a video counts for top-k when its label is
  among the ``k`` highest scores (ties broken as ``numpy.argsort`` breaks them).
* :func:`mean_class_accuracy` is MMAction2's ``mean_class_accuracy``: the mean over the classes that occur
  among the labels **or** the predictions of the per-class recall; a class that is only ever predicted
  (no video of it in the set) contributes 0. On a set that covers every class this is the usual mean
  per-class recall.
* Multi-view scores are combined by :func:`tsm_models.average_clips` (MMAction2 ``average_clip``:
  ``"score"`` averages logits over views, ``"prob"`` averages softmax probabilities) before these metrics.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_write

__all__ = [
    "classification_report",
    "confusion_matrix",
    "mean_class_accuracy",
    "per_class_accuracy",
    "save_confusion_matrix",
    "top_k_accuracy",
]

_logger = logging.getLogger(__name__)


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()
        return x.numpy()
    try:
        return np.asarray(x)
    except Exception as exc:
        raise ValueError(f"{name} must be array-like, got {type(x).__name__}") from exc


def _check_scores_labels(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s = _as_numpy(scores, "scores")
    y = _as_numpy(labels, "labels")
    if s.ndim != 2:
        raise ValueError(f"scores must be (N, K) class scores, got shape {s.shape}")
    if y.ndim != 1 or y.shape[0] != s.shape[0]:
        raise ValueError(f"labels must be (N,) with N={s.shape[0]} to match scores {s.shape}, got shape {y.shape}")
    if s.shape[0] == 0:
        raise ValueError("scores and labels are empty: need at least one video")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= s.shape[1]:
        raise ValueError(f"labels must lie in [0, {s.shape[1]}) (K={s.shape[1]} classes), got [{y.min()}, {y.max()}]")
    return s, y.astype(np.int64)


def top_k_accuracy(scores: Any, labels: Any, topk: Sequence[int] = (1, 5)) -> list[float]:
    """Fraction of videos whose label is among their ``k`` highest scores, for each ``k`` in ``topk``.

    Args:
        scores: ``(N, K)`` class scores.
        labels: ``(N,)`` class indices.
        topk: the ``k`` values; ``k > K`` counts every video as a hit (as MMAction2 does).

    Returns:
        One accuracy in ``[0, 1]`` per ``k``.
    """
    s, y = _check_scores_labels(scores, labels)
    order = np.argsort(s, axis=1)
    out = []
    for k in topk:
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"topk values must be positive ints, got {k!r}")
        top = order[:, -k:]
        out.append(float(np.any(top == y[:, None], axis=1).mean()))
    return out


def confusion_matrix(pred: Any, labels: Any, num_classes: int) -> np.ndarray:
    """``(K, K)`` int64 counts: row = true class, column = predicted class."""
    p = _as_numpy(pred, "pred").astype(np.int64).reshape(-1)
    y = _as_numpy(labels, "labels").astype(np.int64).reshape(-1)
    if p.shape != y.shape:
        raise ValueError(f"pred and labels must have the same length, got {p.shape} and {y.shape}")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    for name, v in (("pred", p), ("labels", y)):
        if v.size and (v.min() < 0 or v.max() >= num_classes):
            raise ValueError(f"{name} must lie in [0, {num_classes}), got [{v.min()}, {v.max()}]")
    return np.bincount(y * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(scores: Any, labels: Any) -> np.ndarray:
    """``(K,)`` recall of each class (top-1); ``nan`` for classes without a video in ``labels``."""
    s, y = _check_scores_labels(scores, labels)
    cm = confusion_matrix(s.argmax(1), y, s.shape[1]).astype(np.float64)
    count = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.diag(cm) / count, np.nan)


def mean_class_accuracy(scores: Any, labels: Any) -> float:
    """MMAction2's mean class accuracy (see the module docstring for the classes it averages over)."""
    s, y = _check_scores_labels(scores, labels)
    pred = s.argmax(1)
    cm = confusion_matrix(pred, y, s.shape[1]).astype(np.float64)
    present = np.union1d(pred, y)
    count = cm.sum(1)[present]
    hit = np.diag(cm)[present]
    return float(np.mean(np.where(count > 0, hit / np.maximum(count, 1), 0.0)))


def classification_report(scores: Any, labels: Any, topk: Sequence[int] = (1, 5)) -> dict[str, float]:
    """``{"top1": ..., "top5": ..., "mean_class_accuracy": ..., "num_samples": N}`` (fractions in [0, 1])."""
    s, y = _check_scores_labels(scores, labels)
    out: dict[str, float] = {f"top{k}": acc for k, acc in zip(topk, top_k_accuracy(s, y, topk), strict=True)}
    out["mean_class_accuracy"] = mean_class_accuracy(s, y)
    out["num_samples"] = int(s.shape[0])
    return out


def _png(cm: np.ndarray, path: Path) -> bool:
    try:
        from PIL import Image
    except ImportError:
        _logger.info("Pillow is not installed: skipped the confusion-matrix PNG %s (CSV written)", path)
        return False
    k = cm.shape[0]
    row = cm.sum(1, keepdims=True).astype(np.float64)
    frac = np.divide(cm, row, out=np.zeros(cm.shape, dtype=np.float64), where=row > 0)
    # white (0) -> dark blue (1), row-normalised; each cell becomes a square of `cell` pixels
    lo, hi = np.array([255.0, 255.0, 255.0]), np.array([8.0, 48.0, 107.0])
    rgb = (lo + frac[..., None] * (hi - lo)).round().astype(np.uint8)
    cell = max(1, 512 // k)
    rgb = rgb.repeat(cell, 0).repeat(cell, 1)
    with atomic_write(path) as f:
        Image.fromarray(rgb, "RGB").save(f, format="PNG")
    return True


def save_confusion_matrix(
    cm: np.ndarray,
    csv_path: str | os.PathLike[str],
    png_path: str | os.PathLike[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> list[Path]:
    """Write a confusion matrix as CSV (header row and column of class names) and optionally PNG.

    The PNG shows row-normalised counts (white = 0, dark blue = all videos of the row's class), one square
    per cell, true classes top to bottom, predicted left to right. It needs Pillow; without it the PNG is
    skipped with a logged note. Files are written atomically.

    Returns:
        The paths written.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square (K, K), got shape {cm.shape}")
    k = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"class_names has {len(names)} names for a {k}-class confusion matrix")

    def write_csv(f: Any) -> None:
        w = csv.writer(f)
        w.writerow(["true \\ pred", *names])
        for name, row in zip(names, cm.tolist(), strict=True):
            w.writerow([name, *row])

    written = [Path(csv_path)]
    with atomic_write(written[0], "w", newline="") as f:
        write_csv(f)
    if png_path is not None and _png(cm, Path(png_path)):
        written.append(Path(png_path))
    return written
