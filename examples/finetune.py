"""Fine-tune a zoo TSM on your own videos (a folder per class), alone or under torchrun.

Data layout (class names = folder names; the validation classes must be among the training ones)::

    DATA/train/<class>/<video>.mp4
    DATA/val/<class>/<video>.mp4

Examples::

    # one process (GPU if available), Kinetics-400 weights, new classifier for your classes
    python examples/finetune.py DATA --model tsm_r50_1x1x8_kinetics400 --epochs 10 --work-dir work/ft
    # 4 GPUs, bf16, resumable
    torchrun --nproc_per_node 4 examples/finetune.py DATA --amp bf16 --work-dir work/ft --resume auto
    # weights from a local file, or none at all
    python examples/finetune.py DATA --pretrained path/to/checkpoint.pth
    python examples/finetune.py DATA --no-pretrained

The recipe is MMAction2's (TSM parameter groups: classifier lr x5/x10; SGD momentum 0.9; grad-norm clip 20;
lr 0.01 per 64 clips, linearly scaled to the global batch) with a step or cosine schedule and warmup. Each
epoch writes ``last.pt`` (resumable), ``best.pt`` and ``log.jsonl``; the final evaluation writes the metrics,
per-class accuracy and confusion matrix (CSV + PNG) to the work dir. The last stdout line is a JSON summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import tsm_models
from tsm_models.data import VideoDataset, create_loader
from tsm_models.models.zoo import ClipProtocol, find_entry
from tsm_models.train import (
    JsonLogger,
    create_grad_scaler,
    evaluate,
    prepare_model,
    resume_train_state,
    save_train_state,
    seed_everything,
    train_one_epoch,
)
from tsm_models.train.distributed import barrier, destroy_distributed, init_distributed, wrap_ddp
from tsm_models.train.optim import GRAD_CLIP_NORM, create_optimizer, create_scheduler, default_weight_decay, scale_lr

_logger = logging.getLogger("finetune")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path, help="folder with train/<class>/* and val/<class>/*")
    p.add_argument(
        "--model", default="tsm_r50_1x1x8_kinetics400", help="zoo name, MMAction2 config name or architecture name"
    )
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", default=None, metavar="PATH", help="checkpoint file or folder to start from")
    weights.add_argument("--no-pretrained", action="store_true", help="random initialisation")
    p.add_argument("--work-dir", type=Path, default=Path("work/finetune"))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8, help="clips per process and step")
    p.add_argument("--lr", type=float, default=None, help="base lr (default: 0.01 x global batch / 64)")
    p.add_argument("--weight-decay", type=float, default=None, help="default: 5e-4 for sth-sth models, else 1e-4")
    p.add_argument("--schedule", choices=("step", "cosine"), default="cosine")
    p.add_argument("--milestones", type=int, nargs="*", default=None, help="step schedule epochs (x0.1)")
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--grad-clip", type=float, default=GRAD_CLIP_NORM, help="max grad norm (0: off)")
    p.add_argument("--partial-bn", action="store_true", help="freeze all BN layers but the first")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=True, help="random horizontal flips")
    p.add_argument("--short-side", type=int, default=None, help="resize short side (default: the zoo protocol's)")
    p.add_argument("--crop-size", type=int, default=None, help="crop size (default: the zoo protocol's)")
    p.add_argument("--amp", choices=("bf16", "fp16"), default=None)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--grad-checkpointing", action="store_true")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    p.add_argument(
        "--resume", default=None, metavar="PATH|auto", help="checkpoint to resume; 'auto' = work-dir/last.pt"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deterministic", action="store_true")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    info = init_distributed(args.device)
    logging.basicConfig(
        level=logging.INFO if info.is_main else logging.WARNING, format="%(asctime)s %(levelname)s %(message)s"
    )
    seed_everything(args.seed, args.deterministic)

    if not tsm_models.is_model(args.model):
        raise ValueError(f"unknown model {args.model!r}; see tsm_models.list_models()")
    entry = find_entry(args.model)  # None for architecture names (tsm_r50, ...)
    protocol = entry.protocol if entry is not None else ClipProtocol(input_format="video")
    sizes = {k: v for k, v in (("resize_short", args.short_side), ("crop_size", args.crop_size)) if v}
    protocol = dataclasses.replace(protocol, **sizes)
    train_set = VideoDataset.from_folder(args.data / "train", protocol, train=True, flip=args.flip, seed=args.seed)
    val_set = VideoDataset.from_folder(args.data / "val", protocol, class_names=train_set.class_names)
    classes = train_set.class_names or []
    train_loader = create_loader(train_set, args.batch_size, train=True, num_workers=args.workers, seed=args.seed)
    val_loader = create_loader(val_set, args.batch_size, train=False, num_workers=args.workers)
    if len(train_loader) == 0:
        raise ValueError(
            f"{len(train_set)} training videos make no full batch of {args.batch_size} per process; lower --batch-size"
        )

    # zoo names start from their checkpoint, architecture names from timm's ImageNet ResNet
    pretrained: bool | str = False if args.no_pretrained else (args.pretrained or (True if entry else "imagenet"))
    model = tsm_models.create_model(args.model, pretrained=pretrained, num_classes=len(classes))
    model = prepare_model(model, info.device, args.channels_last, args.grad_checkpointing)
    model = wrap_ddp(model, info)

    global_batch = args.batch_size * info.world_size
    lr = args.lr if args.lr is not None else scale_lr(global_batch)
    wd = args.weight_decay if args.weight_decay is not None else default_weight_decay(entry.dataset if entry else "")
    optimizer = create_optimizer(model, lr=lr, weight_decay=wd)
    milestones = args.milestones if args.milestones is not None else [int(args.epochs * 0.4), int(args.epochs * 0.8)]
    scheduler = create_scheduler(
        optimizer,
        epochs=args.epochs,
        steps_per_epoch=len(train_loader),
        schedule=args.schedule,
        milestones=milestones,
        warmup_epochs=args.warmup_epochs,
    )
    scaler = create_grad_scaler(args.amp, info.device)
    _logger.info(
        "%s on %d classes: %d train / %d val videos, global batch %d, lr %.4g, wd %g, %d process(es)",
        args.model,
        len(classes),
        len(train_set),
        len(val_set),
        global_batch,
        lr,
        wd,
        info.world_size,
    )

    start, best = 0, -1.0
    resume = args.work_dir / "last.pt" if args.resume == "auto" else args.resume
    if resume is not None and (args.resume != "auto" or Path(resume).is_file()):
        state = resume_train_state(resume, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler)
        start, best = state["epoch"], float(state["extra"].get("best_top1", -1.0))
        _logger.info("resumed from %s at epoch %d", resume, start)

    log = JsonLogger(args.work_dir / "log.jsonl")
    log.log(mode="config", **{k: str(v) for k, v in vars(args).items()}, lr_base=lr, world_size=info.world_size)
    common = dict(device=info.device, amp=args.amp, channels_last=args.channels_last, progress=not args.no_progress)
    result = None
    for epoch in range(start, args.epochs):
        train_loader.sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        stats = train_one_epoch(
            model,
            train_loader,
            optimizer,
            epoch=epoch,
            scheduler=scheduler,
            scaler=scaler,
            grad_clip_norm=args.grad_clip or None,
            partial_bn=args.partial_bn,
            logger=log,
            **common,
        )
        result = evaluate(model, val_loader, topk=(1, min(5, len(classes))), logger=log, epoch=epoch, **common)
        top1 = result.metrics["top1"]
        _logger.info("epoch %d: loss %.4f, val top1 %.4f", epoch, stats["loss"], top1)
        extra = dict(best_top1=max(best, top1), classes=classes, model_name=args.model)
        save_train_state(args.work_dir / "last.pt", model=model, optimizer=optimizer, scheduler=scheduler,
                        scaler=scaler, epoch=epoch + 1, **extra)  # fmt: skip
        if top1 > best:
            best = top1
            save_train_state(args.work_dir / "best.pt", model=model, epoch=epoch + 1, **extra)
        barrier()
    if result is None:  # resumed after the last epoch: just evaluate
        result = evaluate(model, val_loader, topk=(1, min(5, len(classes))), **common)
    if info.is_main:
        result.save(args.work_dir, class_names=classes)
        summary = {k: round(v, 6) if isinstance(v, float) else v for k, v in result.metrics.items() if k != "time"}
        sys.stdout.write(json.dumps({"model": args.model, "classes": len(classes), **summary}) + "\n")
    destroy_distributed()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, FileNotFoundError) as exc:
        logging.basicConfig(format="%(levelname)s %(message)s")
        _logger.error("%s", exc)
        sys.exit(2)
