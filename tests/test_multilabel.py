"""Multi-label: average precision / mAP as MMAction2 defines them, multi-label lists, and a toy task that a
multi-label model learns and a single-label one cannot."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tsm_models.train.multilabel import (
    average_precision,
    bce_loss,
    mean_average_precision,
    multi_hot,
    multilabel_report,
    per_class_average_precision,
)


def _ap_by_hand(scores: list[float], targets: list[int]) -> float:
    """sum over thresholds of (R_n - R_{n-1}) P_n, every score a threshold (scikit-learn's definition)."""
    pairs = sorted(zip(scores, targets, strict=True), key=lambda p: -p[0])
    positives = sum(targets)
    ap, tp, prev_recall = 0.0, 0, 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        tp += sum(t for _, t in pairs[i:j])
        recall = tp / positives
        ap += (recall - prev_recall) * tp / j
        prev_recall = recall
        i = j
    return ap


def test_average_precision_matches_the_definition() -> None:
    assert average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) == pytest.approx(1 * 0.5 + (2 / 3) * 0.5)
    assert average_precision([0.5, 0.5], [1, 0]) == pytest.approx(0.5)  # a tie is one threshold
    assert average_precision([0.1, 0.9], [1, 1]) == pytest.approx(1.0)
    assert math.isnan(average_precision([0.1, 0.2], [0, 0]))
    rng = np.random.default_rng(0)
    for _ in range(20):
        s = rng.integers(0, 6, 30).astype(float)  # many ties
        y = rng.integers(0, 2, 30)
        if y.sum():
            assert average_precision(s, y) == pytest.approx(_ap_by_hand(s.tolist(), y.tolist()))
    scores = torch.tensor([[0.9, 0.1, 0.3], [0.2, 0.8, 0.3], [0.7, 0.6, 0.2]])
    targets = multi_hot([[0], [1, 2], [0, 1]], 3)
    assert targets.tolist() == [[1, 0, 0], [0, 1, 1], [1, 1, 0]]
    ap = per_class_average_precision(scores, targets)
    assert ap.tolist() == pytest.approx([1.0, 1.0, 1.0 / 2.0])  # class 2: positive ties with a negative at 0.3
    assert mean_average_precision(scores, targets) == pytest.approx(2.5 / 3)
    report = multilabel_report(scores, targets)
    assert report["num_samples"] == 3 and report["subset_accuracy"] == pytest.approx(2 / 3)
    # classes without positives are left out of the mean (MMAction2)
    assert mean_average_precision(scores[:, :2], targets[:, :2] * torch.tensor([1.0, 0.0])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="out of range"):
        multi_hot([[0, 3]], 3)
    with pytest.raises(ValueError, match="must match the logits"):
        bce_loss(torch.zeros(2, 3), torch.zeros(2))
