"""Streaming vs sliding-window throughput of an online TSM: new frames classified per second.

For a live source, every new frame should update the prediction. Two ways to do that with an online TSM:

* **streaming**: :meth:`tsm_models.StreamingTSM.step` runs the backbone on the new frame only, reusing the
  cached shifted channels of the previous frame (one frame of compute per new frame);
* **window**: re-run the offline model on the last ``num_segments`` frames for every new frame
  (``num_segments`` frames of compute per new frame);
* yardstick: the plain timm ResNet the TSM wraps, on one frame (what "one frame of backbone compute" costs).

Both run in eval mode, fp32, batch 1, on the same frames, measured interleaved (round after round of each)
in one process after warm-up; the median round is reported. Goal (issue 7): streaming >= 6x the window rate.

On a CPU shared with other busy processes, pass ``--threads 1``: with more torch threads than free cores,
every operator waits at an OpenMP barrier for a descheduled thread, which slows the many small one-frame
operators far more than 8-frame batches (the plain timm ResNet yardstick slows down just as much).

    python benchmarks/streaming.py                       # tsm_r50, 224 px, 8-frame window, CPU
    python benchmarks/streaming.py --model tsm_r18 --size 112 --rounds 3 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import deque

import timm
import torch

import tsm_models
from tsm_models.tools.timing import machine_info, synchronize


def time_streaming(stream: tsm_models.StreamingTSM, frames: torch.Tensor, device: torch.device) -> float:
    """Seconds to push ``frames`` ``(N, 1, 3, H, W)`` through the stream, one step each."""
    synchronize(device)
    start = time.perf_counter()
    for frame in frames:
        stream.step(frame)
    synchronize(device)
    return time.perf_counter() - start


def time_window(
    model: tsm_models.TSM, frames: torch.Tensor, history: deque[torch.Tensor], device: torch.device
) -> float:
    """Seconds to classify each of ``frames`` by re-running ``model`` on the last ``num_segments`` frames."""
    synchronize(device)
    start = time.perf_counter()
    with torch.inference_mode():
        for frame in frames:
            history.append(frame)
            model(torch.stack(tuple(history), 1))  # (1, num_segments, 3, H, W)
    synchronize(device)
    return time.perf_counter() - start


def time_image_model(model: torch.nn.Module, frames: torch.Tensor, device: torch.device) -> float:
    """Seconds to run a 2D image model on each of ``frames`` ``(N, 1, 3, H, W)``, one at a time."""
    synchronize(device)
    start = time.perf_counter()
    with torch.inference_mode():
        for frame in frames:
            model(frame)
    synchronize(device)
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> dict[str, object]:
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = tsm_models.create_model(
        args.model, num_segments=args.window, shift_direction="online", num_classes=args.num_classes
    )
    model = model.eval().to(device)
    stream = model.stream()
    base_name = model.base_model.split(".")[0]  # the plain timm network the TSM wraps
    image_model = None
    if base_name:
        image_model = timm.create_model(base_name, num_classes=args.num_classes).eval().to(device)
    frames = torch.randn(args.frames_per_round, 1, 3, args.size, args.size, device=device)
    history: deque[torch.Tensor] = deque(
        (torch.randn(1, 3, args.size, args.size, device=device) for _ in range(args.window)), maxlen=args.window
    )

    # warm-up: allocator, oneDNN/cuDNN kernel selection
    time_streaming(stream, frames[: args.window], device)
    time_window(model, frames[:2], history, device)
    if image_model is not None:
        time_image_model(image_model, frames[:2], device)

    stream_fps: list[float] = []
    window_fps: list[float] = []
    image_fps: list[float] = []
    for r in range(args.rounds):
        stream_fps.append(len(frames) / time_streaming(stream, frames, device))
        window_fps.append(len(frames) / time_window(model, frames, history, device))
        if image_model is not None:
            image_fps.append(len(frames) / time_image_model(image_model, frames, device))
        print(
            f"round {r + 1}/{args.rounds}: streaming {stream_fps[-1]:.2f} frames/s, "
            f"window {window_fps[-1]:.2f} frames/s",
            file=sys.stderr if args.json else sys.stdout,
            flush=True,
        )
    s, w = statistics.median(stream_fps), statistics.median(window_fps)
    ratios = [a / b for a, b in zip(stream_fps, window_fps, strict=True)]
    return {
        "model": args.model,
        "size": args.size,
        "window": args.window,
        "device": str(device),
        "batch": 1,
        "dtype": "fp32",
        "rounds": args.rounds,
        "frames_per_round": args.frames_per_round,
        "streaming_frames_per_s": round(s, 3),
        "window_frames_per_s": round(w, 3),
        "yardstick": f"timm {base_name}, 1 frame" if image_fps else None,
        "yardstick_frames_per_s": round(statistics.median(image_fps), 3) if image_fps else None,
        "speedup": round(statistics.median(ratios), 2),  # median of the paired (same round) ratios
        "ratio_per_round": [round(x, 2) for x in ratios],
        "goal_speedup": 6.0,
        "machine": machine_info(str(device)),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tsm_r50", help="architecture (built with shift_direction='online')")
    parser.add_argument("--size", type=int, default=224, help="frame size (square)")
    parser.add_argument("--window", type=int, default=8, help="num_segments: frames per window / running mean")
    parser.add_argument("--num-classes", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved measurement rounds (median reported)")
    parser.add_argument("--frames-per-round", type=int, default=8, help="new frames per round and method")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    args = parser.parse_args(argv)
    for name in ("size", "window", "rounds", "frames_per_round"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result))
        return 0
    m, r = result["machine"], result
    print(f"{r['model']} {r['size']}x{r['size']}, window {r['window']}, {r['device']}, fp32, batch 1")
    print(f"  machine: {m['cpu']}, {m['cpu_count']} logical CPUs, torch {m['torch']} ({m['torch_threads']} threads)")
    rows = [
        ("streaming (1 frame per step)", r["streaming_frames_per_s"]),
        (f"window (re-run {r['window']} frames per frame)", r["window_frames_per_s"]),
    ]
    if r["yardstick"] is not None:
        rows.append((f"yardstick: {r['yardstick']}", r["yardstick_frames_per_s"]))
    for label, fps in rows:
        print(f"  {label:40s}{fps:9.2f} frames/s")
    print(f"  speedup {r['speedup']:.2f}x (goal >= {r['goal_speedup']:.0f}x), per round {r['ratio_per_round']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
