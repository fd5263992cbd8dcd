"""Real-time streaming on a CPU: frames per second of an online TSM, one frame per step, in PyTorch and through
its exported streaming step (onnxruntime fp32 and int8).

Rows, all batch 1, the same frames, interleaved (round after round of each) in one process:

* ``pytorch``: :meth:`tsm_models.StreamingTSM.step` (eager, ``torch.inference_mode``);
* ``onnxruntime``: the streaming step exported by :func:`tsm_models.models.streaming_step.export_streaming_step`
  (frame + shift caches in, logits + caches out; verified against ``StreamingTSM.step`` over a stream before it
  is timed), run by :class:`~tsm_models.models.streaming_step.OnnxStream`;
* ``int8``: the same step statically quantised (calibrated on another stream), with its agreement with fp32
  (top-1 per frame, max difference relative to the largest logit) on the timed stream;
* yardstick: the plain timm network the TSM is built on, eager, one frame per call.

Goals (issue 17, 2 cores): the online MobileNetV2 at >= 30 frames/s in PyTorch and >= 60 frames/s exported::

    python benchmarks/streaming_step.py --model tsm_mobilenetv2 --size 224 --threads 2
    python benchmarks/streaming_step.py --model tsm_r18 --size 224 --threads 1 --clock cpu --json rows.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import timm
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tsm_models
from tsm_models.models.streaming_step import OnnxStream, export_streaming_step, quantize_streaming_step

try:
    from tsm_models.tools.timing import CLOCKS, machine_info  # the package layout
except ImportError:  # pragma: no cover - the older layout
    from tsm_models.timing import CLOCKS, machine_info  # type: ignore[no-redef]

YARDSTICK = {"tsm_mobilenetv2": "mobilenetv2_100", "tsm_r18": "resnet18", "tsm_r50": "resnet50"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tsm_mobilenetv2", help="an architecture taking shift_direction='online'")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--frames", type=int, default=32, help="frames per timed round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall")
    parser.add_argument("--no-int8", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    now = CLOCKS[args.clock]

    model = tsm_models.create_model(args.model, shift_direction="online", num_classes=27).eval()
    stream = tsm_models.StreamingTSM(model)
    shape = (1, 3, args.size, args.size)
    g = torch.Generator().manual_seed(0)
    frames = torch.randn(args.frames, *shape, generator=g)
    calib = torch.randn(16, *shape, generator=g)
    tmp = tempfile.TemporaryDirectory(prefix="stream_step_")
    start = time.perf_counter()
    rec = export_streaming_step(model, Path(tmp.name) / "step.onnx", shape, verify_frames=8)
    export_s = time.perf_counter() - start
    runners = {"pytorch": stream, "onnxruntime": OnnxStream(rec.path)}
    if not args.no_int8:
        q = quantize_streaming_step(rec.path, Path(tmp.name) / "step_int8.onnx", list(calib))
        runners["int8"] = OnnxStream(q)
    base = YARDSTICK.get(args.model)
    yard = timm.create_model(base, num_classes=27).eval() if base else None

    def run_stream(r) -> None:
        r.reset()
        with torch.inference_mode():
            for f in frames:
                r.step(f)

    def run_yard() -> None:
        with torch.inference_mode():
            for f in frames:
                yard(f)

    fns = {k: functools.partial(run_stream, r) for k, r in runners.items()}
    if yard is not None:
        fns[f"yardstick timm {base} (one frame)"] = run_yard
    for fn in fns.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    load_before = os.getloadavg()
    for i in range(args.rounds):
        for k, fn in list(fns.items()) if i % 2 == 0 else list(fns.items())[::-1]:
            t = now()
            fn()
            times[k].append(now() - t)
    load_after = os.getloadavg()

    agreement = {}
    if "int8" in runners:  # per-frame agreement of int8 with fp32 over the timed stream
        a, b = runners["onnxruntime"], runners["int8"]
        a.reset()
        b.reset()
        top1 = rel = 0.0
        for f in frames:
            la, lb = a.step(f).logits, b.step(f).logits
            top1 += float(la.argmax() == lb.argmax())
            rel = max(rel, float((la - lb).abs().max() / la.abs().max()))
        agreement = {"top1_agree": top1 / len(frames), "max_rel_diff": rel}

    info = machine_info()
    print(f"# streaming {args.model} online, {args.size} px, batch 1, {info['cpu']}, {torch.get_num_threads()} "
          f"thread(s), {args.clock} time, load {tuple(round(v, 2) for v in load_before)} -> "
          f"{tuple(round(v, 2) for v in load_after)}; ONNX step verified within {rec.max_rel_diff:.2g} "
          f"({len(rec.cache_shapes)} caches), export {export_s:.1f} s\n")  # fmt: skip
    print("| row | frames/s (median round) | ms / frame |\n|---|---|---|")
    rows = {}
    for k, ts in times.items():
        fps = args.frames / statistics.median(ts)
        rows[k] = {"fps": fps, "ms_per_frame": 1000 / fps, "times": ts}
        print(f"| {k} | **{fps:.1f}** | {1000 / fps:.1f} |")
    if agreement:
        print(f"\nint8 vs fp32 step over the {len(frames)} timed frames: top-1 agree {agreement['top1_agree']:.0%}, "
              f"max |diff| {agreement['max_rel_diff']:.3g} of the largest logit")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "load": [load_before, load_after], "rows": rows,
                                         "int8_agreement": agreement, "model": args.model, "size": args.size},
                                        indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
