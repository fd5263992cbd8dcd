"""The typed config of a training run (:class:`TrainConfig`, what ``tsm-models train`` parses) and its result."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_logger = logging.getLogger(__name__)

PRETRAINED_DIR = "model"  # the save_pretrained folder under the run's output folder


@dataclass
class TrainConfig:
    """Everything a run needs; ``None`` fields take the recipe's (or the data's, or the entry's) value.

    Data: ``data`` is a folder holding ``train/<class>/...`` (and ``val/<class>/...``), a folder-per-class tree,
    or an MMAction2 annotation list (``path label``, ``dir total_frames label``, multi-label
    ``path label label ...``); ``val_data`` the same for validation (default ``data/val`` when it exists).
    """

    data: Path
    model: str
    out: Path
    val_data: Path | None = None
    data_prefix: Path | None = None
    val_data_prefix: Path | None = None
    labels: str | None = None  # class-name file (or packaged set) for annotation lists
    num_classes: int | None = None
    multi_label: bool = False
    pretrained: bool | str | None = None  # None: the entry's weights, ImageNet for architectures
    epochs: int = 10
    batch_size: int = 8  # clips per process and step
    recipe: str | None = None
    lr: float | None = None  # base lr (not scaled)
    weight_decay: float | None = None
    schedule: str | None = None
    milestones: Sequence[int] | None = None  # epochs
    warmup_epochs: float | None = None
    grad_clip: float | None = None  # 0 = off
    partial_bn: bool | None = None
    frozen_bn: bool = False
    flip: bool | None = None
    label_smoothing: float | None = None
    mixup: float | None = None
    cutmix: float | None = None
    mixup_prob: float | None = None
    mixup_switch_prob: float | None = None
    randaugment: str | None = None  # "none" turns the recipe's off
    dropout: float | None = None
    num_segments: int | None = None  # architectures only
    short_side: int | None = None
    crop_size: int | None = None
    amp: str | None = None
    channels_last: bool = False
    grad_checkpointing: bool = False
    val_every: int = 1
    val_views: str = "protocol"  # "protocol" | "single"
    workers: int = 4
    device: str | None = None
    resume: str | None = None  # a last.pt path or "auto" (OUT/last.pt when it exists)
    seed: int = 0
    deterministic: bool = False
    progress: bool = True
    tensorboard: bool = False
    log_interval: int = 10
    curves: bool = True

    def __post_init__(self) -> None:
        self.data, self.out = Path(self.data), Path(self.out)
        for name in ("val_data", "data_prefix", "val_data_prefix"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))
        for name in ("epochs", "batch_size", "val_every", "log_interval"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers!r}")
        if self.val_views not in ("protocol", "single"):
            raise ValueError(f"val_views must be 'protocol' or 'single', got {self.val_views!r}")
        if self.amp not in (None, "bf16", "fp16"):
            raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {self.amp!r}")
        if self.num_classes is not None and self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if self.partial_bn and self.frozen_bn:
            raise ValueError("partial_bn and frozen_bn exclude each other (frozen_bn freezes every BN layer)")

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}


@dataclass
class FitResult:
    """What :func:`fit` produced: the ``save_pretrained`` folder, checkpoints, and the best validation figures."""

    out: Path
    pretrained: Path | None
    last: Path
    best: Path | None
    class_names: list[str]
    epochs: int
    best_epoch: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
