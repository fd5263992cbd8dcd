"""Samplers of this process's share of a dataset: shuffled for training, unpadded shards for evaluation.

With ``torchrun`` (a default process group) each process takes every ``N``-th index; without one they
behave as one process. :func:`tsm_models.train.distributed.gather_eval` puts evaluation shards back in
dataset order.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler, Sampler

__all__ = ["ShardSampler", "get_rank", "get_world_size", "train_sampler"]


def get_rank() -> int:
    """Rank in the default process group (0 when not distributed)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    """Processes in the default process group (1 when not distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def train_sampler(dataset: Dataset, seed: int = 0, shuffle: bool = True, drop_last: bool = False) -> DistributedSampler:
    """A :class:`DistributedSampler` over this process's share of ``dataset`` (also for one process).

    Call ``sampler.set_epoch(epoch)`` before each epoch: the order depends only on ``seed`` and ``epoch``, so
    a resumed run sees the same batches. Each of the ``N`` processes takes every ``N``-th index of the
    shuffled order, so ``N`` processes with batch ``b`` cover the same clips per step as one with ``N * b``.
    """
    return DistributedSampler(
        dataset, num_replicas=get_world_size(), rank=get_rank(), shuffle=shuffle, seed=seed, drop_last=drop_last
    )


class ShardSampler(Sampler[int]):
    """Evaluation shard of this process: indices ``rank, rank + N, rank + 2N, ...`` (no padding, no repeats)."""

    def __init__(self, dataset_size: int, rank: int | None = None, world_size: int | None = None) -> None:
        self.size = int(dataset_size)
        self.rank = get_rank() if rank is None else rank
        self.world_size = get_world_size() if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank must be in [0, {self.world_size}), got {self.rank}")

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.size, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.size, self.world_size))
