"""Shift overhead: tsm_r50 vs plain timm resnet50 on the same 8 frames, CPU fp32 eval, interleaved in one process.

Target (issue 6): tsm_r50 at >= 0.97x the throughput of resnet50. Both models carry the same weights (the
ResNet's state dict loaded into the TSM), so they differ only by the temporal shift. A third model, the same
TSM with the in-place inference shift turned off (one out-of-place copy per shifted block), shows what the
fast path saves. The 16 shifts are also timed alone, on the feature maps the model feeds them, which gives
the overhead with much less noise than the difference of two whole-model timings.

    PYTHONPATH=. python benchmarks/shift_overhead.py --threads 1 --iters 20

Each round runs every model once, in alternating order; medians over rounds are reported, plus the median of
the per-round ratios (robust when the machine's load drifts). On a shared machine prefer --threads 1 (with
more threads than free cores every parallel op waits for a descheduled thread) and --clock cpu (process CPU
time, which leaves out the time spent waiting for a core).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import timm
import torch

import tsm_models
from tsm_models import temporal_shift
from tsm_models.models.shift import temporal_shift_inplace
from tsm_models.tools.timing import machine_info, time_interleaved
from tsm_models.train import to_channels_last


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--iters", type=int, default=20, help="interleaved rounds (default 20)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--no-naive", action="store_true", help="skip the out-of-place-shift TSM")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="wall time or process CPU time")
    p.add_argument("--twin", action="store_true", help="also time the TSM with its shifts removed (TSN twin)")
    p.add_argument("--flush-denormal", action="store_true", help="torch.set_flush_denormal(True)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    torch.manual_seed(0)
    plain = timm.create_model("resnet50", num_classes=400).eval()
    tsm = tsm_models.create_model("tsm_r50", num_classes=400, num_segments=args.frames).eval()
    tsm.load_state_dict(tsm_models.models.adapt_2d_state_dict(plain.state_dict(), tsm))
    naive = None
    if not args.no_naive:
        naive = tsm_models.create_model("tsm_r50", num_classes=400, num_segments=args.frames).eval()
        naive.load_state_dict(tsm.state_dict())
        for _, m in tsm_models.models.shifted_modules(naive):
            m.inplace_inference = False
    video = torch.randn(1, args.frames, 3, args.img_size, args.img_size, generator=torch.Generator().manual_seed(0))
    if args.channels_last:
        for m in (plain, tsm, naive):
            if m is not None:
                m.to(memory_format=torch.channels_last)
        video = to_channels_last(video)
    frames = video.flatten(0, 1)
    # the inputs every shift module sees, to time the shifts alone on the real feature maps
    shift_inputs: list[tuple[torch.Tensor, tsm_models.TemporalShift]] = []
    hooks = [
        m.register_forward_pre_hook(lambda mod, a: shift_inputs.append((a[0].clone(), mod)))
        for _, m in tsm_models.models.shifted_modules(tsm)
    ]
    with torch.inference_mode():
        tsm(video)
    for h in hooks:
        h.remove()

    def shifts_in_place() -> None:
        for x, m in shift_inputs:
            with temporal_shift_inplace(x, m.num_segments, m.shift_div, m.direction):
                pass

    def shifts_out_of_place() -> None:
        for x, m in shift_inputs:
            temporal_shift(x, m.num_segments, m.shift_div, m.direction)

    fns = {"resnet50": lambda: plain(frames), "tsm_r50": lambda: tsm(video)}
    if args.twin:
        twin = tsm_models.create_model("tsm_r50", num_classes=400, num_segments=args.frames).eval()
        twin.load_state_dict(tsm.state_dict())
        tsm_models.models.remove_temporal_shift(twin)
        if args.channels_last:
            twin.to(memory_format=torch.channels_last)
        fns["tsm_r50 without shifts (TSN twin)"] = lambda: twin(video)
    if naive is not None:
        fns["tsm_r50 (out-of-place shift)"] = lambda: naive(video)
    fns["16 shifts alone, in place + restore"] = shifts_in_place
    fns["16 shifts alone, out of place"] = shifts_out_of_place
    with torch.inference_mode():
        out_plain, out_tsm = plain(frames), tsm(video)
        assert out_tsm.shape == (1, 400) and out_plain.shape == (args.frames, 400)
        times = time_interleaved(fns, iters=args.iters, warmup=args.warmup, clock=args.clock)
    med = {k: statistics.median(v) for k, v in times.items()}
    ref = times["resnet50"]
    models = [k for k in times if not k.startswith("16 shifts")]
    shifts = [k for k in times if k.startswith("16 shifts")]
    report = {
        "setup": f"CPU fp32 eval, inference_mode, batch 1 x {args.frames} frames x {args.img_size}px"
        + (", channels_last" if args.channels_last else ""),
        "machine": machine_info(),
        "rounds": args.iters,
        "clock": args.clock,
        "median_ms": {k: round(v * 1e3, 1) for k, v in med.items()},
        "throughput_ratio_vs_resnet50": {k: round(med["resnet50"] / med[k], 4) for k in models},
        "median_per_round_ratio": {
            k: round(statistics.median(r / t for r, t in zip(ref, times[k], strict=True)), 4) for k in models
        },
        # resnet50 time / (resnet50 time + the shifts' time): the ratio if the shift were the only difference
        "ratio_implied_by_shift_cost": {k: round(med["resnet50"] / (med["resnet50"] + med[k]), 4) for k in shifts},
        "target": ">= 0.97",
    }
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        for key, value in report.items():
            sys.stdout.write(f"{key}: {value}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
