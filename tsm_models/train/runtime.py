"""Run-time setup shared by training, evaluation and the tools: seeding, devices, memory format, mixed precision.

:data:`AMP_DTYPES` is the one table of mixed-precision names (``"bf16"``, ``"fp16"``) in the library.
"""

from __future__ import annotations

import contextlib
import os
import random
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "AMP_DTYPES",
    "autocast",
    "create_grad_scaler",
    "prepare_model",
    "seed_everything",
    "to_channels_last",
]

AMP_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, numpy and torch (all devices); ``deterministic=True`` also asks for deterministic kernels.

    Deterministic mode sets ``torch.use_deterministic_algorithms(True, warn_only=True)``, disables cuDNN
    benchmarking and sets ``CUBLAS_WORKSPACE_CONFIG`` (needed by cuBLAS); it can be slower on GPUs.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def prepare_model(
    model: nn.Module,
    device: str | torch.device = "cpu",
    channels_last: bool = False,
    grad_checkpointing: bool = False,
) -> nn.Module:
    """Move ``model`` to ``device``, optionally in channels-last memory format and with gradient checkpointing.

    Channels-last speeds up convolutions on recent GPUs (and with AMP); gradient checkpointing trades
    compute for memory through timm's ``set_grad_checkpointing`` (stages re-run in the backward pass).
    """
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if grad_checkpointing:
        if not hasattr(model, "set_grad_checkpointing"):
            raise ValueError(f"{type(model).__name__} has no set_grad_checkpointing(); expected a timm model")
        model.set_grad_checkpointing(True)
    return model


def autocast(device: str | torch.device, amp: str | None) -> contextlib.AbstractContextManager[Any]:
    """Mixed-precision context: ``amp`` = ``None`` (full precision), ``"bf16"`` or ``"fp16"``."""
    if amp is None:
        return contextlib.nullcontext()
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp must be None or one of {tuple(AMP_DTYPES)}, got {amp!r}")
    device_type = torch.device(device).type
    if amp == "fp16" and device_type != "cuda":
        raise ValueError("fp16 autocast needs a CUDA device; use amp='bf16' on CPU")
    return torch.autocast(device_type=device_type, dtype=AMP_DTYPES[amp])


def create_grad_scaler(amp: str | None, device: str | torch.device) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 training on CUDA; ``None`` otherwise (bf16 and fp32 need none)."""
    if amp == "fp16":
        return torch.amp.GradScaler(torch.device(device).type)
    return None


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """A ``(B, T, C, H, W)`` video (or ``(N, C, H, W)`` frames) in channels-last order: each ``(C, H, W)`` frame
    stored HWC, so that the flattened ``(B * T, C, H, W)`` batch the network sees is ``torch.channels_last``."""
    if x.ndim == 5:
        b, t = x.shape[:2]
        return x.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (b, t))
    return x.contiguous(memory_format=torch.channels_last)
