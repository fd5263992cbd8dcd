"""Multi-label: average precision / mAP as MMAction2 defines them, multi-label lists, and a toy task that a
multi-label model learns and a single-label one cannot."""

from __future__ import annotations

import math
from pathlib import Path

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


@pytest.fixture(scope="module")
def colour_lists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tests._fit_utils import write_multilabel_lists

    return write_multilabel_lists(tmp_path_factory.mktemp("colours"))


def test_multilabel_lists_are_parsed(colour_lists: tuple[Path, Path], tmp_path: Path) -> None:
    from tsm_models.data.dataset import read_annotation_file

    train, _ = colour_lists
    records = read_annotation_file(train, multi_label=True, num_classes=3)
    lines = train.read_text().splitlines()
    assert [r.label for r in records] == [tuple(int(v) for v in line.split()[1:]) for line in lines]
    with pytest.raises(ValueError, match="--multi-label"):
        read_annotation_file(train)  # several labels on a line of a single-label list
    frames = tmp_path / "frames.txt"
    (tmp_path / "clip").mkdir()
    frames.write_text("clip 12 0 2\n")
    (record,) = read_annotation_file(frames, multi_label=True, num_classes=3)
    assert record.total_frames == 12 and record.label == (0, 2)
    frames.write_text("clip 12 0 3\n")
    with pytest.raises(ValueError, match="out of range for 3 classes"):
        read_annotation_file(frames, multi_label=True, num_classes=3)


def _fit(train: Path, val: Path, prefix: Path, out: Path, multi_label: bool) -> Path:
    from tsm_models.train import TrainConfig, fit

    cfg = TrainConfig(
        data=train, val_data=val, data_prefix=prefix, model="tsm_r18", out=out, pretrained=False, num_classes=3,
        multi_label=multi_label, num_segments=4, short_side=32, crop_size=32, epochs=4, batch_size=8, lr=0.02,
        recipe="finetune", flip=False, workers=0, progress=False, device="cpu", curves=False,
    )  # fmt: skip
    return fit(cfg).pretrained


@pytest.mark.usefixtures("one_thread")
def test_a_multilabel_model_learns_what_a_single_label_one_cannot(
    colour_lists: tuple[Path, Path], tmp_path: Path
) -> None:
    """Videos light 1-3 colour channels (one class each); only the multi-label model (BCE, sigmoid) can name every
    class of a video: a softmax over classes names one."""
    import tsm_models
    from tsm_models.data.dataset import VideoDataset, read_annotation_file
    from tsm_models.models import ClipProtocol

    train, val = colour_lists
    single_train = tmp_path / "single.txt"  # the same videos, each with its first label only
    single_train.write_text("".join(" ".join(line.split()[:2]) + "\n" for line in train.read_text().splitlines()))
    single_val = tmp_path / "single_val.txt"
    single_val.write_text("".join(" ".join(line.split()[:2]) + "\n" for line in val.read_text().splitlines()))
    multi = tsm_models.from_pretrained(_fit(train, val, train.parent, tmp_path / "multi", multi_label=True))
    single = tsm_models.from_pretrained(
        _fit(single_train, single_val, train.parent, tmp_path / "single", multi_label=False)
    )
    assert multi.multi_label is True and single.multi_label is False

    records = read_annotation_file(val, data_prefix=val.parent, multi_label=True, num_classes=3)
    protocol = ClipProtocol(num_frames=4, resize_short=32, crop_size=32, input_format="video")
    dataset = VideoDataset(records, protocol, num_classes=3, multi_label=True)
    videos = torch.stack([dataset[i][0] for i in range(len(dataset))]).flatten(0, 1)
    targets = torch.stack([dataset[i][1] for i in range(len(dataset))])
    with torch.no_grad():
        multi_probs = multi(videos).sigmoid()
        single_probs = single(videos).softmax(-1)
    multi_sets = multi_probs >= 0.5
    single_sets = torch.nn.functional.one_hot(single_probs.argmax(1), 3).bool()  # a softmax names one class
    multi_acc = (multi_sets == targets.bool()).all(1).float().mean().item()
    single_acc = (single_sets == targets.bool()).all(1).float().mean().item()
    one_label = (targets.sum(1) == 1).float().mean().item()  # 3 of the 7 colour subsets
    assert single_acc <= one_label + 1e-6 < 0.5
    assert multi_acc >= 0.8, (multi_acc, multi_probs)
    assert mean_average_precision(multi_probs, targets) >= 0.95
    # predict: independent sigmoid probabilities, named with the classes of the list
    two = next(i for i, r in enumerate(records) if len(r.label) == 2)
    top = tsm_models.VideoClassifier(multi, protocol=protocol).predict_many([records[two].path], topk=3)
    (prediction,) = list(top)
    assert prediction.ok, prediction.error
    probs = dict(prediction.topk)
    assert set(probs) == {"0", "1", "2"} and sum(probs.values()) > 1.5  # two classes near 1: not a softmax
    assert {int(name) for name, p in probs.items() if p >= 0.5} == set(records[two].label)
