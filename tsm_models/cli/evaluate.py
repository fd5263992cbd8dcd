"""``evaluate``: accuracy of a model on an annotation list or a folder-per-class tree, with its test protocol.

Prints top-1 / top-5 / mean class accuracy (multi-label models: mAP and subset accuracy) beside the figures
the zoo entry published, and writes ``metrics.json``, the per-class CSV and the confusion matrix (CSV + PNG)
to ``--out``. Runs under ``torchrun --nproc_per_node N`` too (each process scores a shard; rank 0 reports).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from ..train.evaluation import EvalConfig, run_evaluation

__all__ = ["register", "run"]


_logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="measure a model's accuracy on a list or folder",
        description="Evaluate a model with its test protocol on an MMAction2 list ('path label', "
        "'dir total_frames label', multi-label 'path label label ...') or a folder-per-class tree. The last stdout "
        "line is a JSON summary.",
    )
    p.add_argument("data", type=Path, metavar="LIST_OR_FOLDER")
    p.add_argument("-m", "--model", required=True, help="zoo name or architecture (with --pretrained)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--pretrained", metavar="PATH", help="checkpoint file or saved folder (default: the zoo weights)")
    w.add_argument("--no-pretrained", action="store_true", help="random weights (pipeline smoke test)")
    p.add_argument("--views", choices=("protocol", "single"), default="protocol",
                   help="the protocol's clips x crops (default) or one center clip")  # fmt: skip
    p.add_argument("--average", choices=("score", "prob"), help="view averaging (default: the protocol's)")
    p.add_argument("--data-prefix", type=Path, help="folder the list's paths start from (default: the list's)")
    p.add_argument("--labels", metavar="NAME|FILE", help="class names (default: the model's)")
    p.add_argument("--batch-size", type=int, default=4, help="videos per step and process (default 4)")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--amp", choices=("bf16", "fp16"))
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    p.add_argument("--limit", type=int, help="only the first N videos (smoke tests; not comparable)")
    p.add_argument("--short-side", type=int, help="override the protocol's resize (not comparable)")
    p.add_argument("--crop-size", type=int, help="override the protocol's crop (not comparable)")
    p.add_argument("--out", type=Path, help="write metrics.json, per-class CSV and confusion matrix here")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = EvalConfig(
        data=args.data,
        model=args.model,
        pretrained=False if args.no_pretrained else (args.pretrained or True),
        data_prefix=args.data_prefix,
        labels=args.labels,
        views=args.views,
        average=args.average,
        batch_size=args.batch_size,
        workers=args.workers,
        amp=args.amp,
        device=args.device,
        limit=args.limit,
        short_side=args.short_side,
        crop_size=args.crop_size,
        out=args.out,
        progress=not args.no_progress,
    )
    report = run_evaluation(cfg)
    for message in report.result.failed:  # each process lists the videos it could not read
        _logger.error("could not evaluate %s", message)
    failed = int(report.result.metrics.get("num_failed", 0))
    if os.environ.get("RANK", "0") != "0":
        return 1 if failed else 0
    how = "zoo protocol" if report.comparable else "not comparable with the published figures"
    if report.comparable is False and not isinstance(cfg.pretrained, bool):
        how = "weights from " + str(cfg.pretrained)
    sys.stdout.write(report.table(f"{args.model} on {report.num_videos} videos ({how})") + "\n")
    m = report.result.metrics
    summary = {"model": args.model, "num_videos": report.num_videos}
    summary.update({k: round(100 * v, 2) for k, v in m.items() if isinstance(v, float) and k != "time"})
    summary.update({f"published_{k}": v for k, v in report.published.items() if v is not None})
    summary["comparable"] = report.comparable
    sys.stdout.write(json.dumps(summary) + "\n")
    if failed:
        _logger.error("%d of %d videos could not be read (left out of the metrics above)", failed, report.num_videos)
        return 1
    return 0
