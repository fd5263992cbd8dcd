"""``live``: classify a camera, stream or file frame by frame with an online TSM; a JSON line per label change."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from ..apps.live import LiveStats, highgui, run_live, show_window
from ..models import zoo
from . import _shared

_logger = logging.getLogger(__name__)


def default_live_model() -> str | None:
    """The zoo's online Jester model (``shift_direction="online"``), the demo of the original TSM repo; else None."""
    for key, entry in zoo.ZOO.items():
        args = getattr(entry, "model_args", None) or {}
        dataset = str(getattr(entry, "dataset", "") or "")
        if "jester" in f"{key} {dataset}".lower() and args.get("shift_direction") == "online":
            return key
    return None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live",
        help="classify a live camera or stream frame by frame",
        description="Run a streaming (online) TSM on a camera (0, /dev/videoN), a stream (rtsp://, http://...) or "
        "a file, printing a JSON line each time the smoothed label changes. Smoothing as the original TSM online "
        "demo: the sum of the last --smooth frame logits and a two-step hold. Live sources drop frames the model "
        "has no time for. Default model: the zoo's online Jester model.",
    )
    p.add_argument("--source", default="0", help="camera index, /dev/videoN, stream URL or video file (default 0)")
    _shared.add_model_args(p, model_required=False)
    p.add_argument("--every", type=int, default=1, help="process every N-th frame (the original demo: 2; default 1)")
    p.add_argument("--smooth", type=int, default=12, help="frame logits summed for each decision (default 12)")
    p.add_argument("--no-hold", action="store_true", help="accept a new label at once (no two-step hold)")
    rt = p.add_mutually_exclusive_group()
    rt.add_argument("--realtime", action="store_true", help="drop frames to keep up, also for files (paced)")
    rt.add_argument("--no-realtime", action="store_true", help="process every frame, also from cameras")
    p.add_argument("--max-frames", type=int, help="stop after this many source frames")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the source (default 10)")
    p.add_argument("--show", action="store_true", help="show the frames and label in a window (OpenCV with a GUI)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.show:
        highgui()  # fails now, with what to install, rather than after the model is built
    if args.model is None:
        args.model = default_live_model()
        if args.model is None:
            raise ValueError("no online Jester model in this zoo yet: pass -m NAME (an online model) and its weights")
    realtime: Any = True if args.realtime else (False if args.no_realtime else None)
    model, labels = _shared.load_model(args, shift_direction="online")
    model = model.to(_shared.resolve_device(args)).eval()
    stats = LiveStats()
    on_frame = show_window() if args.show else None
    try:
        for change in run_live(
            model,
            args.source,
            labels=labels,
            every=args.every,
            smooth=args.smooth,
            hold=not args.no_hold,
            realtime=realtime,
            max_frames=args.max_frames,
            timeout=args.timeout,
            on_frame=on_frame,
            stats=stats,
        ):
            sys.stdout.write(json.dumps(change.to_dict(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise ValueError(str(exc)) from exc
    _logger.info(
        "%d frames read, %d processed (%.1f/s), %d dropped, %d label changes",
        stats.frames_read,
        stats.processed,
        stats.fps,
        stats.dropped,
        len(stats.changes),
    )
    return 0
