"""``tsm-models train`` / ``evaluate`` as 2 gloo processes (torchrun's environment) equal 1 process with the
same global batch."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests._fit_utils import TINY, cli_env, write_motion_folders

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args: list[str], world: int) -> list[subprocess.CompletedProcess[str]]:
    """Run ``python -m tsm_models ARGS`` as ``world`` processes with torchrun's variables (1: plain)."""
    port = str(_free_port())
    procs = []
    for rank in range(world):
        env = cli_env()
        if world > 1:
            env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                       MASTER_PORT=port)  # fmt: skip
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tsm_models", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    done = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=600)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for d in done:
        assert d.returncode == 0, d.stderr
    return done


def test_two_gloo_processes_train_and_evaluate_like_one(tmp_path: Path) -> None:
    data = write_motion_folders(tmp_path / "data", per_class=4, val_per_class=3)
    # frozen BN and no dropout: each clip's computation is independent of which process holds it
    common = ["--epochs", "2", "--frozen-bn", "--dropout", "0", "--lr", "0.02", *TINY]
    one = _launch(["train", str(data), "--out", str(tmp_path / "one"), "--batch-size", "4", *common], 1)
    assert json.loads(one[0].stdout.strip().splitlines()[-1])["pretrained"] == str(tmp_path / "one" / "model")
    two = _launch(["train", str(data), "--out", str(tmp_path / "two"), "--batch-size", "2", *common], 2)
    assert two[1].stdout == ""  # rank 1 prints nothing, rank 0 the summary
    a = torch.load(tmp_path / "one" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "two" / "last.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in b["model"])
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], atol=1e-5, rtol=1e-4, msg=k)
    log = [json.loads(line) for line in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    config = log[0]
    assert config["world_size"] == 2 and config["resolved"]["global_batch"] == 4
    ref = [json.loads(line) for line in (tmp_path / "one" / "log.jsonl").read_text().splitlines()]
    loss = [r["loss"] for r in ref if r["mode"] == "train_epoch"]
    assert [r["loss"] for r in log if r["mode"] == "train_epoch"] == pytest.approx(loss, abs=1e-5)
    # evaluation of the trained folder by 2 processes (shards rank::2 of the 6 videos, gathered back in order)
    # equals what the 1-process run measured with the same weights at its end
    done = ref[-1]
    assert done["mode"] == "done"
    ev = ["evaluate", str(data / "val"), "-m", "tsm_r18", "--pretrained", done["pretrained"], "--workers", "0",
          "--no-progress", "--device", "cpu", "--out", str(tmp_path / "e2")]  # fmt: skip
    runs = _launch(ev, 2)
    summary = json.loads(runs[0].stdout.strip().splitlines()[-1])
    assert runs[1].stdout == "" and summary["num_videos"] == 6
    for key in ("top1", "mean_class_accuracy"):
        assert summary[key] == pytest.approx(100 * done[f"val_{key}"], abs=0.01)
    assert (tmp_path / "e2" / "confusion_matrix.csv").read_text() == (
        tmp_path / "one" / "confusion_matrix.csv"
    ).read_text()
