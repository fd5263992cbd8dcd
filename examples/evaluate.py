"""Evaluate a zoo checkpoint on a Kinetics-400 / Something-Something validation list with its own protocol.

The list is MMAction2's: ``path label`` per video (e.g. ``kinetics400_val_list_videos.txt``) or
``dir total_frames label`` per raw-frame folder (e.g. ``sthv2_val_list_rawframes.txt``). Each video is sampled,
resized, cropped and normalised as the checkpoint's test protocol says (frames, clips, crops, view averaging),
and the measured top-1 / top-5 / mean class accuracy are printed beside the figures published in the zoo::

    python examples/evaluate.py tsm_r50_1x1x8_kinetics400 --list data/kinetics400/kinetics400_val_list_videos.txt \\
        --data-prefix data/kinetics400/videos_val --workers 8 --out work/eval_k400
    torchrun --nproc_per_node 8 examples/evaluate.py tsm_r101_1x1x8_sthv2 --list data/sthv2/val_list.txt ...

Options that change the protocol (``--short-side``, ``--crop-size``, ``--limit``) are for smoke tests; the
measured figures are then not comparable with the published ones (the printout says so). The last stdout
line is a JSON summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import tsm_models
from tsm_models.data import VideoDataset, create_loader, read_annotation_file
from tsm_models.train import evaluate, prepare_model
from tsm_models.train.distributed import destroy_distributed, init_distributed

_logger = logging.getLogger("evaluate")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="zoo name or MMAction2 config name, e.g. tsm_r50_1x1x8_kinetics400")
    p.add_argument("--list", required=True, type=Path, help="MMAction2 validation list")
    p.add_argument("--data-prefix", type=Path, default=None, help="folder the list's paths start from")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", default=None, metavar="PATH", help="checkpoint file (default: the zoo's)")
    weights.add_argument("--no-pretrained", action="store_true", help="random weights (pipeline smoke test)")
    p.add_argument("--average", choices=("score", "prob"), default=None, help="view averaging (default: protocol)")
    p.add_argument("--batch-size", type=int, default=4, help="videos per step and process")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--amp", choices=("bf16", "fp16"), default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--limit", type=int, default=None, help="only the first N videos")
    p.add_argument("--short-side", type=int, default=None, help="override the protocol's resize (smoke tests)")
    p.add_argument("--crop-size", type=int, default=None, help="override the protocol's crop (smoke tests)")
    p.add_argument("--out", type=Path, default=None, help="write metrics, per-class accuracy, confusion matrix here")
    p.add_argument("--no-progress", action="store_true")
    return p


def _class_names(entry: tsm_models.ZooEntry) -> list[str]:
    names = tsm_models.load_labels(entry.dataset)
    # June-2020 sthv2 checkpoints have 339 outputs for 174 classes: name the untrained rows
    return names + [f"unused_{i}" for i in range(len(names), entry.num_classes)]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    info = init_distributed(args.device)
    logging.basicConfig(level=logging.INFO if info.is_main else logging.WARNING, format="%(levelname)s %(message)s")
    entry = tsm_models.get_zoo_entry(args.model)
    protocol = entry.protocol
    changes = {k: v for k, v in (("resize_short", args.short_side), ("crop_size", args.crop_size)) if v}
    protocol = dataclasses.replace(protocol, **changes)
    records = read_annotation_file(args.list, args.data_prefix, num_classes=entry.num_classes)
    if args.limit:
        records = records[: args.limit]
    dataset = VideoDataset(records, protocol)
    loader = create_loader(dataset, args.batch_size, train=False, num_workers=args.workers)

    pretrained: bool | str = False if args.no_pretrained else (args.pretrained or True)
    model = prepare_model(tsm_models.create_model(args.model, pretrained=pretrained), info.device)
    average = args.average or protocol.average_clips
    views = protocol.num_clips * protocol.num_crops
    _logger.info(
        "%s: %d videos, %d frames x %d view(s), %s averaging, %d px crops",
        entry.name,
        len(dataset),
        protocol.num_frames,
        views,
        average,
        protocol.crop_size,
    )
    result = evaluate(
        model, loader, device=info.device, amp=args.amp, average=average, topk=(1, 5), progress=not args.no_progress
    )
    if info.is_main:
        m = result.metrics
        seed = entry.metrics
        exact = not (changes or args.limit or args.no_pretrained or args.average)
        how = "zoo protocol" if exact else "MODIFIED protocol or weights: not comparable"
        lines = [
            f"{entry.name} on {len(dataset)} videos ({how})",
            f"{'metric':<22}{'measured':>10}{'zoo (MMAction2)':>18}{'original TSM':>15}",
            f"{'top-1 accuracy':<22}{100 * m['top1']:>10.2f}{seed.top1 if seed else float('nan'):>18.2f}"
            f"{seed.reference_top1 if seed else float('nan'):>15.2f}",
            f"{'top-5 accuracy':<22}{100 * m['top5']:>10.2f}{seed.top5 if seed else float('nan'):>18.2f}"
            f"{seed.reference_top5 if seed else float('nan'):>15.2f}",
            f"{'mean class accuracy':<22}{100 * m['mean_class_accuracy']:>10.2f}{'-':>18}{'-':>15}",
        ]
        sys.stdout.write("\n".join(lines) + "\n")
        if args.out is not None:
            result.save(args.out, class_names=_class_names(entry))
        summary = {
            "model": entry.name,
            "num_videos": len(dataset),
            "top1": round(100 * m["top1"], 2),
            "top5": round(100 * m["top5"], 2),
            "mean_class_accuracy": round(100 * m["mean_class_accuracy"], 2),
            "zoo_top1": seed.top1 if seed else None,
            "zoo_top5": seed.top5 if seed else None,
            "comparable": exact,
        }
        sys.stdout.write(json.dumps(summary) + "\n")
    destroy_distributed()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, FileNotFoundError) as exc:
        logging.basicConfig(format="%(levelname)s %(message)s")
        _logger.error("%s", exc)
        sys.exit(2)
