"""Temporal reasoning: TSM tells motion directions apart, the same network without the shift (TSN) cannot.

The script makes a synthetic dataset whose two classes differ only in the direction of motion: a bright
square slides left-to-right (class 1) or right-to-left (class 0) over a noisy background. A class-0 video is
a class-1 video played backwards, so both classes show exactly the same *set* of frames: no single frame, and
no average of per-frame features, can tell them apart. It then trains two small ResNets from scratch on CPU
with the library's TSM recipe (TSM param groups, SGD, warmup + cosine schedule, grad clipping):

* TSM: residual temporal shift in every block;
* TSN: the same network with every shift removed (per-frame 2D CNN + average of the frame logits).

and prints one JSON line ``{"tsm_acc": ..., "tsn_acc": ...}`` (validation accuracy). Expected: TSM >= 0.95,
TSN near chance (0.5). A few minutes on 2 CPU cores; ``--quick`` runs a seconds-long smoke version.

    python examples/temporal_reasoning.py [--seed 0] [--quick]

``--write-dataset DIR`` instead writes the videos as MP4 files in a folder per class (``DIR/train/moving left/``,
``DIR/train/moving right/``, ``DIR/val/...``; needs PyAV) for ``tsm-models train`` (see docs/training.md)::

    python examples/temporal_reasoning.py --write-dataset data/motion
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch
from timm.models.resnet import BasicBlock
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import tsm_models
from tsm_models.train import evaluate, seed_everything, train_one_epoch
from tsm_models.train.optim import create_optimizer, create_scheduler

_logger = logging.getLogger("temporal_reasoning")


def make_motion_dataset(
    num_videos: int, num_frames: int = 8, size: int = 32, square: int = 6, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Videos ``(N, T, 3, size, size)`` of a square moving right (label 1) or left (label 0), and labels ``(N,)``.

    Each video draws a speed (1-3 px/frame), a start, a row, a colour and background noise; a left-moving
    video is a right-moving one reversed in time, so the classes share every frame's distribution.
    """
    g = generator
    labels = torch.randint(0, 2, (num_videos,), generator=g)
    speed = torch.randint(1, 4, (num_videos,), generator=g)
    span = speed * (num_frames - 1)
    x0 = (torch.rand(num_videos, generator=g) * (size - square - span + 1)).long()
    row = torch.randint(0, size - square + 1, (num_videos,), generator=g)
    colour = torch.rand(num_videos, 3, generator=g) * 0.6 + 0.4
    videos = 0.15 * torch.randn(num_videos, num_frames, 3, size, size, generator=g)
    t = torch.arange(num_frames)
    cols = x0[:, None] + speed[:, None] * t  # rightwards positions (N, T)
    cols = torch.where(labels[:, None] == 1, cols, cols.flip(1))
    for i in range(num_videos):
        r = int(row[i])
        for j in range(num_frames):
            c = int(cols[i, j])
            videos[i, j, :, r : r + square, c : c + square] += colour[i, :, None, None]
    return videos, labels


CLASS_NAMES = ("moving left", "moving right")  # label 0, label 1


def write_dataset(root: Path, args: argparse.Namespace) -> dict[str, int]:
    """Encode ``train_size`` + ``val_size`` motion videos as ``root/{train,val}/<class>/<i>.mp4`` (H.264, lossless-ish).

    The class folder names make the left/right swap of ``tsm-models train``'s flips correct: a mirrored
    "moving left" clip is a "moving right" one.
    """
    import av

    counts = {}
    for split, n, offset in (("train", args.train_size, 1), ("val", args.val_size, 0)):
        g = torch.Generator().manual_seed(args.seed * 1000 + offset + 10_000 * (split == "train"))
        videos, labels = make_motion_dataset(n, args.frames, args.size, generator=g)
        frames = (videos.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 1, 3, 4, 2).numpy()  # (N, T, H, W, 3)
        for i in range(n):
            path = root / split / CLASS_NAMES[int(labels[i])] / f"{i:04d}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            with av.open(str(path), "w") as container:
                stream = container.add_stream("libx264", rate=8)
                stream.width = stream.height = args.size
                stream.pix_fmt = "yuv444p"
                stream.options = {"crf": "0"}
                for frame in frames[i]:
                    for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
        counts[split] = n
    return counts


def small_tsm(num_segments: int, shift: bool = True) -> nn.Module:
    """A 4-block ResNet (widths 16-128) with TSM's residual shift; ``shift=False`` removes every shift (TSN)."""
    model = tsm_models.TSM(
        BasicBlock,
        (1, 1, 1, 1),
        num_classes=2,
        num_segments=num_segments,
        channels=(16, 32, 64, 128),
        stem_width=16,
        dropout=0.0,
    )
    if not shift:
        tsm_models.models.remove_temporal_shift(model)
    return model


def train_and_evaluate(shift: bool, val: tuple[torch.Tensor, torch.Tensor], args: argparse.Namespace) -> float:
    """Train a TSM (``shift=True``) or TSN on fresh synthetic videos each epoch; return validation accuracy."""
    seed_everything(args.seed)
    model = small_tsm(args.frames, shift=shift)
    steps_per_epoch = args.train_size // args.batch_size
    optimizer = create_optimizer(model, lr=args.lr, weight_decay=1e-4)
    scheduler = create_scheduler(
        optimizer, epochs=args.epochs, steps_per_epoch=steps_per_epoch, schedule="cosine", warmup_epochs=1
    )
    name = "TSM" if shift else "TSN"
    for epoch in range(args.epochs):
        # new videos every epoch (same for TSM and TSN): nothing to memorise, only the rule to learn
        g = torch.Generator().manual_seed(args.seed * 1000 + epoch + 1)
        x, y = make_motion_dataset(args.train_size, args.frames, args.size, generator=g)
        loader = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, shuffle=True, drop_last=True, generator=g)
        stats = train_one_epoch(model, loader, optimizer, scheduler=scheduler, epoch=epoch, progress=False)
        _logger.info("%s epoch %d: loss %.3f, train acc %.3f", name, epoch, stats["loss"], stats["top1"])
    val_loader = DataLoader(TensorDataset(*val), batch_size=64)
    return evaluate(model, val_loader, topk=(1,), progress=False).metrics["top1"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-size", type=int, default=512, help="training videos per epoch (new ones each epoch)")
    parser.add_argument("--val-size", type=int, default=256, help="validation videos")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--frames", type=int, default=8, help="frames per video (= num_segments)")
    parser.add_argument("--size", type=int, default=32, help="frame height and width")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.05, help="base lr (classifier: x5 weight, x10 bias)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (tiny tensors: 1 is fastest on a busy machine)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (seconds; accuracy not meaningful)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each epoch to stderr")
    parser.add_argument("--write-dataset", type=Path, metavar="DIR", help="write the videos as MP4 folders and exit")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_size, args.val_size, args.epochs = 64, 32, 1
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    if args.write_dataset is not None:
        counts = write_dataset(args.write_dataset, args)
        sys.stdout.write(json.dumps({"dataset": str(args.write_dataset), **counts}) + "\n")
        return 0
    start = time.perf_counter()
    val = make_motion_dataset(args.val_size, args.frames, args.size, generator=torch.Generator().manual_seed(args.seed))
    tsm_acc = train_and_evaluate(True, val, args)
    tsn_acc = train_and_evaluate(False, val, args)
    _logger.info("done in %.1f s", time.perf_counter() - start)
    sys.stdout.write(json.dumps({"tsm_acc": round(tsm_acc, 4), "tsn_acc": round(tsn_acc, 4)}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
