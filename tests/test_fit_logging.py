"""Run logs: JSON lines mirrored to TensorBoard, loss / lr curves as PNG (both optional extras), recipes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tsm_models.train import RECIPES, RunLogger, TrainConfig, entry_recipe, plot_curves, resolve_recipe


def _write_log(path: Path) -> None:
    records = [{"mode": "config", "steps_per_epoch": 4}]
    for epoch in range(3):
        for step in range(1, 5):
            records.append({"mode": "train", "epoch": epoch, "step": step, "loss": 2.0 - 0.1 * step, "lr": 0.1})
        records.append({"mode": "val", "epoch": epoch, "top1": 0.5 + 0.1 * epoch})
    # a resumed run redoes epoch 2: its records replace the first ones
    records.append({"mode": "config", "steps_per_epoch": 4})
    records += [{"mode": "train", "epoch": 2, "step": s, "loss": 1.0, "lr": 0.01} for s in range(1, 5)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_curves_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_log(tmp_path / "log.jsonl")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # not installed: nothing drawn, no error
    assert plot_curves(tmp_path / "log.jsonl", tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()
    monkeypatch.undo()
    pytest.importorskip("matplotlib")
    png = plot_curves(tmp_path / "log.jsonl", tmp_path / "curves.png")
    assert png == tmp_path / "curves.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    assert Image.open(png).size == (1500, 360)  # three panels: loss, lr, validation


def test_tensorboard_mirrors_the_json_lines(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log = RunLogger(tmp_path / "log.jsonl", steps_per_epoch=4, tensorboard_dir=tmp_path / "tb")
    log.log(mode="train", epoch=1, step=2, loss=0.5, lr=0.01)
    log.log(mode="val", epoch=1, top1=0.75, num_samples=8)
    log.close()
    assert [json.loads(line)["mode"] for line in (tmp_path / "log.jsonl").read_text().splitlines()] == ["train", "val"]
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert {"train/loss", "train/lr", "val/top1", "val/num_samples"} <= set(events.Tags()["scalars"])
    (loss,) = events.Scalars("train/loss")
    assert loss.step == 1 * 4 + 2 and loss.value == pytest.approx(0.5)
    (top1,) = events.Scalars("val/top1")
    assert top1.step == 2 and top1.value == pytest.approx(0.75)


def test_recipes_and_config_checks() -> None:
    import tsm_models

    entry = tsm_models.get_zoo_entry("tsm_r50_1x1x8_sthv1")
    recipe = entry_recipe(entry)
    assert recipe.lr == 0.01 and recipe.base_batch_size == 64 and recipe.weight_decay == 5e-4
    assert recipe.schedule == "step" and recipe.milestones == (0.4, 0.8) and recipe.flip is False
    assert resolve_recipe(None, entry) == recipe and resolve_recipe(None, None) == RECIPES["tsm"]
    assert RECIPES["tsm-mixup"].mixup == 0.2 and RECIPES["tsm-randaugment"].randaugment == "rand-m7-n4"
    with pytest.raises(ValueError, match="unknown recipe"):
        resolve_recipe("sgd", None)
    with pytest.raises(ValueError, match="needs a zoo checkpoint"):
        resolve_recipe("entry", None)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        TrainConfig(data=Path("d"), model="tsm_r18", out=Path("o"), batch_size=0)
    with pytest.raises(ValueError, match="exclude each other"):
        TrainConfig(data=Path("d"), model="tsm_r18", out=Path("o"), partial_bn=True, frozen_bn=True)
