"""``cam``: Grad-CAM heatmaps over the frames a model samples from a video (MP4, GIF or PNG)."""

from __future__ import annotations

import argparse
import logging

from ..apps._outputs import check_output
from ..apps.cam import cam_video
from ..apps.render import draw_labels, encode_video, write_gif, write_strip
from ..inference import VideoClassifier
from . import _shared

_logger = logging.getLogger(__name__)

SUFFIXES = (".mp4", ".mov", ".mkv", ".gif", ".png", ".jpg")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cam",
        help="Grad-CAM heatmaps of a video",
        description="Where the evidence for a class lies in each sampled frame (Grad-CAM on the last stage by "
        "default), drawn over the frames the model sees: an MP4/GIF (one sampled frame per step) or a PNG strip.",
    )
    p.add_argument("video", metavar="VIDEO", help="video file, http(s) URL or folder of frames")
    _shared.add_model_args(p)
    p.add_argument("--target", metavar="LABEL", help="class name or index (default: the predicted class)")
    p.add_argument("--layer", metavar="NAME", help="submodule whose output is mapped (default: the last stage)")
    p.add_argument("--out", required=True, metavar="FILE", help="cam.mp4, cam.gif or cam.png")
    p.add_argument("--fps", type=float, default=2.0, help="sampled frames per second in an MP4/GIF (default 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = check_output(args.out, SUFFIXES, "--out")
    if args.fps <= 0:
        raise ValueError(f"--fps must be positive, got {args.fps}")
    model, labels = _shared.load_model(args)
    clf = VideoClassifier(model, labels=labels, device=_shared.resolve_device(args))
    target = args.target
    if target is not None and target.isdigit() and target not in clf.labels:
        target = int(target)
    if args.layer is not None:
        try:
            clf.model.get_submodule(args.layer)
        except AttributeError as exc:
            raise ValueError(f"--layer {args.layer!r} is not a submodule of {args.model}") from exc
    try:
        result = cam_video(clf, args.video, target=target, layer=args.layer)
        frames = result.overlays()
        title = f"{result.label} ({result.probability:.2f})"
        suffix = out.suffix.lower()
        if suffix == ".gif":
            write_gif(frames, out, fps=args.fps)
        elif suffix in (".png", ".jpg"):
            write_strip(frames, out, [(result.label, result.probability)], title=f"Grad-CAM: {args.model}")
        else:
            encode_video((draw_labels(f, [], title) for f in frames), out, fps=args.fps)
    except OSError as exc:
        raise ValueError(str(exc)) from exc
    _logger.info("%s: Grad-CAM of %r over %d frames", out, result.label, len(frames))
    return 0
