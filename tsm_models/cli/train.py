"""``train``: fine-tune a zoo model or train an architecture on a folder-per-class tree or an annotation list.

The same command runs under ``torchrun --nproc_per_node N -m tsm_models train ...`` (or
``torchrun --nproc_per_node N $(which tsm-models) train ...``). Everything is :func:`tsm_models.train.fit.fit`;
this module only maps flags to :class:`~tsm_models.train.config.TrainConfig`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..train.config import TrainConfig
from ..train.fit import fit
from ..train.recipes import RECIPES

__all__ = ["add_train_arguments", "config_from_args", "register", "run"]

_EPILOG = (
    "recipes:\n"
    + "\n".join(f"  {name:<16} {r.description}" for name, r in RECIPES.items())
    + "\n  entry            the recipe that trained the zoo checkpoint (default for zoo names;"
    + " 'tsm' for architectures)"
)


def add_train_arguments(p: argparse.ArgumentParser, data_required: bool = True) -> None:
    """The flags of ``tsm-models train`` (shared with ``examples/finetune.py``)."""
    p.add_argument(
        "data",
        type=Path,
        nargs=None if data_required else "?",
        metavar="DATA",
        help="DATA/train/<class>/* (+ DATA/val/<class>/*), a folder-per-class tree, or an MMAction2 list "
        "('path label', 'dir total_frames label', multi-label 'path label label ...')",
    )
    p.add_argument("-m", "--model", required=True, help="zoo name (its weights, a new classifier) or architecture")
    p.add_argument("--out", "--work-dir", dest="out", type=Path, required=True, help="folder for logs and checkpoints")
    g = p.add_argument_group("data")
    g.add_argument("--val-data", type=Path, help="validation list or folder (default: DATA/val when it exists)")
    g.add_argument("--data-prefix", type=Path, help="folder the list's paths start from (default: the list's)")
    g.add_argument("--val-data-prefix", type=Path, help="same for --val-data (default: --data-prefix)")
    g.add_argument("--labels", metavar="NAME|FILE", help="class names of a list: a text file, one per line")
    g.add_argument("--num-classes", type=int, help="number of classes (default: from the data)")
    g.add_argument("--multi-label", action="store_true", help="several labels per video: BCE, sigmoid, mAP")
    g.add_argument("--short-side", type=int, help="resize short side (default: the zoo protocol's)")
    g.add_argument("--crop-size", type=int, help="crop size (default: the zoo protocol's)")
    g.add_argument("--num-segments", type=int, help="frames per clip of an architecture (default 8)")
    g.add_argument("--workers", type=int, default=4, help="DataLoader workers per process (default 4)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--pretrained", metavar="PATH", help="start from a checkpoint file or saved folder")
    w.add_argument("--no-pretrained", action="store_true", help="random initialisation")
    r = p.add_argument_group("recipe (defaults: the recipe's)")
    r.add_argument("--recipe", choices=("entry", *RECIPES), help="named recipe (see below)")
    r.add_argument("--epochs", type=int, default=10)
    r.add_argument("--batch-size", type=int, default=8, help="clips per process and step (default 8)")
    r.add_argument("--lr", type=float, help="base lr (default: the recipe's, scaled to the global batch)")
    r.add_argument("--weight-decay", type=float, help="default: 5e-4 for sth-sth models, else 1e-4")
    r.add_argument("--schedule", choices=("step", "cosine"))
    r.add_argument("--milestones", type=int, nargs="*", help="step schedule epochs (x0.1)")
    r.add_argument("--warmup-epochs", type=float)
    r.add_argument("--grad-clip", type=float, help="max grad norm (0: off; default 20)")
    bn = r.add_mutually_exclusive_group()
    bn.add_argument("--partial-bn", action="store_true", default=None, help="freeze all BN layers but the first")
    bn.add_argument("--frozen-bn", action="store_true", help="freeze every BN layer (batch-size independent)")
    r.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help="random horizontal flips")
    r.add_argument("--label-smoothing", type=float)
    r.add_argument("--mixup", type=float, metavar="ALPHA", help="mixup alpha (0: off)")
    r.add_argument("--cutmix", type=float, metavar="ALPHA", help="CutMix alpha (0: off)")
    r.add_argument("--mixup-prob", type=float, help="probability of mixing a batch (default 1)")
    r.add_argument("--mixup-switch-prob", type=float, help="CutMix instead of mixup when both are on (default 0.5)")
    r.add_argument("--randaugment", metavar="rand-mM-nN", help="clip RandAugment, e.g. rand-m9-n2 ('none': off)")
    r.add_argument("--dropout", type=float, help="dropout before the classifier (default: the model's)")
    s = p.add_argument_group("run")
    s.add_argument("--amp", choices=("bf16", "fp16"))
    s.add_argument("--channels-last", action="store_true")
    s.add_argument("--grad-checkpointing", action="store_true")
    s.add_argument("--val-every", type=int, default=1, help="validate every N epochs (and after the last)")
    s.add_argument("--val-views", choices=("protocol", "single"), default="protocol", help="validation views")
    s.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    s.add_argument("--resume", metavar="PATH|auto", help="continue from last.pt; 'auto' = OUT/last.pt if present")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--deterministic", action="store_true", help="deterministic kernels (slower on GPU)")
    s.add_argument("--no-progress", action="store_true", help="no progress bars")
    s.add_argument("--tensorboard", action="store_true", help="also log to OUT/tensorboard (needs tensorboard)")
    s.add_argument("--log-interval", type=int, default=10, help="steps between training log records")
    s.add_argument("--no-curves", action="store_true", help="no curves.png at the end")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed ``train`` flags."""
    pretrained: bool | str | None = False if args.no_pretrained else args.pretrained
    return TrainConfig(
        data=args.data,
        model=args.model,
        out=args.out,
        val_data=args.val_data,
        data_prefix=args.data_prefix,
        val_data_prefix=args.val_data_prefix,
        labels=args.labels,
        num_classes=args.num_classes,
        multi_label=args.multi_label,
        pretrained=pretrained,
        epochs=args.epochs,
        batch_size=args.batch_size,
        recipe=args.recipe,
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        milestones=args.milestones,
        warmup_epochs=args.warmup_epochs,
        grad_clip=args.grad_clip,
        partial_bn=args.partial_bn,
        frozen_bn=args.frozen_bn,
        flip=args.flip,
        label_smoothing=args.label_smoothing,
        mixup=args.mixup,
        cutmix=args.cutmix,
        mixup_prob=args.mixup_prob,
        mixup_switch_prob=args.mixup_switch_prob,
        randaugment=args.randaugment,
        dropout=args.dropout,
        num_segments=args.num_segments,
        short_side=args.short_side,
        crop_size=args.crop_size,
        amp=args.amp,
        channels_last=args.channels_last,
        grad_checkpointing=args.grad_checkpointing,
        val_every=args.val_every,
        val_views=args.val_views,
        workers=args.workers,
        device=args.device,
        resume=args.resume,
        seed=args.seed,
        deterministic=args.deterministic,
        progress=not args.no_progress,
        tensorboard=args.tensorboard,
        log_interval=args.log_interval,
        curves=not args.no_curves,
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune or train a model on your videos",
        description="Train on a folder-per-class tree or an MMAction2 annotation list; alone or under torchrun. "
        "Ends with a save_pretrained folder OUT/model (the last stdout line, JSON) that predict, export and "
        "from_pretrained take as is.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = fit(config_from_args(args))
    if result.pretrained is not None and _is_main():
        summary = {
            "model": args.model,
            "pretrained": str(result.pretrained),
            "classes": len(result.class_names),
            "best_epoch": result.best_epoch,
            **{k: round(v, 6) if isinstance(v, float) else v for k, v in result.metrics.items()},
        }
        sys.stdout.write(json.dumps(summary) + "\n")
    return 0


def _is_main() -> bool:
    return os.environ.get("RANK", "0") == "0"  # the process group is gone after fit(): torchrun's variable
