"""Metrics: MMAction2's top-k and mean class accuracy, per-class accuracy, confusion-matrix files."""

from __future__ import annotations

import builtins
import csv
import logging

import numpy as np
import pytest
import torch

from tsm_models.train.metrics import (
    classification_report,
    confusion_matrix,
    mean_class_accuracy,
    per_class_accuracy,
    save_confusion_matrix,
    top_k_accuracy,
)


def _mmaction2_mean_class_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """MMAction2 0.x ``mean_class_accuracy``, written from its definition: a confusion matrix over the sorted
    union of predicted and true labels, recall per row, 0 for rows without true samples, then the mean."""
    pred = scores.argmax(1)
    label_set = np.unique(np.concatenate([pred, labels]))
    index = {c: i for i, c in enumerate(label_set)}
    cm = np.zeros((len(label_set), len(label_set)))
    for p, y in zip(pred, labels, strict=True):
        cm[index[y], index[p]] += 1
    cnt, hit = cm.sum(1), np.diag(cm)
    return float(np.mean([h / c if c else 0.0 for c, h in zip(cnt, hit, strict=True)]))


def test_top_k_accuracy_counts_label_rank() -> None:
    # label ranks by construction: video 0 rank 1, video 1 rank 2, video 2 rank 4, video 3 rank 6
    scores = np.array(
        [
            [9, 1, 2, 3, 4, 5],
            [1, 9, 8, 3, 4, 5],
            [1, 2, 3, 6, 7, 8],
            [6, 5, 4, 3, 2, 1],
        ],
        dtype=np.float32,
    )
    labels = np.array([0, 2, 3, 5])
    top1, top2, top5, top6 = top_k_accuracy(scores, labels, (1, 2, 5, 6))
    assert (top1, top2, top5, top6) == (0.25, 0.5, 0.75, 1.0)
    # torch input gives the same numbers; k beyond K counts every video
    assert top_k_accuracy(torch.from_numpy(scores), torch.from_numpy(labels), (1, 10)) == [0.25, 1.0]


def test_mean_class_accuracy_counts_predicted_only_classes_as_zero() -> None:
    # labels 0,0,1,1; predictions 0,2,1,1: class 0 recall 1/2, class 1 recall 1, class 2 (only predicted) 0
    scores = np.eye(4)[[0, 2, 1, 1]]
    labels = np.array([0, 0, 1, 1])
    assert mean_class_accuracy(scores, labels) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    # class 3 is neither a label nor a prediction: not averaged
    assert per_class_accuracy(scores, labels)[:2].tolist() == [0.5, 1.0]
    assert np.isnan(per_class_accuracy(scores, labels)[2:]).all()


def test_mean_class_accuracy_matches_mmaction2_on_random_data() -> None:
    rng = np.random.default_rng(0)
    for n, k in [(50, 7), (200, 30), (13, 40)]:
        scores = rng.normal(size=(n, k))
        labels = rng.integers(0, k, size=n)
        scores[np.arange(n)[: n // 2], labels[: n // 2]] += 3  # make it better than chance
        assert mean_class_accuracy(scores, labels) == pytest.approx(_mmaction2_mean_class_accuracy(scores, labels))


def test_confusion_matrix_rows_are_true_classes() -> None:
    cm = confusion_matrix(pred=[1, 1, 0, 2], labels=[0, 1, 0, 0], num_classes=3)
    assert cm.tolist() == [[1, 1, 1], [0, 1, 0], [0, 0, 0]]
    assert cm.sum() == 4


def test_classification_report() -> None:
    scores = torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0], [0.0, 2.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    report = classification_report(scores, labels, topk=(1, 2))
    assert report == {"top1": pytest.approx(2 / 3), "top2": 1.0, "mean_class_accuracy": 0.5, "num_samples": 3}


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        (np.zeros((3,)), np.zeros(3, dtype=int), "scores must be"),
        (np.zeros((3, 4)), np.zeros(2, dtype=int), "labels must be"),
        (np.zeros((3, 4)), np.array([0, 1, 4]), r"labels must lie in \[0, 4\)"),
        (np.zeros((3, 4)), np.array([0.0, 1.0, 2.0]), "integers"),
        (np.zeros((0, 4)), np.zeros(0, dtype=int), "empty"),
    ],
)
def test_bad_inputs_raise(scores: np.ndarray, labels: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        top_k_accuracy(scores, labels)


def test_save_confusion_matrix_csv_and_png(tmp_path) -> None:
    pil = pytest.importorskip("PIL.Image")
    cm = confusion_matrix([0, 1, 1, 2, 2, 2], [0, 1, 2, 2, 2, 0], 3)
    written = save_confusion_matrix(cm, tmp_path / "cm.csv", tmp_path / "cm.png", ["walk", "run, fast", "jump"])
    assert written == [tmp_path / "cm.csv", tmp_path / "cm.png"]
    with open(tmp_path / "cm.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["true \\ pred", "walk", "run, fast", "jump"]
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == cm.tolist()
    assert [r[0] for r in rows[1:]] == ["walk", "run, fast", "jump"]
    image = pil.open(tmp_path / "cm.png")
    assert image.size[0] == image.size[1] >= 3
    pixels = np.asarray(image.convert("RGB"))
    cell = image.size[0] // 3
    # row 1 (true "run") has all its videos in column 1: darkest; its column 0 cell is empty: white
    assert pixels[cell + cell // 2, cell // 2].tolist() == [255, 255, 255]
    assert pixels[cell + cell // 2, cell + cell // 2].sum() < pixels[2 * cell + cell // 2, 2 * cell + cell // 2].sum()
    assert not list(tmp_path.glob(".*tmp"))


def test_save_confusion_matrix_without_pillow(tmp_path, monkeypatch, caplog) -> None:
    real_import = builtins.__import__

    def no_pil(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("no Pillow")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pil)
    with caplog.at_level(logging.INFO, logger="tsm_models.train.metrics"):
        written = save_confusion_matrix(np.eye(2, dtype=int), tmp_path / "cm.csv", tmp_path / "cm.png")
    assert written == [tmp_path / "cm.csv"]
    assert not (tmp_path / "cm.png").exists()
    assert "Pillow is not installed" in caplog.text


def test_save_confusion_matrix_rejects_bad_shapes(tmp_path) -> None:
    with pytest.raises(ValueError, match="square"):
        save_confusion_matrix(np.zeros((2, 3)), tmp_path / "cm.csv")
    with pytest.raises(ValueError, match="1 names for a 2-class"):
        save_confusion_matrix(np.zeros((2, 2)), tmp_path / "cm.csv", class_names=["a"])
