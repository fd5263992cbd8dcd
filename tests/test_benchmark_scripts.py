"""The scripts in benchmarks/ run end to end on tiny CPU settings (their figures are not asserted)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.usefixtures("one_thread")

SCRIPTS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


TINY = ["--device", "cpu", "--model", "tsm_r18", "--img-size", "32", "--iters", "1", "--warmup", "0"]


def test_gpu_targets_reports_every_part(tmp_path: Path, capsys) -> None:
    script = load("gpu_targets")
    out = tmp_path / "rows.jsonl"
    rc = script.main([*TINY, "--batches", "2", "--train-batch", "2", "--no-compile", "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    eager = lambda rows: sum(not r.get("compile") for r in rows)  # noqa: E731
    assert [r["part"] for r in rows] == (
        ["latency"] * eager(script.LATENCY) + ["throughput"] * eager(script.THROUGHPUT) + ["train"] * len(script.TRAIN)
    )
    assert all(r["videos_per_s"] > 0 and "error" not in r for r in rows)
    assert all("yardstick_videos_per_s" in r for r in rows if r["part"] == "latency")
    assert "bf16 channels_last grad_checkpointing" in {r["config"] for r in rows if r["part"] == "train"}
    for part in ("latency: target >= 740 video/s", "throughput: target >= 2000 video/s", "train: target < 3500 MB"):
        assert part in text
    assert "not comparable" in text  # CPU memory is flagged


def test_gpu_targets_keeps_going_after_a_failing_row(monkeypatch, capsys) -> None:
    script = load("gpu_targets")
    real = script.benchmark_train_step

    def fail_fp16(setup, **kwargs):
        if setup.dtype == "fp16":
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(setup, **kwargs)

    monkeypatch.setattr(script, "benchmark_train_step", fail_fp16)
    rc = script.main([*TINY, "--part", "train", "--train-batch", "2"])
    text = capsys.readouterr().out
    assert rc == 1
    assert "| fp16 channels_last | 2 | failed: RuntimeError: CUDA out of memory (simulated) |" in text
    assert "| bf16 channels_last | 2 |" in text and "train: target < 3500 MB" in text


def test_gpu_targets_bad_arguments(capsys) -> None:
    script = load("gpu_targets")
    assert script.main(["--device", "cpu", "--model", "tsm_r5O"]) == 2
    with pytest.raises(SystemExit):
        script.main(["--device", "cpu", "--batches", "8,x"])


def test_shift_overhead_script(capsys) -> None:
    script = load("shift_overhead")
    assert script.main(["--img-size", "32", "--iters", "1", "--warmup", "0", "--twin", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["throughput_ratio_vs_resnet50"]) >= {"resnet50", "tsm_r50"}
    assert report["ratio_implied_by_shift_cost"]


def test_streaming_script(capsys) -> None:
    script = load("streaming")
    args = ["--model", "tsm_r18", "--size", "32", "--rounds", "1", "--frames-per-round", "2", "--json"]
    assert script.main(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["streaming_frames_per_s"] > 0 and result["window_frames_per_s"] > 0


def test_streaming_step_script(tmp_path: Path, capsys) -> None:
    out = tmp_path / "rows.json"
    rc = load("streaming_step").main(
        ["--model", "tsm_r18", "--size", "32", "--frames", "3", "--rounds", "1", "--json", str(out)]
    )
    assert rc == 0
    rows = json.loads(out.read_text())["rows"]
    assert {"pytorch", "onnxruntime", "int8"} <= set(rows) and all(r["fps"] > 0 for r in rows.values())
    assert "int8 vs fp32 step" in capsys.readouterr().out


def test_batch_throughput_script(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    args = ["--model", "tsm_r18", "--clips", "3", "--clip-size", "64x48", "--clip-frames", "12", "--crop-size", "32"]
    rc = load("batch_throughput").main([*args, "--batch", "1,2", "--rounds", "1", "--json", str(out)])
    assert rc == 0  # the end-to-end predictions equal the model-only ones
    rows = json.loads(out.read_text())["rows"]
    assert set(rows) == {"1", "2"} and all(r["e2e_vps"] > 0 and r["top5_equal"] == 3 for r in rows.values())
