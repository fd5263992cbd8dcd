"""``predict``: classify video files (or raw-frame folders) with a zoo model."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

import torch
from tqdm import tqdm

from ..inference import VideoClassifier
from ..labels import read_labels
from ..models import create_model
from ..models.zoo import find_entry

_logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="classify videos with a zoo model",
        description="Classify video files or raw-frame folders with a model and its zoo test protocol. "
        "Unreadable inputs are reported at the end (exit status 1); the others are still classified.",
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders of frames (img_00001.jpg...)")
    p.add_argument("-m", "--model", required=True, help="zoo name (or MMAction2 config name) or architecture")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", metavar="PATH", help="checkpoint file or saved directory to load")
    weights.add_argument(
        "--no-pretrained", action="store_true", help="random weights (checks the pipeline; predictions are noise)"
    )
    p.add_argument(
        "--labels",
        metavar="NAME|FILE",
        help="class names: kinetics400, sthv1, sthv2 or a text file with one name per line "
        "(default: the zoo entry's list; class indices for architectures)",
    )
    p.add_argument("--topk", type=int, default=5, help="classes per video (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON object per video (JSON Lines) on stdout")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available, else cpu")
    p.add_argument("--batch-size", type=int, default=16, help="views per forward pass (default 16)")
    p.set_defaults(func=run)


def _weights(args: argparse.Namespace) -> Any:
    if args.no_pretrained:
        return False
    if args.pretrained:
        return args.pretrained
    if find_entry(args.model) is None:
        raise ValueError(f"{args.model!r} is an architecture without zoo weights: pass --pretrained PATH")
    return True


def run(args: argparse.Namespace) -> int:
    if args.topk < 1:
        raise ValueError(f"--topk must be >= 1, got {args.topk}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    labels = None if args.labels is None else read_labels(args.labels)
    model = create_model(args.model, pretrained=_weights(args))
    classifier = VideoClassifier(model, labels=labels, device=device, batch_size=args.batch_size)
    failed: list[tuple[str, str]] = []
    bar = tqdm(total=len(args.videos), unit="video", disable=len(args.videos) < 2, file=sys.stderr)
    for result in classifier.predict_many(args.videos, topk=args.topk):
        bar.update()
        if not result.ok:
            failed.append((result.source, str(result.error)))
            if args.json:
                _write({"video": result.source, "error": str(result.error)}, bar, json_lines=True)
            continue
        if args.json:
            top = [{"label": label, "probability": round(prob, 6)} for label, prob in result.topk]
            _write({"video": result.source, "predictions": top}, bar, json_lines=True)
        else:
            lines = [result.source] + [f"  {prob:8.4f}  {label}" for label, prob in result.topk]
            _write("\n".join(lines), bar, json_lines=False)
    bar.close()
    if failed:
        _logger.error("%d of %d videos could not be classified:", len(failed), len(args.videos))
        for source, message in failed:
            _logger.error("  %s", message if source in message else f"{source}: {message}")
        return 1
    return 0


def _write(item: Any, bar: tqdm, json_lines: bool) -> None:
    text = json.dumps(item, ensure_ascii=False) if json_lines else item
    bar.write(text, file=sys.stdout)
    sys.stdout.flush()
