"""The TSM training recipe as small functions: parameter groups, SGD, learning-rate schedules, partial BN.

MMAction2 trained every zoo checkpoint with SGD (momentum 0.9), gradient clipping at norm 20, a step
schedule (x0.1 at the milestones, no warmup) and ``TSMOptimizerConstructor(fc_lr5=True)``, whose groups
:func:`param_groups` reproduces:

================== ============================================== ========= ============
group              members                                        lr        weight decay
================== ============================================== ========= ============
first_conv_weight  weight of the first convolution (the stem)     x1        x1
first_conv_bias    its bias (none in a ResNet)                    x2        0
normal_weight      all other conv weights, Linear weights but fc  x1        x1
normal_bias        their biases                                   x2        0
bn                 every normalisation-layer parameter            x1        0
lr5_weight         the last Linear's weight (the classifier)      x5        x1
lr10_bias          the last Linear's bias                         x10       0
================== ============================================== ========= ============

The learning rate is given for 64 clips per step (8 GPUs x 8 clips); :func:`scale_lr` applies the linear
scaling rule for another global batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

__all__ = [
    "BASE_BATCH_SIZE",
    "BASE_LR",
    "GRAD_CLIP_NORM",
    "SCHEDULES",
    "create_optimizer",
    "create_scheduler",
    "default_weight_decay",
    "freeze_bn",
    "lr_factor",
    "param_groups",
    "scale_lr",
]

BASE_LR = 0.01  # MMAction2 TSM (tsm_r50_1x1x8 K400 / sthv1): lr for BASE_BATCH_SIZE clips per step
BASE_BATCH_SIZE = 64  # 8 GPUs x 8 videos
GRAD_CLIP_NORM = 20.0
SCHEDULES: tuple[str, ...] = ("step", "cosine")
_NORM_TYPES = (_BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.SyncBatchNorm)
_SOMETHING_SOMETHING = ("sthv1", "sthv2", "something-something", "sth")


def default_weight_decay(dataset: str) -> float:
    """Weight decay of the MMAction2 recipe: 5e-4 for Something-Something (``sthv1``/``sthv2``), else 1e-4."""
    return 5e-4 if dataset.lower().startswith(_SOMETHING_SOMETHING) else 1e-4


def scale_lr(batch_size: int, base_lr: float = BASE_LR, base_batch_size: int = BASE_BATCH_SIZE) -> float:
    """Linear scaling rule: ``base_lr * batch_size / base_batch_size`` (``batch_size`` = clips per step, all GPUs)."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int (clips per optimizer step), got {batch_size!r}")
    if base_lr <= 0 or base_batch_size < 1:
        raise ValueError(f"base_lr must be > 0 and base_batch_size >= 1, got {base_lr!r}, {base_batch_size!r}")
    return base_lr * batch_size / base_batch_size


def param_groups(model: nn.Module, lr: float, weight_decay: float = 1e-4, fc_lr5: bool = True) -> list[dict[str, Any]]:
    """Parameter groups of MMAction2's ``TSMOptimizerConstructor`` (table in the module docstring).

    Args:
        model: the network (a DDP wrapper is fine); modules are walked in ``model.modules()`` order.
        lr: base learning rate.
        weight_decay: base weight decay.
        fc_lr5: give the last ``nn.Linear`` (the classifier) lr x5 (weight) and x10 (bias); otherwise it
            joins the normal groups.

    Returns:
        Non-empty groups for :class:`torch.optim.SGD`, each with ``params``, ``lr``, ``weight_decay``, ``name``
        and ``lr_mult``. Parameters with ``requires_grad=False`` are left out.

    Raises:
        ValueError: a leaf module with parameters of a type the policy does not know, as MMAction2 does.
    """
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    groups: dict[str, list[nn.Parameter]] = {
        k: [] for k in ("first_conv_weight", "first_conv_bias", "normal_weight", "normal_bias", "bn")
    }
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    last_linear = linears[-1] if (linears and fc_lr5) else None
    seen_conv = False
    for name, m in model.named_modules():
        if isinstance(m, _ConvNd):
            prefix = "normal" if seen_conv else "first_conv"
            seen_conv = True
            groups[f"{prefix}_weight"].append(m.weight)
            if m.bias is not None:
                groups[f"{prefix}_bias"].append(m.bias)
        elif isinstance(m, nn.Linear):
            if m is last_linear:
                continue
            groups["normal_weight"].append(m.weight)
            if m.bias is not None:
                groups["normal_bias"].append(m.bias)
        elif isinstance(m, _NORM_TYPES):
            groups["bn"].extend(m.parameters(recurse=False))
        elif len(m._parameters) and not list(m.children()):
            raise ValueError(
                f"param_groups: module {name!r} of type {type(m).__name__} has parameters but is not a "
                "convolution, Linear or normalisation layer (the TSM policy only knows those)"
            )
    spec = [
        ("first_conv_weight", 1.0, 1.0),
        ("first_conv_bias", 2.0, 0.0),
        ("normal_weight", 1.0, 1.0),
        ("normal_bias", 2.0, 0.0),
        ("bn", 1.0, 0.0),
    ]
    if last_linear is not None:
        groups["lr5_weight"] = [last_linear.weight]
        groups["lr10_bias"] = [last_linear.bias] if last_linear.bias is not None else []
        spec += [("lr5_weight", 5.0, 1.0), ("lr10_bias", 10.0, 0.0)]
    out = []
    for key, lr_mult, wd_mult in spec:
        params = [p for p in groups[key] if p.requires_grad]
        if params:
            out.append(
                dict(params=params, lr=lr * lr_mult, weight_decay=weight_decay * wd_mult, name=key, lr_mult=lr_mult)
            )
    return out


def create_optimizer(
    model: nn.Module,
    lr: float,
    weight_decay: float = 1e-4,
    momentum: float = 0.9,
    fc_lr5: bool = True,
) -> torch.optim.SGD:
    """SGD with :func:`param_groups` (MMAction2 TSM recipe; ``nesterov=False``)."""
    return torch.optim.SGD(param_groups(model, lr, weight_decay, fc_lr5), lr=lr, momentum=momentum)


def lr_factor(
    step: int,
    *,
    total_steps: int,
    schedule: str = "step",
    milestones: Sequence[int] = (),
    gamma: float = 0.1,
    warmup_steps: int = 0,
    warmup_factor: float = 0.1,
    min_factor: float = 0.0,
) -> float:
    """Multiplier of the base lr at optimizer step ``step`` (0-based).

    * warmup: linear from ``warmup_factor`` to 1 over the first ``warmup_steps`` steps;
    * ``"step"``: ``gamma ** (number of milestones <= step)``, milestones in steps;
    * ``"cosine"``: ``min_factor + (1 - min_factor) * (1 + cos(pi * p)) / 2`` with ``p`` the progress after warmup.
    """
    if step < warmup_steps:
        return warmup_factor + (1.0 - warmup_factor) * step / warmup_steps
    if schedule == "step":
        return gamma ** sum(step >= m for m in milestones)
    span = max(1, total_steps - warmup_steps)
    p = min(1.0, (step - warmup_steps) / span)
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * p))


def create_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    steps_per_epoch: int,
    schedule: str = "step",
    milestones: Iterable[int] = (),
    gamma: float = 0.1,
    warmup_epochs: float = 0.0,
    warmup_factor: float = 0.1,
    min_factor: float = 0.0,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step :class:`~torch.optim.lr_scheduler.LambdaLR` (call ``.step()`` after every optimizer step).

    Args:
        optimizer: its groups keep their own lr multiples (the schedule scales each group's initial lr).
        epochs: training length.
        steps_per_epoch: optimizer steps per epoch (``len(loader)``).
        schedule: ``"step"`` (MMAction2 TSM) or ``"cosine"``.
        milestones: epochs at which a step schedule multiplies the lr by ``gamma`` (TSM: ``(20, 40)`` of 50).
        warmup_epochs: linear warmup length in epochs (may be fractional; 0 = none, as in the zoo recipe).
        warmup_factor: lr multiplier at the first warmup step.
        min_factor: final lr multiplier of the cosine schedule.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if epochs < 1 or steps_per_epoch < 1:
        raise ValueError(f"epochs and steps_per_epoch must be >= 1, got {epochs!r}, {steps_per_epoch!r}")
    milestones = tuple(int(m) for m in milestones)
    if any(m < 0 for m in milestones):
        raise ValueError(f"milestones must be epochs >= 0, got {milestones}")
    if warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs!r}")
    kwargs = dict(
        total_steps=epochs * steps_per_epoch,
        schedule=schedule,
        milestones=tuple(m * steps_per_epoch for m in milestones),
        gamma=gamma,
        warmup_steps=round(warmup_epochs * steps_per_epoch),
        warmup_factor=warmup_factor,
        min_factor=min_factor,
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, **kwargs))


def freeze_bn(model: nn.Module, keep_first: bool = True) -> int:
    """Put batch-norm layers in eval mode with frozen affine parameters (TSM's "partial BN").

    With ``keep_first=True`` the first BN layer (after the stem conv) keeps training, as in TSM's
    ``partialBN``; ``False`` freezes every BN layer. Call it after every ``model.train()``
    (:func:`tsm_models.train.train_one_epoch` does when ``partial_bn=True``).

    Returns:
        The number of frozen layers.
    """
    count = 0
    first = True
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            if first and keep_first:
                first = False
                continue
            first = False
            m.eval()
            for p in m.parameters(recurse=False):
                p.requires_grad_(False)
            count += 1
    return count
