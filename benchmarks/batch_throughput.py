"""Decode hidden behind compute: end-to-end throughput over a folder of clips against model-only throughput.

* **model only**: the clips' views decoded beforehand, then the model on batches of ``--batch`` videos
  (``(B * V, T, 3, S, S)`` per forward pass);
* **end to end**: :meth:`tsm_models.VideoClassifier.predict_many` over the files: decoding, sampling and
  preprocessing in DataLoader worker processes (``--workers``), batches of videos on the model, top-5 per video.

Both are wall time (the workers are other processes), rounds alternate (model only, end to end, ...), and the
medians are reported with their ratio (goal >= 0.9x: decoding fully hidden). The end-to-end predictions must
equal the model-only ones. Clips: ``--folder`` or 32 synthetic 720p H.264 clips written here.

    python benchmarks/batch_throughput.py --threads 1 --workers 1 --backend onnxruntime --int8
    python benchmarks/batch_throughput.py --folder videos/ --batch 1,2,4 --threads 2 --workers 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from vs_mmaction2 import write_clip  # noqa: E402

import tsm_models  # noqa: E402

ZOO_NAME = "tsm_r50_video_1x1x8_kinetics400"


def measure(
    clf: tsm_models.VideoClassifier, b: int, views: list[torch.Tensor], paths: list[Path], workers: int, rounds: int
) -> dict:
    """Model-only and end-to-end throughput (video/s, median of ``rounds``) at ``b`` videos per pass."""

    def model_only() -> list:
        out = []
        for i in range(0, len(views), b):
            chunk = views[i : i + b]
            logits = clf.run_views(torch.cat(chunk))  # (sum V, K)
            out += [clf.topk(p, 5) for p in clf.views_to_probs(logits, [v.shape[0] for v in chunk])]
        return out

    def end_to_end() -> list:
        return [p.topk for p in clf.predict_many(paths, topk=5, num_workers=workers, batch_videos=b)]

    ref = model_only()  # warm-up before timing
    got = end_to_end()
    same = [[c for c, _ in x] == [c for c, _ in y] for x, y in zip(ref, got, strict=True)]
    t_model, t_e2e = [], []
    for _ in range(rounds):
        for fn, acc in ((model_only, t_model), (end_to_end, t_e2e)):
            start = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - start)
    vm, ve = len(paths) / statistics.median(t_model), len(paths) / statistics.median(t_e2e)
    return {"model_only_vps": vm, "e2e_vps": ve, "ratio": ve / vm, "top5_equal": sum(same), "t_model": t_model,
            "t_e2e": t_e2e}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=ZOO_NAME, help="zoo model (random weights; its test protocol)")
    parser.add_argument("--folder", type=Path, help="time these videos (default: synthetic 720p clips)")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--clip-size", default="1280x720")
    parser.add_argument("--clip-frames", type=int, default=90)
    parser.add_argument("--batch", default="1,4", help="videos per forward pass, comma-separated")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader decoding processes")
    parser.add_argument("--threads", type=int, default=None, help="torch / onnxruntime threads")
    parser.add_argument("--backend", default="eager", choices=("eager", "channels_last", "compile", "onnxruntime"))
    parser.add_argument("--int8", action="store_true", help="int8 onnxruntime (calibrated on 4 of the clips)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--crop-size", type=int, help="override the protocol's crop (and resize) size (for tests)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")

    tmp = tempfile.TemporaryDirectory(prefix="batch_tp_")
    if args.folder:
        exts = {".mp4", ".avi", ".mkv", ".webm", ".mov"}
        paths = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in exts)
    else:
        w, h = (int(v) for v in args.clip_size.split("x"))
        paths = [write_clip(Path(tmp.name) / f"clip{i:02d}.mp4", (w, h), args.clip_frames, seed=i)
                 for i in range(args.clips)]  # fmt: skip
    if not paths:
        parser.error("no videos")
    model = tsm_models.create_model(args.model).eval()
    base = tsm_models.VideoClassifier(model)
    if args.crop_size:
        base = base.with_protocol(crop_size=args.crop_size, resize_short=args.crop_size)
    views = [base.preprocess(p) for p in paths]  # for model only, decoded beforehand
    kwargs = {"backend": args.backend}
    if args.int8:
        kwargs.update(backend="onnxruntime", int8=True, calibration=paths[:4])
    results: dict = {
        "load_before": os.getloadavg(),
        "rows": {},
        "clips": len(paths),
        "workers": args.workers,
        "threads": torch.get_num_threads(),
    }
    name = f"{kwargs['backend']}{' int8' if args.int8 else ''}"
    print(f"# {len(paths)} clips, {args.model} ({name}), {torch.get_num_threads()} thread(s), "
          f"{args.workers} decoding worker(s), load {os.getloadavg()}\n")  # fmt: skip
    print("| videos / pass | model only, video/s | end to end, video/s | end to end / model only |\n|---|---|---|---|")
    for b in (int(v) for v in args.batch.split(",")):
        clf = tsm_models.VideoClassifier(model, protocol=base.protocol, **kwargs)
        row = measure(clf, b, views, paths, args.workers, args.rounds)
        print(f"| {b} | {row['model_only_vps']:.2f} | {row['e2e_vps']:.2f} | **{row['ratio']:.2f}x** "
              f"(top-5 equal {row['top5_equal']}/{len(paths)}) |")  # fmt: skip
        results["rows"][b] = row
    print(f"\nload after: {os.getloadavg()}")
    results["load_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if all(r["top5_equal"] == len(paths) for r in results["rows"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
