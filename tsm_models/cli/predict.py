"""``predict``: classify video files (or raw-frame folders) with a zoo model."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

import torch
from tqdm import tqdm

from ..apps._outputs import check_output
from ..apps.render import VIDEO_SUFFIXES, write_labelled_video, write_strip
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
    p.add_argument(
        "videos", nargs="+", metavar="VIDEO", help="video files, http(s) URLs or folders of frames (img_00001.jpg...)"
    )
    p.add_argument("-m", "--model", required=True, help="zoo name (or MMAction2 config name) or architecture")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", metavar="PATH", help="checkpoint file or saved directory to load")
    p.add_argument(
        "--num-classes", type=int, help="classifier size (default: the checkpoint's; another value starts a new head)"
    )
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
    p.add_argument("--workers", type=int, default=0, help="DataLoader processes decoding videos (default 0: a thread)")
    p.add_argument(
        "--out-video", metavar="FILE", help="one VIDEO: a copy with the top-k labels on every frame (.mp4, H.264)"
    )
    p.add_argument("--out-image", metavar="FILE", help="one VIDEO: a PNG strip of the sampled frames and labels")
    p.add_argument(
        "--views",
        choices=("all", "single"),
        default="all",
        help="all: the checkpoint's test protocol (clips x crops, as published); single: 1 clip, 1 center crop",
    )
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
    if args.workers < 0:
        raise ValueError(f"--workers must be >= 0, got {args.workers}")
    _check_outputs(args)
    labels = None if args.labels is None else read_labels(args.labels)
    kwargs = {} if args.num_classes is None else {"num_classes": args.num_classes}
    model = create_model(args.model, pretrained=_weights(args), **kwargs)
    classifier = VideoClassifier(model, labels=labels, device=device, batch_size=args.batch_size, views=args.views)
    failed: list[tuple[str, str]] = []
    bar = tqdm(total=len(args.videos), unit="video", disable=len(args.videos) < 2, file=sys.stderr)
    for result in classifier.predict_many(args.videos, topk=args.topk, num_workers=args.workers):
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
        _draw(classifier, result.source, result.topk, args)
    bar.close()
    if failed:
        _logger.error("%d of %d videos could not be classified:", len(failed), len(args.videos))
        for source, message in failed:
            _logger.error("  %s", message if source in message else f"{source}: {message}")
        return 1
    return 0


def _check_outputs(args: argparse.Namespace) -> None:
    """--out-video/--out-image: one input, and paths that can be written (checked before the model runs)."""
    if not (args.out_video or args.out_image):
        return
    if len(args.videos) != 1:
        raise ValueError(f"--out-video and --out-image take one VIDEO, got {len(args.videos)}")
    if args.out_video:
        check_output(args.out_video, VIDEO_SUFFIXES, "--out-video")
    if args.out_image:
        check_output(args.out_image, (".png", ".jpg", ".jpeg"), "--out-image")


def _draw(classifier: VideoClassifier, source: str, topk: list[tuple[str, float]], args: argparse.Namespace) -> None:
    try:
        if args.out_video:
            write_labelled_video(source, args.out_video, topk, title=args.model)
        if args.out_image:
            frames = classifier.load(source)[: classifier.protocol.num_frames]  # the first clip's frames
            write_strip(frames, args.out_image, topk, title=f"{args.model}: {os.path.basename(source)}")
    except OSError as exc:
        raise ValueError(str(exc)) from exc


def _write(item: Any, bar: tqdm, json_lines: bool) -> None:
    text = json.dumps(item, ensure_ascii=False) if json_lines else item
    bar.write(text, file=sys.stdout)
    sys.stdout.flush()
