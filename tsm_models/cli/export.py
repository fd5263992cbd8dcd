"""``export``: ONNX file of a TSM, verified with onnxruntime in the same command."""

from __future__ import annotations

import argparse
import sys

from ..models import ZOO, create_model
from ..models.zoo import resolve_alias
from ..tools.export import export_onnx, onnx_throughput


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export to ONNX, verified against PyTorch with onnxruntime (needs the 'export' extra)",
        description=(
            "Export a TSM to ONNX (input 'video' (B, T, 3, S, S), output 'logits' (B, K)), check it with "
            "onnxruntime against PyTorch (max|diff| <= 1e-4 of the largest logit) and print onnxruntime's CPU "
            "throughput. The file only appears once it passed."
        ),
    )
    p.add_argument("name", help="architecture (tsm_r50) or zoo checkpoint (tsm_r50_1x1x8_kinetics400)")
    p.add_argument("--onnx", required=True, metavar="OUT.onnx", help="output file")
    p.add_argument("--pretrained", metavar="PATH", help="weights to load (checkpoint file or saved folder)")
    p.add_argument("--batch", default="dynamic", help="'dynamic' (default) or a fixed batch size")
    p.add_argument("--frames", type=int, help="frames T per video (default: the checkpoint's test clip / 8)")
    p.add_argument("--img-size", type=int, help="crop size S (default: the checkpoint's / 224)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--threads", type=int, help="onnxruntime intra-op threads for the throughput (default: its own)")
    p.add_argument("--iters", type=int, default=10, help="timed onnxruntime runs for the throughput (default 10)")
    p.set_defaults(func=run)


def _parse_batch(value: str) -> tuple[int, bool]:
    if value == "dynamic":
        return 1, True
    try:
        batch = int(value)
    except ValueError:
        batch = 0
    if batch < 1:
        raise ValueError(f"--batch must be 'dynamic' or a positive int, got {value!r}")
    return batch, False


def run(args: argparse.Namespace) -> int:
    batch, dynamic = _parse_batch(args.batch)
    entry = ZOO.get(resolve_alias(args.name))
    # the checkpoint's test clip (all temporal views in one input), else 8 frames at 224 px
    frames = (
        args.frames
        if args.frames is not None
        else (entry.protocol.num_frames * entry.protocol.num_clips if entry else 8)
    )
    img_size = args.img_size if args.img_size is not None else (entry.protocol.crop_size if entry else 224)
    for flag, value in (("--frames", frames), ("--img-size", img_size)):
        if value < 1:
            raise ValueError(f"{flag} must be a positive int, got {value}")
    shape = (batch, frames, 3, img_size, img_size)
    model = create_model(args.name, pretrained=args.pretrained or False)
    result = export_onnx(model, args.onnx, shape, dynamic_batch=dynamic, opset=args.opset)
    run_shape = (1 if dynamic else batch, *shape[1:])
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    vps = onnx_throughput(result.path, run_shape, iters=args.iters, threads=args.threads)
    lines = [
        f"wrote      {result.path}",
        f"input      video {'(batch' if dynamic else f'({batch}'}, {frames}, 3, {img_size}, {img_size}) "
        f"-> logits, opset {args.opset}",
        f"verified   onnxruntime vs PyTorch at batch {', '.join(map(str, result.verified_batches))}: "
        f"max|diff| {result.max_abs_diff:.3g} ({result.max_rel_diff:.3g} of the largest logit; limit 1e-4)",
        f"onnxruntime CPU  {vps:.2f} video/s at batch {run_shape[0]} (median wall time of {args.iters}, "
        f"{args.threads or 'default'} threads)",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
