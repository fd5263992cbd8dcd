"""Training recipes: each zoo entry's own (from its upstream config) and the named ones of ``--recipe``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..models import get_zoo_entry, is_model
from ..models.zoo import ZooEntry, find_entry

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """The optimisation and augmentation settings of a run (every field can be overridden by :class:`TrainConfig`).

    ``lr`` is for ``base_batch_size`` clips per step and is scaled linearly to the global batch;
    ``milestones`` are fractions of the run (a step schedule multiplies the lr by ``gamma`` there).
    """

    name: str
    lr: float = 0.01
    base_batch_size: int = 64
    weight_decay: float | None = None  # None: 5e-4 for Something-Something starts, else 1e-4
    momentum: float = 0.9
    fc_lr5: bool = True
    schedule: str = "cosine"
    milestones: tuple[float, ...] = (0.4, 0.8)
    gamma: float = 0.1
    warmup_epochs: float = 1.0
    warmup_factor: float = 0.1
    grad_clip: float | None = 20.0
    partial_bn: bool = False
    flip: bool | None = None  # None: the zoo entry's choice (Kinetics yes, Something-Something no), else yes
    label_smoothing: float = 0.0
    mixup: float = 0.0  # mixup alpha
    cutmix: float = 0.0  # CutMix alpha
    mixup_prob: float = 1.0
    mixup_switch_prob: float = 0.5
    randaugment: str | None = None  # e.g. "rand-m7-n4"
    description: str = ""


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "finetune",
            description="TSM groups, SGD 0.01/64 clips, 1 warm-up epoch then cosine, clip 20 (examples/finetune.py)",
        ),
        Recipe(
            "tsm",
            schedule="step",
            warmup_epochs=0.0,
            description="MMAction2 TSM zoo recipe: SGD 0.01/64 clips, step x0.1 at 40% and 80%, no warm-up, clip 20",
        ),
        Recipe(
            "tsm-mixup",
            schedule="step",
            warmup_epochs=0.0,
            mixup=0.2,
            description="MMAction2 tsm_r50_mixup_1x1x8_50e_sthv1: the tsm recipe with mixup (alpha 0.2)",
        ),
        Recipe(
            "tsm-cutmix",
            schedule="step",
            warmup_epochs=0.0,
            cutmix=0.2,
            description="MMAction2 tsm_r50_cutmix_1x1x8_50e_sthv1: the tsm recipe with CutMix (alpha 0.2)",
        ),
        Recipe(
            "tsm-randaugment",
            schedule="step",
            warmup_epochs=0.0,
            randaugment="rand-m7-n4",
            description="MMAction2 tsm_r50_randaugment_1x1x8_50e_sthv1: the tsm recipe with clip RandAugment m7 n4",
        ),
    )
}


def entry_recipe(entry: ZooEntry) -> Recipe:
    """The recipe that trained a zoo checkpoint (its lr per its global batch, weight decay, steps, flips)."""
    r = entry.recipe
    if r is None:
        raise ValueError(f"{entry_name(entry)} has no recorded training recipe; pass --recipe {'|'.join(RECIPES)}")
    gpus = 8
    return Recipe(
        "entry",
        lr=r.lr,
        base_batch_size=gpus * r.videos_per_gpu,
        weight_decay=r.weight_decay,
        momentum=r.momentum,
        schedule="step",
        milestones=tuple(s / r.epochs for s in r.lr_steps),
        warmup_epochs=0.0,
        grad_clip=r.grad_clip_norm,
        flip=r.flip,
        description=f"the recipe of {entry_name(entry)} ({r.epochs} epochs, lr {r.lr} per {gpus}x{r.videos_per_gpu})",
    )


def entry_name(entry: ZooEntry) -> str:
    return str(entry.name)


def lookup_entry(name: str) -> ZooEntry | None:
    """The zoo record of a checkpoint name (``arch.tag`` or alias); ``None`` for an architecture.

    Raises:
        ValueError: an unknown name (with the closest known ones).
    """
    if not is_model(name):
        get_zoo_entry(name)  # raises the library's "unknown model name" error
    return find_entry(name)


def _entry_dataset(entry: ZooEntry | None) -> str:
    return str(getattr(entry, "dataset", "") or "") if entry is not None else ""


def resolve_recipe(name: str | None, entry: ZooEntry | None) -> Recipe:
    """``name`` among :data:`RECIPES`, or ``"entry"``; ``None`` = the entry's recipe when it has one, else ``tsm``."""
    if name is None:
        return entry_recipe(entry) if entry is not None and entry.recipe is not None else RECIPES["tsm"]
    if name == "entry":
        if entry is None:
            raise ValueError("--recipe entry needs a zoo checkpoint name (an architecture has no recipe of its own)")
        return entry_recipe(entry)
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; expected 'entry' or one of {', '.join(RECIPES)}")
    return RECIPES[name]
