"""The GPU targets of issue 6 in one run: batch-1 latency, best throughput and training-step memory of tsm_r50.

Targets (batch 1 and the training step follow the seed's protocol for ``tsm_r50_1x1x8_kinetics400``):

* batch 1 x 8 frames at 224 px, model time only: >= 740 video/s (10x the seed's 74.0);
* best throughput over batch sizes: >= 2000 video/s;
* one training step (forward, backward, SGD update) on 8 videos x 8 frames: < 3.5 GB of
  ``torch.cuda.max_memory_allocated`` (the seed's training log: 7079 MB, fp32).

Each row is one :func:`tsm_models.tools.benchmark.benchmark` / :func:`~tsm_models.tools.benchmark.benchmark_train_step`
configuration (dtype, channels_last, ``torch.compile`` mode, gradient checkpointing) on random weights and
random frames; a row that fails (a compile error, out of memory) is reported as failed and the run goes on.
The output is a markdown table for BENCHMARKS.md, headed by the device name::

    python benchmarks/gpu_targets.py                        # everything, on cuda
    python benchmarks/gpu_targets.py --part latency         # one part (each fits a 10-minute slot)
    python benchmarks/gpu_targets.py --json results.jsonl   # also every row as a JSON line

``--device cpu --model tsm_r18 --img-size 32`` runs the same matrix on a small CPU model (what the tests do).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import torch

from tsm_models.tools.benchmark import BenchmarkSetup, benchmark, benchmark_train_step, resolve_setup
from tsm_models.tools.timing import machine_info

logger = logging.getLogger("gpu_targets")

PARTS = ("latency", "throughput", "train")
TARGETS = {
    "latency": ("video/s", ">=", 740.0),
    "throughput": ("video/s", ">=", 2000.0),
    "train": ("MB", "<", 3.5 * 1000),  # 3.5 GB, decimal as in "7079 MB"
}


# Each row: the BenchmarkSetup fields that differ from fp32 eager (resolve_setup overrides).
FP16_CL = {"dtype": "fp16", "channels_last": True}
BF16_CL = {"dtype": "bf16", "channels_last": True}
LATENCY: tuple[dict[str, Any], ...] = (
    {},
    FP16_CL,
    BF16_CL,
    {**FP16_CL, "compile": True},
    {**FP16_CL, "compile": True, "compile_mode": "reduce-overhead"},
)
THROUGHPUT: tuple[dict[str, Any], ...] = (FP16_CL, {**FP16_CL, "compile": True}, {**BF16_CL, "compile": True})
TRAIN: tuple[dict[str, Any], ...] = ({}, BF16_CL, FP16_CL, {**BF16_CL, "grad_checkpointing": True})


def _rows(args: argparse.Namespace, part: str) -> Iterator[tuple[dict[str, Any], int]]:
    if part == "latency":
        yield from ((c, 1) for c in LATENCY)
    elif part == "throughput":
        yield from ((c, b) for c in THROUGHPUT for b in args.batches)
    else:
        yield from ((c, args.train_batch) for c in TRAIN)


def _measure(part: str, setup: BenchmarkSetup, args: argparse.Namespace) -> dict[str, Any]:
    batch = setup.batch
    row: dict[str, Any] = {}
    if part == "train":
        result = benchmark_train_step(setup, iters=args.iters, warmup=args.warmup)
        row.update(ms=result.median * 1e3, videos_per_s=batch / result.median, peak_mb=_mb(result.peak_memory))
        row["value"] = row["peak_mb"]
    else:
        result = benchmark(setup, iters=args.iters, warmup=args.warmup, yardstick=part == "latency")
        row.update(ms=result.median("tsm") * 1e3, videos_per_s=result.videos_per_second("tsm"))
        row.update(peak_mb=_mb(result.peak_memory.get("tsm")))
        if "yardstick" in result.times:
            row["yardstick_videos_per_s"] = result.videos_per_second("yardstick")
        row["value"] = row["videos_per_s"]
    return row


def _mb(n: int | None) -> float | None:
    return None if n is None else n / 1e6


def _passes(part: str, value: float | None) -> bool:
    _, op, target = TARGETS[part]
    return value is not None and (value >= target if op == ">=" else value < target)


def run(args: argparse.Namespace, emit: Callable[[dict[str, Any]], None] = lambda row: None) -> list[dict[str, Any]]:
    """Measure every row of the selected parts; failures are rows with an ``error``."""
    rows = []
    for part in args.part:
        for overrides, batch in _rows(args, part):
            if overrides.get("compile") and args.no_compile:
                continue
            setup = resolve_setup(args.model, batch=batch, device=args.device, img_size=args.img_size, **overrides)
            row: dict[str, Any] = {"part": part, "config": setup.flags, "batch": batch}
            start = time.perf_counter()
            try:
                row.update(_measure(part, setup, args))
            except Exception as exc:  # one failing configuration must not lose the others
                logger.debug("%s", traceback.format_exc())
                row["error"] = f"{type(exc).__name__}: {exc}"
            row["seconds"] = time.perf_counter() - start
            logger.info("%s", row)
            rows.append(row)
            emit(row)
            if torch.device(args.device).type == "cuda":
                torch.cuda.empty_cache()
    return rows


def markdown(rows: list[dict[str, Any]], machine: dict[str, Any], args: argparse.Namespace) -> str:
    """The rows as markdown tables, one per part, with the target, the best value and whether it is met."""
    device = machine.get("gpu") or machine.get("cpu")
    lines = [
        f"`benchmarks/gpu_targets.py` on **{device}** ({args.device}), torch {machine.get('torch')}, "
        f"CUDA {machine.get('cuda', 'n/a')}, model {args.model} at {args.img_size} px, random weights; "
        f"median of {args.iters} timed passes after {args.warmup} warm-up passes.",
    ]
    if torch.device(args.device).type != "cuda":
        lines.append("On the CPU, peak MB is the growth of the resident set (weights excluded), not comparable.")
    for part in args.part:
        part_rows = [r for r in rows if r["part"] == part]
        if not part_rows:
            continue
        unit, op, target = TARGETS[part]
        lines += ["", f"| {part} | batch | video/s | ms / pass | peak MB |", "|---|---|---|---|---|"]
        for r in part_rows:
            if "error" in r:
                lines.append(f"| {r['config']} | {r['batch']} | failed: {r['error'][:120]} | | |")
                continue
            peak = "n/a" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}"
            lines.append(f"| {r['config']} | {r['batch']} | {r['videos_per_s']:.1f} | {r['ms']:.2f} | {peak} |")
        values = [r["value"] for r in part_rows if r.get("value") is not None]
        best = (max if op == ">=" else min)(values) if values else None
        verdict = "met" if _passes(part, best) else "NOT met"
        shown = "none" if best is None else f"{best:.1f} {unit}"
        lines += ["", f"{part}: target {op} {target:g} {unit}; best {shown}: **{verdict}**"]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=PARTS, action="append", help="part to run (repeatable; default: all)")
    p.add_argument("--device", default="cuda", help="cuda[:N] (default) or cpu")
    p.add_argument("--model", default="tsm_r50_1x1x8_kinetics400", help="zoo checkpoint or architecture")
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--batches", default="16,32,64,128", help="throughput batch sizes (default 16,32,64,128)")
    p.add_argument("--train-batch", type=int, default=8, help="videos per training step (default 8)")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    p.add_argument("--json", metavar="PATH", help="also append every row to PATH as a JSON line")
    args = p.parse_args(argv)
    args.part = args.part or list(PARTS)
    try:
        args.batches = [int(b) for b in args.batches.split(",")]
    except ValueError:
        p.error(f"--batches expects comma-separated ints, got {args.batches!r}")
    if min(args.batches) < 1 or args.train_batch < 1 or args.iters < 1 or args.warmup < 0:
        p.error("batch sizes and --iters must be >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    args = parse_args(argv)
    try:
        resolve_setup(args.model, device=args.device)  # fail early on a bad name or a missing device
    except ValueError as exc:
        logger.error("error: %s", exc)
        return 2
    sink = open(args.json, "a") if args.json else None  # noqa: SIM115 - kept open for the whole run
    try:

        def emit(row: dict[str, Any]) -> None:
            if sink is not None:
                sink.write(json.dumps(row) + "\n")
                sink.flush()

        rows = run(args, emit)
    finally:
        if sink is not None:
            sink.close()
    sys.stdout.write(markdown(rows, machine_info(args.device), args))
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
