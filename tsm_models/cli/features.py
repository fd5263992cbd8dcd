"""``features``: clip features of a dataset to disk (one .safetensors per video + index.jsonl), resumable."""

from __future__ import annotations

import argparse
import logging

from ..apps.features import extract_features
from ..inference import VideoClassifier
from . import _shared

_logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "features",
        help="extract features of many videos to disk",
        description="Write the features of every video of a folder or list file to --out: one .safetensors per "
        "video and an index.jsonl. Rerunning into the same folder skips the videos already done. Unreadable "
        "videos are listed at the end and in failed.jsonl (exit status 1); the others are still extracted.",
    )
    p.add_argument(
        "videos", metavar="LIST_OR_FOLDER", help="a folder of videos (recursive) or a text file, one per line"
    )
    _shared.add_model_args(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--pool",
        choices=("avg", "frame", "none"),
        default="avg",
        help="avg: one (C,) vector per video; frame: (T, C); none: feature maps (T, C, h, w) (default avg)",
    )
    p.add_argument(
        "--views",
        choices=("single", "protocol"),
        default="single",
        help="single: one center clip; protocol: the zoo entry's test views (default single)",
    )
    p.add_argument("--workers", type=int, default=2, help="DataLoader processes decoding videos (default 2)")
    p.add_argument("--batch-size", type=int, default=16, help="views per forward pass (default 16)")
    p.add_argument("--root", metavar="DIR", help="base of relative paths in a list file (default: its folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {args.workers}")
    model, labels = _shared.load_model(args)
    clf = VideoClassifier(model, labels=labels, device=_shared.resolve_device(args), batch_size=args.batch_size)
    try:
        report = extract_features(
            clf,
            args.videos,
            args.out,
            pool=args.pool,
            views=args.views,
            workers=args.workers,
            root=args.root,
            model_name=args.model,
        )
    except OSError as exc:
        raise ValueError(str(exc)) from exc
    _logger.info(
        "%s: %d written, %d already done, %d failed",
        args.out,
        len(report.written),
        len(report.skipped),
        len(report.failed),
    )
    if report.failed:
        _logger.error("%d videos could not be read (listed in %s/failed.jsonl):", len(report.failed), args.out)
        for video, message in report.failed:
            _logger.error("  %s", message if video in message else f"{video}: {message}")
        return 1
    return 0
