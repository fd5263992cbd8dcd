"""The examples, run in small form: fine-tuning on a folder of videos, zoo evaluation, temporal reasoning."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

import tsm_models
from tests._train_utils import write_frame_folder

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


pytestmark = pytest.mark.usefixtures("one_thread")


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_temporal_reasoning_quick(capsys: pytest.CaptureFixture[str]) -> None:
    example = _load("temporal_reasoning")
    assert example.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    result = _last_json(out)
    assert set(result) == {"tsm_acc", "tsn_acc"} and all(0.0 <= v <= 1.0 for v in result.values())


def test_temporal_reasoning_classes_differ_only_in_order() -> None:
    example = _load("temporal_reasoning")
    videos, labels = example.make_motion_dataset(64, 8, 32, generator=torch.Generator().manual_seed(0))
    assert videos.shape == (64, 8, 3, 32, 32) and set(labels.tolist()) == {0, 1}
    # the bright square's column per frame: increasing for label 1, decreasing for label 0
    cols = (videos.mean(2) > 0.3).float().sum(2).argmax(-1).float()  # (N, T) first bright column
    slope = (cols[:, -1] - cols[:, 0]).sign()
    assert torch.equal(slope, labels.float() * 2 - 1)
    tsm = example.small_tsm(8, shift=True)
    tsn = example.small_tsm(8, shift=False)
    assert len([m for m in tsm.modules() if type(m).__name__ == "TemporalShift"]) == 4
    assert not [m for m in tsn.modules() if type(m).__name__ == "TemporalShift"]
    assert sum(p.numel() for p in tsm.parameters()) == sum(p.numel() for p in tsn.parameters())
    # the TSN is blind to frame order: reversing time leaves its (time-averaged) features unchanged; the TSM's change
    for model in (tsm, tsn):
        model.eval()
        for m in model.modules():  # undo timm's zero-init of each block's last BN (residual branches are 0 at init)
            if isinstance(m, torch.nn.BatchNorm2d):
                torch.nn.init.ones_(m.weight)

    def features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model.forward_head(model.forward_features(x), pre_logits=True)

    with torch.no_grad():
        torch.testing.assert_close(features(tsn, videos[:4]), features(tsn, videos[:4].flip(1)), atol=1e-5, rtol=1e-4)
        difference = (features(tsm, videos[:4]) - features(tsm, videos[:4].flip(1))).abs().max()
        assert difference > 1e-2 * features(tsm, videos[:4]).abs().max()


def test_finetune_folder_of_videos_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("av")
    from tests._video_utils import write_video

    for split, count in (("train", 2), ("val", 1)):
        for cls in ("push", "pull"):
            (tmp_path / "data" / split / cls).mkdir(parents=True)
            for i in range(count):
                write_video(tmp_path / "data" / split / cls / f"{i}.mp4", 9 + i, size=(48, 40))
    example = _load("finetune")
    work = tmp_path / "work"
    common = [str(tmp_path / "data"), "--no-pretrained", "--batch-size", "2", "--short-side", "40"]
    common += ["--crop-size", "32", "--workers", "0", "--work-dir", str(work), "--no-progress"]
    assert example.main([*common, "--epochs", "1"]) == 0
    first = _last_json(capsys.readouterr().out)
    assert first["model"] == "tsm_r50_1x1x8_kinetics400" and first["classes"] == 2 and first["num_samples"] == 2
    ckpt = torch.load(work / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["extra"]["classes"] == ["pull", "push"]
    assert ckpt["model"]["fc.weight"].shape == (2, 2048)
    assert example.main([*common, "--epochs", "2", "--resume", "auto"]) == 0
    capsys.readouterr()
    records = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    epochs = [r["epoch"] for r in records if r["mode"] in ("train_epoch", "val")]
    assert epochs == [0, 0, 1, 1]  # train_epoch + val per epoch, resumed at 1
    assert records[-1]["mode"] == "done" and records[-1]["pretrained"] == str(work / "model")
    assert torch.load(work / "last.pt", weights_only=True)["epoch"] == 2
    for name in ("metrics.json", "per_class_accuracy.csv", "confusion_matrix.csv", "best.pt"):
        assert (work / name).is_file(), name


def test_evaluate_zoo_entry_on_raw_frame_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = []
    for i, label in enumerate((5, 173)):
        write_frame_folder(tmp_path / f"v{i}", 10, i, seed=i, filename_tmpl="{:05}.jpg")  # sthv1 naming
        lines.append(f"v{i} 10 {label}")
    (tmp_path / "val.txt").write_text("\n".join(lines) + "\n")
    example = _load("evaluate")
    argv = ["tsm_r50_1x1x8_sthv1", "--list", str(tmp_path / "val.txt"), "--no-pretrained", "--short-side", "40"]
    argv += ["--crop-size", "32", "--workers", "0", "--out", str(tmp_path / "out"), "--no-progress"]
    assert example.main(argv) == 0
    out = capsys.readouterr().out
    assert "top-1 accuracy" in out and "44.62" in out and "not comparable" in out
    summary = _last_json(out)
    assert summary["num_videos"] == 2 and summary["zoo_top1"] == 44.62 and summary["comparable"] is False
    with open(tmp_path / "out" / "confusion_matrix.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 175 and len(rows[0]) == 175  # header + one row/column per sthv1 class
    assert rows[0][1:3] == tsm_models.load_labels("sthv1")[:2]
    assert sum(int(v) for row in rows[1:] for v in row[1:]) == 2 and sum(int(v) for v in rows[6][1:]) == 1
    (tmp_path / "bad.txt").write_text("v0 10 174\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: label 174 is out of range for 174 classes"):
        example.main(["tsm_r50_1x1x8_sthv1", "--list", str(tmp_path / "bad.txt"), "--no-pretrained"])
