"""``tsm-models train`` / ``evaluate`` end to end on generated MP4 folders, exact resume after a kill, bad input."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests._fit_utils import TINY, cli_env, run_cli, write_motion_folders

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_motion_folders(tmp_path_factory.mktemp("motion"), per_class=4, val_per_class=2)


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("run")
    proc = run_cli("train", str(data), "--out", str(out), "--epochs", "2", "--batch-size", "2", *TINY)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_train_two_epochs_writes_a_folder_predict_takes(
    data: Path, trained: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    out, proc = trained
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    folder = out / "model"
    assert summary["pretrained"] == str(folder) and summary["classes"] == 2
    records = _records(out)
    assert records[0]["mode"] == "config" and records[0]["classes"] == ["moving left", "moving right"]
    assert [r["epoch"] for r in records if r["mode"] == "train_epoch"] == [0, 1]
    assert [r["epoch"] for r in records if r["mode"] == "val"] == [0, 1]
    assert records[-1]["mode"] == "done" and records[-1]["pretrained"] == str(folder)
    assert {"last.pt", "best.pt", "metrics.json", "per_class_accuracy.csv", "confusion_matrix.csv"} <= {
        p.name for p in out.iterdir()
    }
    config = json.loads((folder / "config.json").read_text())
    assert config["label_names"] == ["moving left", "moving right"] and config["num_classes"] == 2
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 2

    import tsm_models

    model = tsm_models.from_pretrained(folder)
    assert model.num_classes == 2 and model.label_names == ["moving left", "moving right"]
    # the folder keeps the protocol it was validated with (predict and evaluate use it, not 256 px / 224 crops)
    assert config["tsm_models"]["protocol"]["crop_size"] == 32 and model.clip_protocol.num_frames == 4

    video = data / "val" / "moving left" / "0.mp4"
    pred = run_cli("predict", str(video), "-m", "tsm_r18", "--pretrained", str(folder), "--json", "--device", "cpu")
    assert pred.returncode == 0, pred.stderr
    top = json.loads(pred.stdout.strip().splitlines()[-1])["predictions"]
    assert {p["label"] for p in top} == {"moving left", "moving right"}
    assert sum(p["probability"] for p in top) == pytest.approx(1.0, abs=1e-4)  # softmax over the two classes


def test_evaluate_reports_what_training_measured(
    data: Path, trained: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    out, _ = trained
    proc = run_cli("evaluate", str(data / "val"), "-m", "tsm_r18", "--pretrained", str(out / "model"),
                   "--out", str(tmp_path), "--workers", "0", "--no-progress", "--device", "cpu")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert any(line.startswith("top-1 accuracy") for line in lines)
    summary = json.loads(lines[-1])
    done = _records(out)[-1]
    assert summary["num_videos"] == 4
    assert summary["top1"] == pytest.approx(100 * done["val_top1"], abs=0.01)
    assert summary["mean_class_accuracy"] == pytest.approx(100 * done["val_mean_class_accuracy"], abs=0.01)
    rows = (tmp_path / "per_class_accuracy.csv").read_text().splitlines()
    assert rows[0] == "class_index,class_name,num_samples,accuracy" and rows[1].startswith("0,moving left,2,")
    assert (tmp_path / "confusion_matrix.png").is_file()
    # one center clip instead of the protocol's views: still runs, and says it is not comparable
    single = run_cli("evaluate", str(data / "val"), "-m", "tsm_r18", "--pretrained", str(out / "model"),
                     "--views", "single", "--workers", "0", "--no-progress", "--device", "cpu")  # fmt: skip
    assert single.returncode == 0 and json.loads(single.stdout.strip().splitlines()[-1])["comparable"] is False


def test_evaluate_lists_an_unreadable_video_and_exits_1(
    data: Path, trained: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    import shutil

    out, _ = trained
    val = shutil.copytree(data / "val", tmp_path / "val")
    first = sorted(p for p in val.iterdir() if p.is_dir())[0]
    (first / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)  # not decodable
    args = ("-m", "tsm_r18", "--pretrained", str(out / "model"), "--workers", "0", "--no-progress", "--device", "cpu")
    proc = run_cli("evaluate", str(val), *args)
    assert proc.returncode == 1, proc.stderr
    assert "could not evaluate" in proc.stderr and "broken.mp4" in proc.stderr
    assert "1 of 5 videos could not be read" in proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    clean = json.loads(run_cli("evaluate", str(data / "val"), *args).stdout.strip().splitlines()[-1])
    assert summary["top1"] == clean["top1"]  # the metrics of the readable videos, unchanged


def _train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", str(data), "--out", str(out), "--epochs", "3", "--batch-size", "2", "--mixup", "0.4",
            "--randaugment", "rand-m9-n2", "--dropout", "0.5", *TINY, *extra]  # fmt: skip


def test_resume_after_kill_matches_an_uninterrupted_run(data: Path, tmp_path: Path) -> None:
    straight = run_cli(*_train_args(data, tmp_path / "a"))
    assert straight.returncode == 0, straight.stderr

    out = tmp_path / "b"
    cmd = [sys.executable, "-m", "tsm_models", *_train_args(data, out)]
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (out / "last.pt").is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(out / "last.pt", weights_only=True)["epoch"]
    assert killed_at < 3, "the run finished before it could be killed"
    resumed = run_cli(*_train_args(data, out, "--resume", "auto"))
    assert resumed.returncode == 0, resumed.stderr
    assert [r["start_epoch"] for r in _records(out) if r["mode"] == "config"] == [0, killed_at]

    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(out / "last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 3
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for k, state in a["optimizer"]["state"].items():
        assert torch.equal(state["momentum_buffer"], b["optimizer"]["state"][k]["momentum_buffer"])
    assert a["scheduler"] == b["scheduler"]
    losses = {r["epoch"]: r["loss"] for r in _records(tmp_path / "a") if r["mode"] == "train_epoch"}
    resumed_losses = {r["epoch"]: r["loss"] for r in _records(out) if r["mode"] == "train_epoch"}
    assert resumed_losses == losses


def _one_error_line(caplog: pytest.LogCaptureFixture, argv: list[str], *fragments: str) -> str:
    """``tsm-models ARGV`` in this process: exit status 2 and exactly one ERROR record holding ``fragments``."""
    from tsm_models.cli import main

    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main(argv) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0], errors
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def test_bad_input_gives_one_clear_line(data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    one = tmp_path / "one" / "train" / "only"
    one.mkdir(parents=True)
    (one / "a.mp4").write_bytes((data / "train" / "moving left" / "0.mp4").read_bytes())
    out = ["--out", str(tmp_path / "out"), *TINY]
    _one_error_line(caplog, ["train", str(tmp_path / "one"), *out], "1 class", "at least 2 classes")

    video = tmp_path / "clip.mp4"  # list paths have no spaces
    video.write_bytes((data / "train" / "moving left" / "0.mp4").read_bytes())
    beyond = tmp_path / "beyond.txt"
    beyond.write_text(f"{video} 0\n{video} 1\n{video} 5\n")
    _one_error_line(caplog, ["train", str(beyond), "--num-classes", "3", *out], "beyond.txt:3", "label 5", "3 classes")
    beyond.write_text(f"{video} 0\n{video} 1\n")
    _one_error_line(caplog, ["train", str(beyond), "--labels", str(beyond), "--num-classes", "3", *out],
                    "--num-classes 3", "2 classes")  # fmt: skip

    multi = tmp_path / "multi.txt"
    multi.write_text(f"{video} 0\n{video} 0 1\n")
    _one_error_line(caplog, ["train", str(multi), *out], "multi.txt:2", "--multi-label")

    from tsm_models.train.state import save_train_state

    other = tmp_path / "other.pt"
    save_train_state(other, model=torch.nn.Linear(2, 2), epoch=1, model_name="tsm_r50", num_classes=400,
                     classes=[str(i) for i in range(400)], multi_label=False)  # fmt: skip
    _one_error_line(caplog, ["train", str(data), "--resume", str(other), *out], "other.pt", "tsm_r50 with 400 classes",
                    "not of tsm_r18 with 2 classes")  # fmt: skip
    torch.save({"weights": torch.zeros(1)}, other)
    _one_error_line(caplog, ["train", str(data), "--resume", str(other), *out], "not a training checkpoint")
