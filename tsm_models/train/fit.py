"""One training run from a typed config: what ``tsm-models train`` and ``examples/finetune.py`` both execute.

:func:`fit` takes a :class:`TrainConfig` and does, alone or under ``torchrun --nproc_per_node N``:

1. reads the data (a ``DATA/train`` + ``DATA/val`` folder-per-class tree, a folder-per-class tree, or an
   MMAction2 annotation list of videos or raw-frame folders, single- or multi-label) and takes the classes
   from it;
2. builds the model from a zoo entry (its weights, a new classifier for the classes) or an architecture
   (ImageNet weights), and the recipe (:data:`RECIPES` or the entry's own: TSM parameter groups, SGD, lr
   scaled to the global batch, step or cosine schedule with warm-up, partial BN, gradient clipping, label
   smoothing, mixup / CutMix, RandAugment), AMP, channels-last and gradient checkpointing;
3. trains, validating every ``val_every`` epochs with the entry's test protocol, writing ``last.pt``
   (resumable bit for bit: ``resume="auto"``) and ``best.pt``, JSON lines (``log.jsonl``), optionally
   TensorBoard, and at the end ``curves.png`` (loss and lr) and the validation report of the best weights;
4. writes a :func:`~tsm_models.models.save_pretrained` folder ``OUT/model`` holding the class names, which
   ``predict``, ``export`` and ``from_pretrained`` take as is. The last ``log.jsonl`` record
   (``{"mode": "done", "pretrained": ...}``) names it.

Output folder::

    OUT/log.jsonl  OUT/last.pt  OUT/best.pt  OUT/curves.png  OUT/tensorboard/
    OUT/metrics.json  OUT/per_class_accuracy.csv (multi-label: per_class_ap.csv)  OUT/confusion_matrix.{csv,png}
    OUT/model/{model.safetensors, config.json, README.md}
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..data.augment import ClipRandAugment
from ..data.dataset import VideoDataset, VideoRecord, create_loader, read_annotation_file, scan_class_folders
from ..data.transforms import create_transform, flip_label_map
from ..labels import DATASETS, load_labels, read_labels
from ..models import create_model, get_zoo_entry, is_model, save_pretrained
from ..models.zoo import ClipProtocol, ZooEntry, find_entry, resolve_alias
from .distributed import DistInfo, barrier, destroy_distributed, init_distributed, unwrap_model, wrap_ddp
from .loop import EvalResult, JsonLogger, evaluate, train_one_epoch
from .mixup import VideoMixup
from .optim import create_optimizer, create_scheduler, default_weight_decay, freeze_bn, scale_lr
from .runtime import create_grad_scaler, prepare_model, seed_everything
from .state import resume_train_state, save_train_state

__all__ = [
    "RECIPES",
    "EvalConfig",
    "EvalReport",
    "FitResult",
    "Recipe",
    "TrainConfig",
    "entry_recipe",
    "fit",
    "plot_curves",
    "resolve_recipe",
    "run_evaluation",
]

_logger = logging.getLogger(__name__)

PRETRAINED_DIR = "model"


# ----------------------------------------------------------------------------------------------- recipes


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


# ----------------------------------------------------------------------------------------------- config


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


# ----------------------------------------------------------------------------------------------- data


@dataclass
class _Split:
    records: list[VideoRecord]
    class_names: list[str] | None  # None: from the model or indices
    source: Path


def _read_split(
    path: Path,
    prefix: Path | None,
    class_names: Sequence[str] | None,
    num_classes: int | None,
    multi_label: bool,
) -> _Split:
    if path.is_file():
        records = read_annotation_file(path, prefix, num_classes=num_classes, multi_label=multi_label)
        return _Split(records, list(class_names) if class_names is not None else None, path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such annotation list or dataset folder")
    if multi_label:
        raise ValueError(
            f"{path}: multi-label training needs annotation lists ('path label label ...'), not a folder tree"
        )
    records, names = scan_class_folders(path, class_names=class_names)
    return _Split(records, names, path)


def _train_val_sources(cfg: TrainConfig) -> tuple[Path, Path | None]:
    data = cfg.data
    if data.is_dir() and (data / "train").is_dir():
        val = cfg.val_data if cfg.val_data is not None else (data / "val" if (data / "val").is_dir() else None)
        return data / "train", val
    return data, cfg.val_data


def _class_names_for(cfg: TrainConfig, split: _Split, entry: ZooEntry | None) -> list[str]:
    """Class names of the training data; checks there are at least two classes."""
    if split.class_names is not None:
        names = split.class_names
    elif cfg.labels is not None:
        names = read_labels(cfg.labels)
    else:
        k = cfg.num_classes
        if k is None:
            k = 1 + max(max(_labels_of(r)) if _labels_of(r) else 0 for r in split.records)
        dataset = _entry_dataset(entry)
        if entry is not None and k == entry.num_classes and dataset in DATASETS:
            names = load_labels(dataset)
            names += [f"unused_{i}" for i in range(len(names), k)]
        else:
            names = [str(i) for i in range(k)]
    if cfg.num_classes is not None and cfg.num_classes != len(names):
        raise ValueError(
            f"--num-classes {cfg.num_classes} but the data has {len(names)} classes ({split.source}); "
            "drop --num-classes or fix the labels"
        )
    if len(names) < 2:
        raise ValueError(
            f"{split.source}: {len(names)} class ({', '.join(names)}); a classifier needs at least 2 classes "
            "(one sub-folder per class, or labels 0..K-1 in the list)"
        )
    return list(names)


def _labels_of(record: VideoRecord) -> tuple[int, ...]:
    label = record.label
    return tuple(label) if isinstance(label, (tuple, list)) else (int(label),)


def _check_labels(split: _Split, num_classes: int) -> None:
    for r in split.records:
        bad = [c for c in _labels_of(r) if not 0 <= c < num_classes]
        if bad:
            raise ValueError(
                f"{split.source}: {r.path} has label {bad[0]}, beyond the {num_classes} classes of the run "
                f"(labels must be 0..{num_classes - 1})"
            )


def _protocol(
    cfg: TrainConfig, entry: ZooEntry | None, num_segments: int, saved: ClipProtocol | None = None
) -> ClipProtocol:
    if saved is not None:
        protocol = saved
    elif entry is not None:
        protocol = entry.protocol
    else:
        protocol = ClipProtocol(num_frames=num_segments, input_format="video")
    changes: dict[str, Any] = {}
    if cfg.short_side:
        changes["resize_short"] = cfg.short_side
    if cfg.crop_size:
        changes["crop_size"] = cfg.crop_size
    if changes.get("crop_size", protocol.crop_size) > changes.get("resize_short", protocol.resize_short):
        changes["resize_short"] = changes.get("crop_size", protocol.crop_size)
    return dataclasses.replace(protocol, **changes)


def _single_view(protocol: ClipProtocol) -> ClipProtocol:
    return dataclasses.replace(protocol, num_clips=1, crop="center", num_crops=1)


# ----------------------------------------------------------------------------------------------- logging


class RunLogger(JsonLogger):
    """JSON lines (rank 0) plus, optionally, the same numbers in TensorBoard (``OUT/tensorboard``).

    ``train`` records (every ``log_interval`` steps) go to ``train/<key>`` at the global step,
    ``train_epoch`` and ``val`` records to ``<mode>/<key>`` at the epoch.
    """

    def __init__(self, path: Path | None, steps_per_epoch: int, tensorboard_dir: Path | None = None) -> None:
        super().__init__(path)
        self.steps_per_epoch = steps_per_epoch
        self.writer: Any = None
        if tensorboard_dir is not None and self.path is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ValueError(
                    "--tensorboard needs the tensorboard package: pip install 'tsm-models[tensorboard]'"
                ) from exc
            self.writer = SummaryWriter(str(tensorboard_dir))

    def log(self, **record: Any) -> None:
        super().log(**record)
        if self.writer is None:
            return
        mode = record.get("mode")
        if mode == "train":
            step = int(record["epoch"]) * self.steps_per_epoch + int(record["step"])
        elif mode in ("train_epoch", "val"):
            step = int(record.get("epoch", 0)) + 1
        else:
            return
        for key, value in record.items():
            if key not in ("mode", "epoch", "step") and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{mode}/{key}", value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _read_log(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                records.append(json.loads(line))
    return records


def plot_curves(log_path: str | os.PathLike[str], png_path: str | os.PathLike[str]) -> Path | None:
    """Loss and learning rate against the optimizer step (and validation per epoch) from ``log.jsonl``, as PNG.

    A resumed run appends to the log; records of epochs that were redone after the resume replace the
    earlier ones. Needs matplotlib (the ``plot`` extra); without it nothing is drawn and ``None`` returned.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _logger.info("matplotlib is not installed (pip install 'tsm-models[plot]'): no curves PNG")
        return None
    records = _read_log(Path(log_path))
    spe = next((r.get("steps_per_epoch") for r in reversed(records) if r.get("mode") == "config"), None) or 1
    train: dict[tuple[int, int], dict[str, Any]] = {}
    val: dict[int, dict[str, Any]] = {}
    for r in records:
        if r.get("mode") == "train":
            train[(int(r["epoch"]), int(r["step"]))] = r
        elif r.get("mode") == "val" and "epoch" in r:
            val[int(r["epoch"])] = r
    if not train:
        _logger.info("%s has no training records: no curves PNG", log_path)
        return None
    keys = sorted(train)
    steps = [e * spe + s for e, s in keys]
    fig, axes = plt.subplots(1, 3 if val else 2, figsize=(15 if val else 10, 3.6), dpi=100)
    axes[0].plot(steps, [train[k]["loss"] for k in keys], lw=1)
    axes[0].set(xlabel="step", ylabel="training loss", title="loss")
    axes[1].plot(steps, [train[k]["lr"] for k in keys], lw=1, color="tab:orange")
    axes[1].set(xlabel="step", ylabel="lr (first group)", title="learning rate")
    if val:
        epochs = sorted(val)
        metric = "top1" if "top1" in val[epochs[0]] else "mAP"
        axes[2].plot([e + 1 for e in epochs], [val[e][metric] for e in epochs], marker="o", color="tab:green")
        axes[2].set(xlabel="epoch", ylabel=metric, title=f"validation {metric}")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    png = Path(png_path)
    fig.savefig(png)
    plt.close(fig)
    return png


# ----------------------------------------------------------------------------------------------- run


def _override(value: Any, default: Any) -> Any:
    return default if value is None else value


def _metric_name(multi_label: bool) -> str:
    return "mAP" if multi_label else "top1"


def _resume_path(cfg: TrainConfig) -> Path | None:
    if cfg.resume is None:
        return None
    if cfg.resume == "auto":
        last = cfg.out / "last.pt"
        return last if last.is_file() else None
    return Path(cfg.resume)


def _check_resume(path: Path, extra: dict[str, Any], cfg: TrainConfig, classes: list[str]) -> None:
    """One clear line when ``path`` is not a checkpoint of this run's model and classes."""
    name, k = extra.get("model_name"), extra.get("num_classes")
    if name is None:
        raise ValueError(f"--resume {path}: not written by tsm-models train (no model name recorded)")
    if (
        resolve_alias(str(name)) != resolve_alias(cfg.model)
        or k != len(classes)
        or bool(extra.get("multi_label")) != cfg.multi_label
    ):
        kind = "multi-label " if extra.get("multi_label") else ""
        raise ValueError(
            f"--resume {path} is a checkpoint of {name} with {k} {kind}classes, not of {cfg.model} with "
            f"{len(classes)} {'multi-label ' if cfg.multi_label else ''}classes"
        )


def fit(cfg: TrainConfig) -> FitResult:
    """Run the training :class:`TrainConfig` describes (see the module docstring); returns a :class:`FitResult`."""
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"fit expects a TrainConfig, got {type(cfg).__name__}")
    info = init_distributed(cfg.device)
    try:
        return _fit(cfg, info)
    finally:
        destroy_distributed()


def _fit(cfg: TrainConfig, info: DistInfo) -> FitResult:
    seed_everything(cfg.seed, cfg.deterministic)
    entry = lookup_entry(cfg.model)
    recipe = resolve_recipe(cfg.recipe, entry)

    # ---- data and classes
    train_src, val_src = _train_val_sources(cfg)
    names_hint = read_labels(cfg.labels) if cfg.labels is not None else None
    k_hint = cfg.num_classes if cfg.num_classes is not None else (len(names_hint) if names_hint else None)
    if cfg.multi_label and k_hint is None:
        raise ValueError("--multi-label needs --num-classes K (or --labels FILE): a list does not show unused classes")
    train_split = _read_split(train_src, cfg.data_prefix, names_hint, k_hint, cfg.multi_label)
    classes = _class_names_for(cfg, train_split, entry)
    num_classes = len(classes)
    _check_labels(train_split, num_classes)
    val_split = None
    if val_src is not None:
        val_split = _read_split(val_src, cfg.val_data_prefix or cfg.data_prefix, classes, num_classes, cfg.multi_label)
        _check_labels(val_split, num_classes)

    # ---- model
    model_kwargs: dict[str, Any] = {"num_classes": num_classes}
    if cfg.dropout is not None:
        model_kwargs["dropout"] = cfg.dropout
    if cfg.num_segments is not None:
        if entry is not None:
            raise ValueError(f"--num-segments is for architectures; {cfg.model} was trained with its own")
        model_kwargs["num_segments"] = cfg.num_segments
    pretrained = cfg.pretrained if cfg.pretrained is not None else (True if entry is not None else "imagenet")
    model = create_model(cfg.model, pretrained=pretrained, **model_kwargs)
    num_segments = int(getattr(model, "num_segments", None) or model.tsm_config.num_segments)
    protocol = _protocol(cfg, entry, num_segments)

    # ---- augmentation
    flip = _override(cfg.flip, recipe.flip if recipe.flip is not None else True)
    transform = create_transform(protocol, train=True, flip=flip)
    swaps = flip_label_map(classes) if flip else {}
    if swaps:
        _logger.info("flips swap %d left/right class pairs", len(swaps) // 2)
    randaugment = _override(cfg.randaugment, recipe.randaugment)
    if randaugment in ("none", ""):
        randaugment = None
    transform = dataclasses.replace(
        transform,
        flip_label_map=swaps,
        randaugment=ClipRandAugment.from_spec(randaugment) if randaugment else None,
    )
    mixup_alpha = _override(cfg.mixup, recipe.mixup)
    cutmix_alpha = _override(cfg.cutmix, recipe.cutmix)
    smoothing = _override(cfg.label_smoothing, recipe.label_smoothing)
    mixup = None
    if mixup_alpha > 0 or cutmix_alpha > 0:
        if cfg.batch_size % 2:
            raise ValueError(f"mixup/cutmix pair clips within a batch: --batch-size must be even, got {cfg.batch_size}")
        mixup = VideoMixup(
            num_classes,
            mixup_alpha=mixup_alpha,
            cutmix_alpha=cutmix_alpha,
            prob=_override(cfg.mixup_prob, recipe.mixup_prob),
            switch_prob=_override(cfg.mixup_switch_prob, recipe.mixup_switch_prob),
            label_smoothing=smoothing,
            multi_label=cfg.multi_label,
        )

    train_set = VideoDataset(
        train_split.records,
        protocol,
        train=True,
        transform=transform,
        seed=cfg.seed,
        class_names=classes,
        num_classes=num_classes,
        multi_label=cfg.multi_label,
    )
    train_loader = create_loader(train_set, cfg.batch_size, train=True, num_workers=cfg.workers, seed=cfg.seed)
    if len(train_loader) == 0:
        raise ValueError(
            f"{len(train_set)} training videos make no full batch of {cfg.batch_size} on each of {info.world_size} "
            "process(es); lower --batch-size"
        )
    val_loader = None
    val_protocol = _single_view(protocol) if cfg.val_views == "single" else protocol
    if val_split is not None:
        val_set = VideoDataset(
            val_split.records, val_protocol, class_names=classes, num_classes=num_classes, multi_label=cfg.multi_label
        )
        val_loader = create_loader(val_set, cfg.batch_size, train=False, num_workers=cfg.workers)

    # ---- recipe
    partial_bn = bool(_override(cfg.partial_bn, recipe.partial_bn))
    if partial_bn or cfg.frozen_bn:
        freeze_bn(model, keep_first=partial_bn)  # before DDP and the optimizer: frozen parameters stay out
    model = prepare_model(model, info.device, cfg.channels_last, cfg.grad_checkpointing)
    model = wrap_ddp(model, info)
    global_batch = cfg.batch_size * info.world_size
    lr = cfg.lr if cfg.lr is not None else scale_lr(global_batch, recipe.lr, recipe.base_batch_size)
    wd = _override(cfg.weight_decay, _override(recipe.weight_decay, default_weight_decay(_entry_dataset(entry))))
    optimizer = create_optimizer(model, lr=lr, weight_decay=wd, momentum=recipe.momentum, fc_lr5=recipe.fc_lr5)
    milestones = (
        list(cfg.milestones)
        if cfg.milestones is not None
        else sorted({max(1, round(f * cfg.epochs)) for f in recipe.milestones})
    )
    schedule = _override(cfg.schedule, recipe.schedule)
    warmup = _override(cfg.warmup_epochs, recipe.warmup_epochs)
    scheduler = create_scheduler(
        optimizer,
        epochs=cfg.epochs,
        steps_per_epoch=len(train_loader),
        schedule=schedule,
        milestones=milestones,
        gamma=recipe.gamma,
        warmup_epochs=warmup,
        warmup_factor=recipe.warmup_factor,
    )
    scaler = create_grad_scaler(cfg.amp, info.device)
    grad_clip = _override(cfg.grad_clip, recipe.grad_clip) or None

    # ---- resume
    start, best, best_epoch = 0, -math.inf, None
    resume = _resume_path(cfg)
    if resume is not None:
        state = resume_train_state(
            resume,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=scaler,
            check=lambda extra: _check_resume(resume, extra, cfg, classes),
        )
        start = state["epoch"]
        best = float(state["extra"].get("best", -math.inf))
        best_epoch = state["extra"].get("best_epoch")
        _logger.info("resumed from %s at epoch %d", resume, start)

    cfg.out.mkdir(parents=True, exist_ok=True)
    log = RunLogger(cfg.out / "log.jsonl", len(train_loader), cfg.out / "tensorboard" if cfg.tensorboard else None)
    metric = _metric_name(cfg.multi_label)
    log.log(
        mode="config",
        **cfg.to_dict(),
        recipe_name=recipe.name,
        resolved=dict(
            lr=lr,
            weight_decay=wd,
            schedule=schedule,
            milestones=milestones,
            warmup_epochs=warmup,
            grad_clip=grad_clip,
            partial_bn=partial_bn,
            flip=flip,
            label_smoothing=smoothing,
            mixup=mixup_alpha,
            cutmix=cutmix_alpha,
            randaugment=randaugment,
            global_batch=global_batch,
        ),
        classes=classes,
        num_train=len(train_set),
        num_val=len(val_loader.dataset) if val_loader is not None else 0,
        steps_per_epoch=len(train_loader),
        world_size=info.world_size,
        start_epoch=start,
    )
    _logger.info(
        "%s on %d %sclasses: %d train / %d val videos, %d epochs, global batch %d, lr %.4g, wd %g, %s%s, "
        "%d process(es)",
        cfg.model,
        num_classes,
        "multi-label " if cfg.multi_label else "",
        len(train_set),
        len(val_loader.dataset) if val_loader is not None else 0,
        cfg.epochs,
        global_batch,
        lr,
        wd,
        schedule,
        f" (recipe {recipe.name})",
        info.world_size,
    )
    common = dict(device=info.device, amp=cfg.amp, channels_last=cfg.channels_last, progress=cfg.progress)
    topk = (1, min(5, num_classes))
    extra_base = dict(model_name=cfg.model, num_classes=num_classes, classes=classes, multi_label=cfg.multi_label)
    last_path, best_path = cfg.out / "last.pt", cfg.out / "best.pt"
    for epoch in range(start, cfg.epochs):
        train_loader.sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        stats = train_one_epoch(
            model,
            train_loader,
            optimizer,
            epoch=epoch,
            scheduler=scheduler,
            scaler=scaler,
            grad_clip_norm=grad_clip,
            partial_bn=partial_bn,
            frozen_bn=cfg.frozen_bn,
            label_smoothing=0.0 if mixup is not None else smoothing,
            mixup=mixup,
            multi_label=cfg.multi_label,
            logger=log,
            log_interval=cfg.log_interval,
            **common,
        )
        message = f"epoch {epoch + 1}/{cfg.epochs}: loss {stats['loss']:.4f}"
        improved = False
        if val_loader is not None and ((epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs):
            result = evaluate(
                model, val_loader, topk=topk, multi_label=cfg.multi_label, logger=log, epoch=epoch, **common
            )
            value = float(result.metrics[metric])
            message += f", val {metric} {value:.4f}"
            if value >= best:  # ties: the later epoch
                best, best_epoch, improved = value, epoch + 1, True
        _logger.info("%s", message)
        extra = dict(extra_base, best=best, best_epoch=best_epoch)
        save_train_state(
            last_path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, epoch=epoch + 1, **extra
        )
        if improved:
            save_train_state(best_path, model=model, epoch=epoch + 1, **extra)
        barrier()

    # ---- the end: best weights (validated) or last, report, curves, save_pretrained folder
    net = unwrap_model(model)
    weights_epoch = cfg.epochs
    if best_epoch is not None and best_path.is_file():
        resume_train_state(best_path, model=net, restore_rng=False)
        weights_epoch = best_epoch
    metrics: dict[str, float] = {}
    if val_loader is not None:
        result: EvalResult = evaluate(model, val_loader, topk=topk, multi_label=cfg.multi_label, **common)
        metrics = {k: v for k, v in result.metrics.items() if k != "time"}
        result.save(cfg.out, class_names=classes)
    folder = None
    if info.is_main:
        net.label_names = list(classes)  # config.json "label_names": predict prints them
        net.multi_label = cfg.multi_label  # config.json "multi_label": sigmoid probabilities at inference
        net.clip_protocol = val_protocol  # config.json: predict / evaluate see clips as validation did
        folder = save_pretrained(net, cfg.out / PRETRAINED_DIR)
        if cfg.curves:
            plot_curves(cfg.out / "log.jsonl", cfg.out / "curves.png")
    barrier()
    log.log(
        mode="done",
        pretrained=str(cfg.out / PRETRAINED_DIR),
        weights_epoch=weights_epoch,
        best_epoch=best_epoch,
        **{f"val_{k}": v for k, v in metrics.items()},
    )
    log.close()
    _logger.info("saved the trained model (epoch %d weights) to %s", weights_epoch, cfg.out / PRETRAINED_DIR)
    return FitResult(
        out=cfg.out,
        pretrained=folder if folder is not None else cfg.out / PRETRAINED_DIR,
        last=last_path,
        best=best_path if best_epoch is not None else None,
        class_names=classes,
        epochs=cfg.epochs,
        best_epoch=best_epoch,
        metrics=metrics,
    )


# ----------------------------------------------------------------------------------------------- evaluation


@dataclass
class EvalConfig:
    """An evaluation run (``tsm-models evaluate``): a list or folder, a model and its weights, the views."""

    data: Path
    model: str
    pretrained: bool | str = True  # True: the zoo weights; a path: a checkpoint file or saved folder
    data_prefix: Path | None = None
    labels: str | None = None
    views: str = "protocol"  # "protocol" | "single"
    average: str | None = None  # None: the protocol's
    batch_size: int = 4
    workers: int = 4
    amp: str | None = None
    device: str | None = None
    limit: int | None = None
    short_side: int | None = None
    crop_size: int | None = None
    out: Path | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        self.data = Path(self.data)
        if self.views not in ("protocol", "single"):
            raise ValueError(f"views must be 'protocol' or 'single', got {self.views!r}")
        if self.batch_size < 1 or self.workers < 0:
            raise ValueError(f"batch_size must be >= 1 and workers >= 0, got {self.batch_size}, {self.workers}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")


@dataclass
class EvalReport:
    """What :func:`run_evaluation` measured, the model's class names and the entry's published figures."""

    result: EvalResult
    class_names: list[str]
    multi_label: bool
    num_videos: int
    published: dict[str, float | None]
    comparable: bool

    def table(self, title: str) -> str:
        """The measured figures beside the published ones, as text lines."""
        m = self.result.metrics
        rows = [title, f"{'metric':<22}{'measured':>10}{'published':>12}{'original TSM':>15}"]

        def fmt(v: float | None) -> str:
            return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"

        if self.multi_label:
            rows.append(f"{'mAP':<22}{100 * m['mAP']:>10.2f}{'-':>12}{'-':>15}")
            rows.append(f"{'subset accuracy':<22}{100 * m['subset_accuracy']:>10.2f}{'-':>12}{'-':>15}")
        else:
            p = self.published
            for key, label in (("top1", "top-1 accuracy"), ("top5", "top-5 accuracy")):
                if key in m:
                    rows.append(
                        f"{label:<22}{100 * m[key]:>10.2f}{fmt(p.get(key)):>12}{fmt(p.get('reference_' + key)):>15}"
                    )
            rows.append(f"{'mean class accuracy':<22}{100 * m['mean_class_accuracy']:>10.2f}{'-':>12}{'-':>15}")
        return "\n".join(rows)


def model_class_names(model: nn.Module, entry: ZooEntry | None) -> list[str] | None:
    """Class names a model carries (a trained folder's ``label_names``), else its zoo entry's, else ``None``."""
    k = int(unwrap_model(model).num_classes)
    names = getattr(unwrap_model(model), "label_names", None)
    if names and len(names) == k:
        return list(names)
    dataset = _entry_dataset(entry)
    if entry is not None and k == entry.num_classes and dataset in DATASETS:
        names = load_labels(dataset)
        return names + [f"unused_{i}" for i in range(len(names), k)]
    return None


def is_multi_label(model: nn.Module) -> bool:
    """Whether a model was trained multi-label (``model.multi_label``, from its saved ``config.json``)."""
    return bool(getattr(unwrap_model(model), "multi_label", False))


def run_evaluation(cfg: EvalConfig) -> EvalReport:
    """Evaluate ``cfg.model`` on a list or folder with the entry's protocol (or one view); rank 0 saves the report."""
    info = init_distributed(cfg.device)
    try:
        return _run_evaluation(cfg, info)
    finally:
        destroy_distributed()


def _run_evaluation(cfg: EvalConfig, info: DistInfo) -> EvalReport:
    entry = lookup_entry(cfg.model)
    if cfg.pretrained is True and entry is None:
        raise ValueError(f"{cfg.model!r} is an architecture without zoo weights: pass --pretrained PATH")
    model = create_model(cfg.model, pretrained=cfg.pretrained)
    multi_label = is_multi_label(model)
    names = model_class_names(model, entry)
    if cfg.labels is not None:
        names = read_labels(cfg.labels)
    k = int(model.num_classes)
    if names is not None and len(names) != k:
        raise ValueError(f"{len(names)} class names for a model with {k} outputs")
    num_segments = int(getattr(model, "num_segments", None) or model.tsm_config.num_segments)
    saved = getattr(model, "clip_protocol", None)  # a folder trained here knows how it was validated
    protocol = _protocol(TrainConfig(cfg.data, cfg.model, Path("."), short_side=cfg.short_side,
                                     crop_size=cfg.crop_size), entry, num_segments, saved)  # fmt: skip
    if cfg.views == "single":
        protocol = _single_view(protocol)
    if cfg.data.is_file():
        records = read_annotation_file(cfg.data, cfg.data_prefix, num_classes=k, multi_label=multi_label)
    elif cfg.data.is_dir():
        if multi_label:
            raise ValueError(f"{cfg.data}: a multi-label model is evaluated on an annotation list, not a folder tree")
        found = sorted(p.name for p in cfg.data.iterdir() if p.is_dir() and not p.name.startswith("."))
        if names is not None and set(found) <= set(names):
            records, _ = scan_class_folders(cfg.data, class_names=names)
        elif names is not None and not all(n.isdigit() for n in names):
            unknown = sorted(set(found) - set(names))
            raise ValueError(f"{cfg.data}: class folders {unknown[:5]} are not among the model's {k} class names")
        else:
            records, folder_names = scan_class_folders(cfg.data)
            if len(folder_names) > k:
                raise ValueError(f"{cfg.data}: {len(folder_names)} class folders for a model with {k} outputs")
            names = folder_names + [str(i) for i in range(len(folder_names), k)]
    else:
        raise FileNotFoundError(f"{cfg.data}: no such annotation list or dataset folder")
    if cfg.limit:
        records = records[: cfg.limit]
    names = names if names is not None else [str(i) for i in range(k)]
    dataset = VideoDataset(records, protocol, class_names=names, num_classes=k, multi_label=multi_label)
    loader = create_loader(dataset, cfg.batch_size, train=False, num_workers=cfg.workers)
    model = prepare_model(model, info.device)
    average = cfg.average or protocol.average_clips
    _logger.info(
        "%s: %d videos, %d frames x %d view(s), %s averaging, %d px crops, %d process(es)",
        cfg.model,
        len(dataset),
        protocol.num_frames,
        protocol.num_clips * protocol.num_crops,
        average,
        protocol.crop_size,
        info.world_size,
    )
    result = evaluate(
        model,
        loader,
        device=info.device,
        amp=cfg.amp,
        average=average,
        topk=(1, min(5, k)),
        multi_label=multi_label,
        progress=cfg.progress,
    )
    if cfg.out is not None:
        result.save(cfg.out, class_names=names)
    metrics = getattr(entry, "metrics", None) if entry is not None else None
    published = {key: getattr(metrics, key, None) for key in ("top1", "top5", "reference_top1", "reference_top5")}
    trained_here = not isinstance(cfg.pretrained, bool)
    comparable = (
        entry is not None
        and not trained_here
        and cfg.views == "protocol"
        and not (cfg.limit or cfg.short_side or cfg.crop_size or cfg.average)
    )
    return EvalReport(result, names, multi_label, len(dataset), published, comparable)
