"""``benchmark``: videos per second and peak memory of a TSM, beside the plain timm ResNet on the same frames."""

from __future__ import annotations

import argparse
import json
import sys

import torch

from ..tools.benchmark import (
    COMPILE_MODES,
    DTYPES,
    BenchmarkResult,
    TrainStepResult,
    benchmark,
    benchmark_train_step,
    resolve_setup,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark",
        help="videos/s and peak memory (default: batch 1, the checkpoint's test frames, model time only)",
        description=(
            "Time a TSM the way the MMAction2 model zoo reports inference speed: batch 1, the checkpoint's test "
            "frames (num_frames x clips x crops), model time only, warm-up excluded. The plain timm ResNet it is "
            "built on runs on the same frames, interleaved with it, as the yardstick."
        ),
    )
    p.add_argument("name", help="architecture (tsm_r50) or zoo checkpoint (tsm_r50_1x1x8_kinetics400)")
    p.add_argument("--batch", type=int, default=1, help="videos per forward pass (default 1)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="fp32", help="fp32, or bf16/fp16 autocast")
    p.add_argument("--channels-last", action="store_true", help="model and input in torch.channels_last")
    p.add_argument("--compile", action="store_true", help="torch.compile both models (compiled in the warm-up)")
    p.add_argument(
        "--compile-mode",
        choices=COMPILE_MODES,
        help="torch.compile mode (implies --compile); reduce-overhead uses CUDA graphs, for small GPU batches",
    )
    p.add_argument("--with-io", metavar="VIDEO", help="also time decoding + sampling + preprocessing of this video")
    p.add_argument("--train-step", action="store_true", help="time one training step instead (peak memory)")
    p.add_argument(
        "--grad-checkpointing", action="store_true", help="train step: re-run stages in backward to save memory"
    )
    p.add_argument("--frames", type=int, help="frames per clip (default: the checkpoint's / 8)")
    p.add_argument("--img-size", type=int, help="crop size (default: the checkpoint's / 224)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; 1 is steadiest on a busy machine)")
    p.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="wall time, or process CPU time (busy CPU machines)"
    )
    p.add_argument("--iters", type=int, default=10, help="timed passes per model (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed passes per model first (default 2)")
    p.add_argument("--no-yardstick", action="store_true", help="skip the plain timm ResNet")
    p.add_argument("--json", action="store_true", help="print the raw result as JSON")
    p.set_defaults(func=run)


def _mb(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:.0f} MB"


def run(args: argparse.Namespace) -> int:
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.grad_checkpointing and not args.train_step:
        raise ValueError("--grad-checkpointing only applies to --train-step")
    setup = resolve_setup(
        args.name,
        batch=args.batch,
        device=args.device,
        dtype=args.dtype,
        channels_last=args.channels_last,
        compile=args.compile or args.compile_mode is not None,
        compile_mode=args.compile_mode,
        grad_checkpointing=args.grad_checkpointing,
        num_frames=args.frames,
        img_size=args.img_size,
    )
    if args.train_step:
        if args.with_io:
            raise ValueError("--train-step and --with-io can't be combined")
        result = benchmark_train_step(setup, iters=args.iters, warmup=args.warmup)
        _print_train(result, args.json)
        return 0
    result = benchmark(
        setup,
        iters=args.iters,
        warmup=args.warmup,
        yardstick=not args.no_yardstick,
        with_io=args.with_io,
        clock=args.clock,
    )
    _print(result, args.json)
    return 0


def _header(setup, machine: dict) -> list[str]:
    lines = [
        f"model      {setup.name} (yardstick: timm {setup.base_model})",
        f"input      batch {setup.batch} x {setup.frames_per_video} frames "
        f"({setup.num_frames} x {setup.num_clips} clips x {setup.num_crops} crops) at {setup.img_size}px, "
        f"{setup.flags}",
        f"device     {setup.device}: {machine.get('gpu', machine.get('cpu'))}",
        f"machine    {machine.get('cpu')}, {machine.get('cpu_count')} cores, {machine.get('torch_threads')} torch "
        f"threads, torch {machine.get('torch')}, load {machine.get('load_average', 'n/a')}",
    ]
    return lines


def _print(result: BenchmarkResult, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
        return
    lines = _header(result.setup, result.machine)
    n = len(next(iter(result.times.values())))
    clock = "process CPU time" if result.clock == "cpu" else "wall time"
    lines.append(f"timing     median {clock} of {n} interleaved passes, warm-up excluded")
    for label in result.times:
        lines.append(
            f"{label:<10} {result.videos_per_second(label):9.2f} video/s  {result.median(label) * 1e3:9.1f} ms/pass  "
            f"peak {_mb(result.peak_memory.get(label))}"
        )
    if "yardstick" in result.times:
        lines.append(f"ratio      tsm runs at {result.ratio('tsm'):.3f}x the yardstick's throughput")
    sys.stdout.write("\n".join(lines) + "\n")


def _print_train(result: TrainStepResult, as_json: bool) -> None:
    if as_json:
        payload = {"setup": vars(result.setup), "times": result.times, "peak_memory": result.peak_memory}
        sys.stdout.write(json.dumps({**payload, "machine": result.machine}, indent=2, default=str) + "\n")
        return
    lines = _header(result.setup, result.machine)
    lines[1] = (
        f"input      train step: batch {result.setup.batch} x {result.setup.num_frames} frames at "
        f"{result.setup.img_size}px, {result.setup.flags}"
    )
    lines.append(
        f"train      {result.median * 1e3:.1f} ms/step (median of {len(result.times)})  peak {_mb(result.peak_memory)}"
    )
    sys.stdout.write("\n".join(lines) + "\n")
