"""One process of the distributed test: train a GroupNorm TSM for 2 epochs, evaluate, save (rank 0).

Run with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or alone:
``python tests/_dist_worker.py OUT_DIR PER_PROCESS_BATCH``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests._train_utils import tiny_tsm
from tsm_models.train import JsonLogger, evaluate, save_train_state, seed_everything, train_one_epoch
from tsm_models.train.distributed import (
    ShardSampler,
    destroy_distributed,
    init_distributed,
    train_sampler,
    wrap_ddp,
)
from tsm_models.train.optim import create_optimizer, create_scheduler


class GroupNorm4(nn.GroupNorm):
    def __init__(self, num_channels: int, **kwargs: object) -> None:
        super().__init__(4, num_channels, **kwargs)


def main() -> None:
    out, batch = Path(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(1)
    info = init_distributed("cpu")
    seed_everything(0)
    g = torch.Generator().manual_seed(0)
    train = TensorDataset(torch.randn(16, 4, 3, 32, 32, generator=g), torch.randint(0, 3, (16,), generator=g))
    val = TensorDataset(torch.randn(11, 4, 3, 32, 32, generator=g), torch.randint(0, 3, (11,), generator=g))
    # GroupNorm: per-sample statistics, so N processes x batch b compute exactly what 1 process x N*b does
    model = tiny_tsm(dropout=0.0, norm_layer=GroupNorm4)
    model = wrap_ddp(model, info)
    sampler = train_sampler(train, seed=0)
    loader = DataLoader(train, batch_size=batch, sampler=sampler)
    optimizer = create_optimizer(model, lr=0.05)
    scheduler = create_scheduler(optimizer, epochs=2, steps_per_epoch=len(loader), schedule="cosine")
    log = JsonLogger(out / f"log_{info.world_size}.jsonl")
    stats = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        stats.append(
            train_one_epoch(model, loader, optimizer, scheduler=scheduler, epoch=epoch, logger=log, progress=False)
        )
    result = evaluate(
        model, DataLoader(val, batch_size=4, sampler=ShardSampler(len(val))), logger=log, progress=False, topk=(1, 2)
    )
    saved = save_train_state(out / f"ckpt_{info.world_size}.pt", model=model, epoch=2)
    summary = {
        "rank": info.rank,
        "world_size": info.world_size,
        "saved": saved is not None,
        "train_loss": [s["loss"] for s in stats],
        "clips": [s["clips"] for s in stats],
        "metrics": {k: v for k, v in result.metrics.items() if k != "time"},
        "scores": result.scores.tolist(),
        "labels": result.labels.tolist(),
    }
    (out / f"rank{info.rank}_of_{info.world_size}.json").write_text(json.dumps(summary))
    destroy_distributed()


if __name__ == "__main__":
    main()
