"""Two gloo processes on CPU (torchrun's environment) train and evaluate like one process with the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests._train_utils import tiny_tsm
from tsm_models.train.distributed import DistInfo, ShardSampler, gather_eval, init_distributed, unwrap_model, wrap_ddp

WORKER = Path(__file__).with_name("_dist_worker.py")
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]), OMP_NUM_THREADS="1", **extra)
    return env


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_gloo_processes_match_one(tmp_path: Path) -> None:
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(tmp_path), "2"],
            env=_env(RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=port),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for r in range(2)
    ]
    try:
        single = subprocess.run(
            [sys.executable, str(WORKER), str(tmp_path), "4"], env=_env(), capture_output=True, text=True, timeout=300
        )
        assert single.returncode == 0, single.stdout + single.stderr
        for p in procs:
            out, _ = p.communicate(timeout=300)
            assert p.returncode == 0, out.decode()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    one = json.loads((tmp_path / "rank0_of_1.json").read_text())
    ranks = [json.loads((tmp_path / f"rank{r}_of_2.json").read_text()) for r in range(2)]
    # rank 0 alone writes checkpoints and logs
    assert [r["saved"] for r in ranks] == [True, False] and one["saved"]
    # the same clips per epoch, the same losses and the same weights
    assert ranks[0]["clips"] == ranks[1]["clips"] == one["clips"] == [16, 16]
    for r in ranks:
        assert r["train_loss"] == pytest.approx(one["train_loss"], abs=1e-5)
    w1 = torch.load(tmp_path / "ckpt_1.pt", weights_only=True)["model"]
    w2 = torch.load(tmp_path / "ckpt_2.pt", weights_only=True)["model"]
    assert w1.keys() == w2.keys() and not any(k.startswith("module.") for k in w2)
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], atol=1e-5, rtol=1e-4, msg=k)
    # evaluation over uneven shards (11 videos: 6 + 5) gathered in dataset order on every rank
    for r in ranks:
        assert r["labels"] == one["labels"] and len(r["labels"]) == 11
        torch.testing.assert_close(torch.tensor(r["scores"]), torch.tensor(one["scores"]), atol=1e-4, rtol=1e-4)
        assert r["metrics"] == pytest.approx(one["metrics"])
    logs = [json.loads(line) for line in (tmp_path / "log_2.jsonl").read_text().splitlines()]
    # one "train" record at each epoch's last step (log_interval 50 > 2 steps), then the epoch's summary
    assert [rec["mode"] for rec in logs] == ["train", "train_epoch", "train", "train_epoch", "val"]


def test_single_process_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    info = init_distributed("cpu")
    assert info == DistInfo(0, 1, 0, torch.device("cpu")) and info.is_main and not info.distributed
    model = tiny_tsm()
    assert wrap_ddp(model, info) is model and unwrap_model(model) is model
    scores, labels = torch.randn(3, 2), torch.tensor([0, 1, 0])
    assert gather_eval(scores, labels)[0] is not None
    assert list(ShardSampler(7, rank=1, world_size=3)) == [1, 4] and len(ShardSampler(7, rank=0, world_size=3)) == 3
    with pytest.raises(ValueError, match="rank must be in"):
        ShardSampler(5, rank=2, world_size=2)
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE must be an integer"):
        init_distributed("cpu")
