"""tsm_models vs MMAction2 1.2.0 side by side: the same TSM-R50 weights, the same video, one process, interleaved.

Two measurements, each checked for agreement before it is timed:

* **model only**: MMAction2's ``backbone`` + ``cls_head`` (``ResNetTSM`` + ``TSMHead``) on the normalised 8-frame
  input, against tsm_models' TSM on the same tensor, through each CPU path of
  :mod:`tsm_models.models.backends`: eager, channels_last, ``torch.compile`` (freezing), onnxruntime fp32 and
  onnxruntime int8 (static, calibrated on other clips). fp32 rows must agree with MMAction2 within 1e-4 of the
  largest logit; the int8 row must give the same top-5 classes on every test clip.
* **video -> scores**: MMAction2's ``inference_recognizer`` (decord decoding, its test pipeline, its data
  preprocessor, the model) against :class:`tsm_models.VideoClassifier` (PyAV decoding, the same sampling and
  transforms) on a 720p H.264 clip; the class probabilities must agree (top-5 equal, max |diff| reported).

Weights: MMAction2 builds its TSM, every BatchNorm and the classifier get random non-trivial values (as in
``tools/mmaction2_parity.py``), it is saved as an MMAction2 checkpoint and tsm_models loads that file
(``create_model(..., pretrained=path)``). Protocol: the zoo record ``tsm_r50_video_1x1x8_kinetics400`` (8
uniformly sampled frames, short side 256, center crop 224, one view) on both sides. Videos: synthetic clips
written here (moving coloured shapes on a textured background; ``--video`` times a real file instead).

MMAction2 is not a dependency of tsm_models. Install it beside the library in a separate environment (CPU)::

    python -m venv mma && . mma/bin/activate
    pip install torch torchvision timm av onnx onnxruntime -e .    # tsm_models itself
    pip install mmengine==0.10.7 mmcv-lite==2.1.0 einops scipy importlib_metadata decord
    pip install --no-deps mmaction2==1.2.0
    python benchmarks/vs_mmaction2.py --threads 1 --clock cpu      # the BENCHMARKS.md protocol on a busy machine
    python benchmarks/vs_mmaction2.py --rows eager,onnxruntime --iters 20 --json rows.json

On a machine shared with other processes use ``--threads 1 --clock cpu`` (see BENCHMARKS.md); the ratio to
MMAction2 is the figure to read, and the load average is printed with it.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests"))

import tsm_models  # noqa: E402
from tsm_models.models.backends import OnnxRuntimeModel, compile_for_cpu, prepare_backend  # noqa: E402

try:
    from tsm_models.tools.timing import machine_info, time_interleaved  # the package layout
except ImportError:  # pragma: no cover - the older layout
    from tsm_models.timing import machine_info, time_interleaved  # type: ignore[no-redef]

ZOO_NAME = "tsm_r50_video_1x1x8_kinetics400"
ROWS = ("eager", "channels_last", "compile", "onnxruntime", "int8", "bf16")
APPROXIMATE = ("int8", "bf16")  # judged by the top-5, not by 1e-4


def write_clip(path: Path, size: tuple[int, int], frames: int, seed: int, fps: int = 30) -> Path:
    """An H.264 clip of ``size`` (W, H): moving coloured discs over a drifting textured background."""
    import av

    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(0, 255, (3, 9, 16)).astype(np.float32)
    bg = np.stack([np.kron(c, np.ones((h // 9 + 1, w // 16 + 1), np.float32))[:h, :w] for c in base], -1)
    discs = [(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(-6, 6), rng.uniform(-6, 6), rng.uniform(h / 12, h / 5),
              rng.uniform(0, 255, 3)) for _ in range(6)]  # fmt: skip
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "veryfast", "g": "60"}
        for t in range(frames):
            img = np.roll(bg, (t * 2, t * 3), (0, 1)).copy()
            for x0, y0, vx, vy, r, color in discs:
                cx, cy = (x0 + vx * t) % w, (y0 + vy * t) % h
                img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = color
            frame = av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def mmaction2_config(models_registry: Any) -> Any:
    """MMAction2's TSM-R50 recognizer config with the test pipeline matching ``ZOO_NAME``'s protocol."""
    from mmaction2_parity import MEAN, STD
    from mmengine.config import Config

    model = dict(
        type="Recognizer2D",
        backbone=dict(type="ResNetTSM", pretrained=None, depth=50, norm_eval=False, shift_div=8, num_segments=8),
        cls_head=dict(type="TSMHead", num_classes=400, in_channels=2048, spatial_type="avg",
                      consensus=dict(type="AvgConsensus", dim=1), dropout_ratio=0.5, init_std=0.001,
                      is_shift=True, num_segments=8, average_clips="prob"),
        data_preprocessor=dict(type="ActionDataPreprocessor", mean=MEAN, std=STD, format_shape="NCHW"),
    )  # fmt: skip
    test_pipeline = [
        dict(type="DecordInit"),
        dict(type="SampleFrames", clip_len=1, frame_interval=1, num_clips=8, test_mode=True),
        dict(type="DecordDecode"),
        dict(type="Resize", scale=(-1, 256)),
        dict(type="CenterCrop", crop_size=224),
        dict(type="FormatShape", input_format="NCHW"),
        dict(type="PackActionInputs"),
    ]
    loader = dict(dataset=dict(type="VideoDataset"))
    return Config(dict(model=model, test_pipeline=test_pipeline, test_dataloader=loader))


def rel_diff(a: torch.Tensor, ref: torch.Tensor) -> float:
    return float((a.float() - ref.float()).abs().max() / ref.float().abs().max().clamp_min(1e-12))


def top6(x: torch.Tensor) -> list[tuple[int, float]]:
    v, i = x.flatten().topk(6)
    return [(int(a), round(float(b), 5)) for a, b in zip(i, v, strict=True)]


def top5(x: torch.Tensor) -> list[int]:
    return x.flatten().topk(5).indices.tolist()


def median_ms(times: list[float]) -> float:
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default=",".join(ROWS[:-1]), help=f"tsm_models paths to time, from {ROWS}")
    parser.add_argument("--iters", type=int, default=10, help="timed passes per row (model only)")
    parser.add_argument("--e2e-iters", type=int, default=6, help="timed videos per side (video -> scores); 0 skips")
    parser.add_argument("--threads", type=int, default=None, help="torch (and onnxruntime) threads")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--video", type=Path, help="time video -> scores on this file (default: a 720p clip made here)")
    parser.add_argument("--test-clips", type=int, default=4, help="clips for the agreement / int8 top-5 checks")
    parser.add_argument("--calib-clips", type=int, default=4, help="other clips calibrating int8")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    rows = [r for r in args.rows.split(",") if r]
    if bad := sorted(set(rows) - set(ROWS)):
        parser.error(f"unknown rows {bad}; choose from {ROWS}")
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    logging.getLogger().setLevel(logging.WARNING)

    from mmaction2_parity import build_mmaction2_tsm, import_mmaction2

    registry = import_mmaction2()
    from mmaction.apis import inference_recognizer, init_recognizer

    tmp = tempfile.TemporaryDirectory(prefix="vs_mma_")
    work = Path(tmp.name)
    mm_rand = build_mmaction2_tsm(registry, 50, 8, "blockres", 400)
    with torch.no_grad():  # scale the classifier to logits of std ~2, so that the softmax is not one-hot
        probe = torch.randn(8, 3, 224, 224, generator=torch.Generator().manual_seed(0))
        scale = 2.0 / float(mm_rand.cls_head(mm_rand.backbone(probe), num_segs=8).std())
        mm_rand.cls_head.fc_cls.weight.mul_(scale)
        mm_rand.cls_head.fc_cls.bias.mul_(scale)
    ckpt = work / "tsm_r50_mmaction2.pth"
    torch.save({"state_dict": mm_rand.state_dict(), "meta": {}}, ckpt)
    del mm_rand
    cfg = mmaction2_config(registry)
    mm = init_recognizer(cfg, str(ckpt), device="cpu").eval()
    model = tsm_models.create_model(ZOO_NAME, pretrained=str(ckpt)).eval()
    protocol = dataclasses.replace(model.zoo_entry.protocol, average_clips="prob")  # as MMAction2 1.x's TSMHead
    clf = tsm_models.VideoClassifier(model, protocol=protocol)

    # test clips (agreement, int8 top-5) and calibration clips (int8 ranges) are different videos
    clips = [write_clip(work / f"clip{i}.mp4", (480, 360), 48, seed=i) for i in range(args.test_clips)]
    calib = [write_clip(work / f"calib{i}.mp4", (480, 360), 48, seed=100 + i) for i in range(args.calib_clips)]
    views = [clf.preprocess(c) for c in clips]  # each (1, 8, 3, 224, 224)
    calib_views = [clf.preprocess(c) for c in calib]

    def mm_logits(video: torch.Tensor) -> torch.Tensor:  # (1, 8, 3, S, S) normalised -> (1, K)
        with torch.no_grad():
            return mm.cls_head(mm.backbone(video.flatten(0, 1)), num_segs=video.shape[1])

    refs = [mm_logits(v) for v in views]
    runners: dict[str, Any] = {}
    setup_s: dict[str, float] = {}
    for row in rows:
        start = time.perf_counter()
        if row == "int8":
            runners[row] = OnnxRuntimeModel.from_model(model, tuple(views[0].shape[1:]), int8=True,
                                                       calibration=calib_views)  # fmt: skip
        elif row == "onnxruntime":
            runners[row] = OnnxRuntimeModel.from_model(model, tuple(views[0].shape[1:]))
        elif row == "compile":
            runners[row] = compile_for_cpu(_copy(model))
        else:
            runners[row] = _Bf16(_copy(model)) if row == "bf16" else prepare_backend(_copy(model), row)
        with torch.inference_mode():
            runners[row](views[0])  # export / compile / first-call costs, not timed below
        setup_s[row] = time.perf_counter() - start

    agreement: dict[str, dict[str, Any]] = {}
    for row, run in runners.items():
        with torch.inference_mode():
            outs = [run(v) for v in views]
        rel = max(rel_diff(o, r) for o, r in zip(outs, refs, strict=True))
        same5 = [top5(o) == top5(r) for o, r in zip(outs, refs, strict=True)]
        same5_set = [set(top5(o)) == set(top5(r)) for o, r in zip(outs, refs, strict=True)]
        ok = all(same5_set) if row in APPROXIMATE else rel <= 1e-4
        agreement[row] = {"max_rel_diff": rel, "top5_same_order": sum(same5), "top5_same_set": sum(same5_set),
                          "clips": len(views), "ok": ok}  # fmt: skip

    x = views[0]
    fns = {"mmaction2": lambda: mm_logits(x)}
    for row, run in runners.items():
        fns[row] = functools.partial(_infer, run, x)
    info = machine_info()
    times = time_interleaved(fns, iters=args.iters, warmup=1, clock=args.clock)
    load_after = os.getloadavg()
    mm_ms = median_ms(times["mmaction2"])
    print(f"# tsm_models vs MMAction2 1.2.0, TSM-R50 1 x 8 x 224 x 224, {info['cpu']}, "
          f"{torch.get_num_threads()} thread(s), {args.clock} time, load {info.get('load_average')} -> "
          f"{tuple(round(v, 2) for v in load_after)}\n")  # fmt: skip
    print(
        "| model only | median ms | speed vs MMAction2 | vs MMAction2 logits (max rel diff) | top-5 equal | setup s |"
    )
    print("|---|---|---|---|---|---|")
    print(f"| MMAction2 1.2.0 eager fp32 | {mm_ms:.1f} | 1.00x | - | - | - |")
    results: dict[str, Any] = {"machine": info, "load_after": load_after, "clock": args.clock, "model_only": {}}
    results["model_only"]["mmaction2"] = {"median_ms": mm_ms, "times": times["mmaction2"]}
    for row in runners:
        ms = median_ms(times[row])
        a = agreement[row]
        print(f"| tsm_models {row} | {ms:.1f} | **{mm_ms / ms:.2f}x** | {a['max_rel_diff']:.2g}"
              f"{'' if a['ok'] else ' FAILED'} | {a['top5_same_set']}/{a['clips']} (order {a['top5_same_order']}) "
              f"| {setup_s[row]:.1f} |")  # fmt: skip
        results["model_only"][row] = {"median_ms": ms, "speedup": mm_ms / ms, "setup_s": setup_s[row], **a,
                                      "times": times[row]}  # fmt: skip

    if args.e2e_iters:
        video = args.video or write_clip(work / "clip_720p.mp4", (1280, 720), 300, seed=7)
        p_mm = inference_recognizer(mm, str(video)).pred_score.float()
        classifiers = {"eager": clf}
        if "onnxruntime" in rows:
            classifiers["onnxruntime"] = tsm_models.VideoClassifier(model, protocol=protocol, backend="onnxruntime")
        if "int8" in rows:
            classifiers["int8"] = tsm_models.VideoClassifier(
                model, protocol=protocol, backend="onnxruntime", int8=True, calibration=calib
            )
        fns = {"mmaction2": functools.partial(inference_recognizer, mm, str(video))}
        e2e_agree = {}
        for name, c in classifiers.items():
            p_ours = c.scores(c.preprocess(video))
            e2e_agree[name] = {
                "max_abs_diff": float((p_ours - p_mm).abs().max()),
                "top5_same_order": top5(p_ours) == top5(p_mm),
                "top5_equal": set(top5(p_ours)) == set(top5(p_mm)),
                "top6_ours_mmaction2": [top6(p_ours), top6(p_mm)],
            }
            fns[name] = functools.partial(_video_scores, c, video)
        t2 = time_interleaved(fns, iters=args.e2e_iters, warmup=1, clock=args.clock)
        mm2 = median_ms(t2["mmaction2"])
        print(f"\n| video -> scores ({video.name}) | median ms | speed vs MMAction2 | probabilities vs MMAction2 |")
        print("|---|---|---|---|")
        print(f"| MMAction2 `inference_recognizer` | {mm2:.1f} | 1.00x | - |")
        results["video_to_scores"] = {"mmaction2_ms": mm2, "times": t2}
        for name in classifiers:
            ms, a = median_ms(t2[name]), e2e_agree[name]
            print(f"| tsm_models `VideoClassifier` ({name}) | {ms:.1f} | **{mm2 / ms:.2f}x** | max abs diff "
                  f"{a['max_abs_diff']:.2g}, top-5 {'equal' if a['top5_equal'] else 'DIFFERENT'}"
                  f"{'' if a['top5_same_order'] else ' (order differs)'} |")  # fmt: skip
            results["video_to_scores"][name] = {"ms": ms, "speedup": mm2 / ms, **a}
    failed = [r for r, a in agreement.items() if not a["ok"]]
    if args.e2e_iters and not all(a["top5_equal"] for a in e2e_agree.values()):
        failed.append("video_to_scores")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    if failed:
        print(f"\nDISAGREEMENT: {failed}")
    return 1 if failed else 0


def _copy(model: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(model)


class _Bf16(torch.nn.Module):
    """channels_last + ``torch.autocast("cpu", torch.bfloat16)`` (not an fp32 path: for the record only)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.run = prepare_backend(model, "channels_last")

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.run(video).float()


def _video_scores(clf: tsm_models.VideoClassifier, video: Path) -> torch.Tensor:
    return clf.scores(clf.preprocess(video))


def _infer(run: Any, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return run(x)


if __name__ == "__main__":
    sys.exit(main())
