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
import logging
import math
from pathlib import Path
from typing import Any

from ..data.augment import ClipRandAugment
from ..data.dataset import VideoDataset, create_loader
from ..data.transforms import create_transform, flip_label_map
from ..labels import read_labels
from ..models import create_model, save_pretrained
from ..models.zoo import resolve_alias
from .config import PRETRAINED_DIR, FitResult, TrainConfig
from .distributed import DistInfo, barrier, destroy_distributed, init_distributed, unwrap_model, wrap_ddp
from .loop import EvalResult, evaluate, train_one_epoch
from .mixup import VideoMixup
from .optim import create_optimizer, create_scheduler, default_weight_decay, freeze_bn, scale_lr
from .recipes import _entry_dataset, lookup_entry, resolve_recipe
from .run_log import RunLogger, plot_curves
from .runtime import create_grad_scaler, prepare_model, seed_everything
from .setup import _check_labels, _class_names_for, _protocol, _read_split, _single_view, _train_val_sources
from .state import resume_train_state, save_train_state

__all__ = ["fit"]

_logger = logging.getLogger(__name__)


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
