"""``timeline``: the top classes of a long video in sliding windows (JSON/CSV, a plot, a labelled video)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from ..apps._outputs import check_output
from ..apps.render import VIDEO_SUFFIXES, write_labelled_video
from ..apps.timeline import _import_pyplot, timeline
from ..inference import VideoClassifier
from . import _shared

_logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "timeline",
        help="classify sliding windows of a long video",
        description="Classify windows of a video (file, http(s) URL or frame folder) with a model and its zoo clip "
        "sampling, decoding each frame once. Prints one JSON line per window unless --out is given.",
    )
    p.add_argument("video", metavar="VIDEO", help="video file, http(s) URL or folder of frames")
    _shared.add_model_args(p)
    p.add_argument("--window-seconds", type=float, default=2.0, metavar="S", help="window length (default 2)")
    p.add_argument("--stride-seconds", type=float, metavar="S", help="between window starts (default: window / 2)")
    p.add_argument("--topk", type=int, default=5, help="classes per window (default 5)")
    p.add_argument("--fps", type=float, help="frame rate of frame folders (default 25)")
    p.add_argument("--out", metavar="FILE", help="write the windows to timeline.json or timeline.csv")
    p.add_argument("--plot", metavar="FILE", help="draw the top classes over time (PNG/SVG/PDF; needs matplotlib)")
    p.add_argument("--out-video", metavar="FILE", help="a copy of the video with each window's labels (.mp4)")
    p.add_argument("--batch-size", type=int, default=16, help="views per forward pass (default 16)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.topk < 1:
        raise ValueError(f"--topk must be >= 1, got {args.topk}")
    # every output is checked before the model runs: a bad path fails now, not after the video was decoded
    if args.out:
        check_output(args.out, (".json", ".csv"), "--out")
    if args.plot:
        check_output(args.plot, (".png", ".svg", ".pdf"), "--plot")
        try:
            _import_pyplot()
        except ImportError as exc:
            raise ValueError(str(exc)) from exc
    if args.out_video:
        check_output(args.out_video, VIDEO_SUFFIXES, "--out-video")
    model, labels = _shared.load_model(args)
    clf = VideoClassifier(model, labels=labels, device=_shared.resolve_device(args), batch_size=args.batch_size)
    try:
        tl = timeline(
            clf,
            args.video,
            window=args.window_seconds,
            stride=args.stride_seconds,
            topk=args.topk,
            fps=args.fps or 25.0,
        )
        if args.out:
            tl.save(args.out)
        else:
            for w in tl:
                sys.stdout.write(json.dumps(w.to_dict(), ensure_ascii=False) + "\n")
        if args.plot:
            tl.plot(args.plot, title=f"{args.model}: {args.video}")
        if args.out_video:
            write_labelled_video(args.video, args.out_video, tl.labels_at, title=args.model, fps=tl.fps)
    except (OSError, TypeError) as exc:
        raise ValueError(str(exc)) from exc
    _logger.info(
        "%s: %d windows of %g s every %g s (%d frames decoded)",
        tl.source,
        len(tl),
        tl.window,
        tl.stride,
        tl.frames_decoded,
    )
    return 0
