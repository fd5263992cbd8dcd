"""Data-parallel training with ``torchrun``: process group, samplers, DDP wrapping, gathering results.

The same script runs alone or under ``torchrun --nproc_per_node N script.py``: :func:`init_distributed`
reads torchrun's ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` and joins a process group (NCCL on GPUs, gloo
on CPU); without them it returns a one-process :class:`DistInfo` and every helper here degrades to the
single-process behaviour. Only rank 0 writes logs and checkpoints (:attr:`DistInfo.is_main`).

Samplers: :func:`train_sampler` is a :class:`~torch.utils.data.DistributedSampler` (also with one process,
so that shuffling depends only on ``seed`` and the epoch); :class:`ShardSampler` gives evaluation shards
``rank::world_size`` without padding, and :func:`gather_eval` restores the dataset order, so that metrics
over N processes equal those of one process exactly.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..data.sampler import ShardSampler, get_rank, get_world_size, train_sampler

__all__ = [
    "DistInfo",
    "ShardSampler",
    "all_reduce_mean",
    "barrier",
    "destroy_distributed",
    "gather_eval",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_main_process",
    "train_sampler",
    "unwrap_model",
    "wrap_ddp",
]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` processes, on ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")  # noqa: RUF009 - immutable default

    @property
    def distributed(self) -> bool:
        """Whether a process group with more than one process is in use."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and saves checkpoints."""
        return self.rank == 0


def is_main_process() -> bool:
    """Whether this is rank 0 (always true without a process group)."""
    return get_rank() == 0


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from exc


def init_distributed(device: str | torch.device | None = None, backend: str | None = None) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment, or run as one process.

    Args:
        device: ``"cuda"``, ``"cpu"`` or ``None`` (CUDA when available). Under torchrun with CUDA each
            process takes GPU ``LOCAL_RANK``.
        backend: process-group backend; ``None`` = ``"nccl"`` on CUDA, ``"gloo"`` on CPU.

    Returns:
        A :class:`DistInfo`; ``world_size == 1`` when ``WORLD_SIZE`` is unset or 1.
    """
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    world_size = _env_int("WORLD_SIZE") or 1
    rank = _env_int("RANK") or 0
    local_rank = _env_int("LOCAL_RANK") or 0
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was requested but CUDA is not available")
        dev = torch.device("cuda", local_rank if world_size > 1 else (dev.index or 0))
        torch.cuda.set_device(dev)
    if world_size == 1:
        return DistInfo(0, 1, 0, dev)
    if not dist.is_available():
        raise ValueError("torch.distributed is not available in this PyTorch build")
    backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
    if not dist.is_initialized():
        kwargs = {"device_id": dev} if backend == "nccl" else {}
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30), **kwargs)
    if dist.get_world_size() != world_size or dist.get_rank() != rank:
        raise ValueError(
            f"process group ({dist.get_rank()}/{dist.get_world_size()}) disagrees with RANK/WORLD_SIZE "
            f"({rank}/{world_size})"
        )
    if rank == 0:
        _logger.info("distributed: %d processes, backend %s, device %s", world_size, backend, dev.type)
    return DistInfo(rank, world_size, local_rank, dev)


def destroy_distributed() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every process (no-op without a process group)."""
    if get_world_size() > 1:
        dist.barrier()


def wrap_ddp(model: nn.Module, info: DistInfo, sync_bn: bool = False, **kwargs: Any) -> nn.Module:
    """``DistributedDataParallel(model)`` on ``info.device`` when distributed, else ``model`` unchanged.

    Args:
        model: the network, already on ``info.device``.
        info: from :func:`init_distributed`.
        sync_bn: convert BatchNorm layers to :class:`~torch.nn.SyncBatchNorm` (statistics over the global
            batch; CUDA only). MMAction2's TSM zoo used per-GPU BN (the default).
        **kwargs: passed to ``DistributedDataParallel``.
    """
    if not info.distributed:
        return model
    if sync_bn:
        if info.device.type != "cuda":
            raise ValueError("sync_bn needs CUDA devices (SyncBatchNorm does not run on CPU)")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [info.device] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, **kwargs)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The network inside a DDP (or ``torch.compile``) wrapper."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of a tensor over processes (the tensor itself without a process group)."""
    if get_world_size() == 1:
        return value
    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / get_world_size()


def gather_eval(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather per-process results of :class:`ShardSampler` shards, in dataset order, on every process.

    Args:
        scores: ``(n_r, K)`` scores of this process's shard, in shard order.
        labels: ``(n_r,)`` labels (or ``(n_r, K)`` multi-hot rows).

    Returns:
        ``(N, K)`` scores and ``(N,)`` (or ``(N, K)``) labels of the whole dataset on CPU, index ``i`` = dataset
        item ``i``.
    """
    world = get_world_size()
    if world == 1:
        return scores.cpu(), labels.cpu()
    parts: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * world
    dist.all_gather_object(parts, (scores.cpu(), labels.cpu()))
    total = sum(p[0].shape[0] for p in parts if p is not None)
    k = scores.shape[1]
    all_scores = torch.empty(total, k, dtype=scores.dtype)
    all_labels = torch.empty(total, *labels.shape[1:], dtype=labels.dtype)
    for r, part in enumerate(parts):
        assert part is not None
        all_scores[r::world] = part[0]
        all_labels[r::world] = part[1]
    return all_scores, all_labels
