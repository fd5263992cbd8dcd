"""Resumable training checkpoints: model, optimizer, scheduler, grad scaler, epoch and every RNG state.

A run resumed from :func:`save_train_state`'s file continues exactly as if it had never stopped (same batches,
augmentations, dropout masks; bit for bit on CPU). Files are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._io import atomic_write
from ..models.checkpoint import torch_load_safe
from .distributed import is_main_process, unwrap_model

__all__ = ["get_rng_state", "resume_train_state", "save_train_state", "set_rng_state"]

_logger = logging.getLogger(__name__)


def get_rng_state() -> dict[str, Any]:
    """Torch (CPU and every CUDA device), numpy and Python RNG states, as tensors and plain values."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": _py_state_to_plain(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _py_state_to_plain(state: tuple[Any, ...]) -> dict[str, Any]:
    version, internal, gauss = state
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        else:
            _logger.warning(
                "checkpoint has CUDA RNG states of %d devices, this machine has %d: not restored",
                len(cuda_states),
                torch.cuda.device_count(),
            )


def save_train_state(
    path: str | os.PathLike[str],
    *,
    model: nn.Module,
    epoch: int,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    scaler: torch.amp.GradScaler | None = None,
    **extra: Any,
) -> Path | None:
    """Save a resumable checkpoint atomically (rank 0 only; other ranks return ``None``).

    Args:
        path: file to write (``.pt``); its folder is created.
        model: the network (DDP wrappers are unwrapped: keys have no ``module.`` prefix).
        epoch: epochs completed, i.e. the epoch to resume at.
        optimizer, scheduler, scaler: their ``state_dict()`` are saved when given.
        **extra: plain values (numbers, strings, lists, dicts, tensors) stored under ``"extra"``, e.g. the
            arguments of the run or the best accuracy.

    Returns:
        The path written.
    """
    if not is_main_process():
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt: dict[str, Any] = {
        "model": unwrap_model(model).state_dict(),
        "epoch": int(epoch),
        "rng": get_rng_state(),
        "extra": extra,
    }
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        ckpt["scheduler"] = scheduler.state_dict()
    if scaler is not None:
        ckpt["scaler"] = scaler.state_dict()
    with atomic_write(path) as f:
        torch.save(ckpt, f)
    return path


def _load_weights(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        if shapes:
            k = shapes[0]
            what = f"{k} is {tuple(state[k].shape)} there, {tuple(own[k].shape)} here"
        else:
            what = f"missing {missing[:2]}" if missing else f"unexpected {unexpected[:2]}"
        raise ValueError(f"{path} holds the weights of another model ({what})")
    model.load_state_dict(state)


def resume_train_state(
    path: str | os.PathLike[str],
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    scaler: torch.amp.GradScaler | None = None,
    restore_rng: bool = True,
    map_location: str | torch.device = "cpu",
    check: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Restore what :func:`save_train_state` wrote, in place (``torch.load(weights_only=True)``).

    ``check(extra)`` runs before anything is loaded and may raise to refuse the file (e.g. a checkpoint of
    another model); weights that do not fit ``model`` raise a ``ValueError`` naming the first mismatch.

    Returns:
        ``{"epoch": epochs completed, "extra": {...}}``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a checkpoint of this module.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = torch_load_safe(path, map_location=map_location)  # ValueError naming the file: truncated, empty, unsafe
    if not isinstance(ckpt, dict) or "model" not in ckpt or "epoch" not in ckpt:
        raise ValueError(f"{path} is not a training checkpoint (expected keys 'model' and 'epoch')")
    if check is not None:
        check(ckpt.get("extra", {}))
    _load_weights(unwrap_model(model), ckpt["model"], path)
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler), ("scaler", scaler)):
        if obj is None:
            continue
        if name not in ckpt:
            raise ValueError(f"{path} holds no {name} state to resume from")
        obj.load_state_dict(ckpt[name])
    if restore_rng and "rng" in ckpt:
        set_rng_state(ckpt["rng"])
    return {"epoch": int(ckpt["epoch"]), "extra": ckpt.get("extra", {})}
