"""Check tsm_models against MMAction2 itself: converted weights (logits), the test pipeline (frame indices and
preprocessed pixels), video decoding (against decord) and the training recipe (parameter groups, crops, sampling).

Weights: build MMAction2's TSM, save it as an MMAction2 checkpoint, load that file with
``tsm_models.create_model(..., pretrained=path)`` and compare the logits.

Pipeline: for every zoo protocol (plus twice-sample and three-crop variants), MMAction2's ``SampleFrames`` /
``DenseSampleFrames`` in test mode against :func:`tsm_models.data.sample_indices` for every video length from 1 to
400 frames, and MMAction2's ``Resize`` -> ``CenterCrop`` / ``ThreeCrop`` -> ``FormatShape`` -> normalisation
against :func:`tsm_models.create_transform` on random frames of several sizes.

Decoding: videos written here (H.264 with B-frames, MPEG-4, VP9, 4:4:4, odd sizes, 720p), read by
:func:`tsm_models.open_video` and by decord (MMAction2's video decoder, in a child process): frame counts and the
RGB values of the sampled frames.

Training: ``TSMOptimWrapperConstructor`` parameter groups, the set of ``MultiScaleCrop`` boxes and the support of
training-mode frame sampling.

Families (``--part families``): for MobileNetV2TSM, ResNetTSM-50 + NonLocal3d in its three modes and
MobileOneTSM-s4 (16 frames on 8 segments; training and deploy form), the weights made by the tests' independent
references (``tests/_upstream_mmaction2.py``) are loaded strictly into MMAction2's own modules, and three logits
are compared on the same clip: MMAction2, the reference, and tsm_models loading the file as an MMAction2
checkpoint. With ``--original`` (a checkout of mit-han-lab/temporal-shift-module) the same is done for the
original TSN(mobilenetv2), TSN(resnet50, non_local=True) and the online demo's MobileNetV2 (its own shift
buffers, frame by frame), against ``tests/_upstream_tsm.py`` and legacy-format files.

The test suite checks the converter against an independent re-implementation of MMAction2's forward (no
MMAction2 needed); this script is the same check against the real thing. It needs MMAction2 1.x, which is not
a dependency of tsm_models. Install it in a separate environment (CPU is enough)::

    pip install torch torchvision timm -e .            # tsm_models itself
    pip install mmengine==0.10.7 mmcv-lite==2.1.0 einops scipy importlib_metadata
    pip install --no-deps mmaction2==1.2.0
    pip install decord av                              # for --part decode
    pip install --no-deps mmpretrain==1.2.0 && pip install modelindex   # for --part families (MobileOne)
    python tools/mmaction2_parity.py                   # every part; or --part weights|pipeline|decode|train|families
    python tools/mmaction2_parity.py --part families --original /path/to/temporal-shift-module  # + the original repo

``mmcv-lite`` has no compiled ops, which TSM doesn't use. The mmaction2 1.2.0 wheel lacks the package of one
localizer (``localizers/drn``) that its ``__init__`` imports; the script stands in an empty module for it.

Each case builds ``Recognizer2D(ResNetTSM, TSMHead)``, gives every BatchNorm random statistics and affine
parameters and the classifier a visible scale (MMAction2's init would leave the residual branches nearly
silent), and compares MMAction2's per-frame ``fc`` averaged over the segments (``TSMHead`` before
``average_clips``) with tsm_models' logits on the same random video. The TSN twin of the converted model (the
shifts removed) is printed as a control: it must differ.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import types
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

import tsm_models

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _helpers import randomize_  # the tests' "make every path matter" BN/fc randomiser

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
# (depth, num_segments, MMAction2 shift_place, num_classes, frames fed); 16 frames on 8 segments is how the
# June-2020 16-frame zoo checkpoints were built and tested (two shift groups, MMAction2 averages the groups)
CASES = (
    (50, 8, "blockres", 400, 8),
    (50, 16, "blockres", 174, 16),
    (101, 8, "blockres", 174, 8),
    (50, 8, "block", 400, 8),
    (101, 8, "block", 174, 8),
    (50, 8, "blockres", 400, 16),
)


def import_mmaction2() -> Any:
    """MMAction2's model registry, with all modules registered."""
    if "mmaction.models.localizers.drn.drn" not in sys.modules:  # missing from the 1.2.0 wheel
        for name in ("mmaction.models.localizers.drn", "mmaction.models.localizers.drn.drn"):
            stub = types.ModuleType(name)
            stub.__path__ = []
            sys.modules[name] = stub
        sys.modules["mmaction.models.localizers.drn.drn"].DRN = None
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules

    register_all_modules()
    from mmengine.logging import MMLogger

    MMLogger.get_current_instance().setLevel(logging.WARNING)  # init_weights logs every parameter at INFO
    return MODELS


def build_mmaction2_tsm(models: Any, depth: int, num_segments: int, shift_place: str, num_classes: int) -> Any:
    """MMAction2's TSM recognizer (the zoo configs' model), randomised so that every path matters."""
    cfg = dict(
        type="Recognizer2D",
        backbone=dict(
            type="ResNetTSM",
            pretrained=None,
            pretrained2d=False,
            depth=depth,
            norm_eval=False,
            shift_div=8,
            num_segments=num_segments,
            shift_place=shift_place,
        ),
        cls_head=dict(
            type="TSMHead",
            num_classes=num_classes,
            in_channels=2048,
            spatial_type="avg",
            consensus=dict(type="AvgConsensus", dim=1),
            dropout_ratio=0.5,
            init_std=0.001,
            is_shift=True,
            num_segments=num_segments,
            average_clips="prob",
        ),
        data_preprocessor=dict(type="ActionDataPreprocessor", mean=MEAN, std=STD, format_shape="NCHW"),
    )
    torch.manual_seed(depth * 100 + num_segments)  # MMAction2's own init draws from the global generator
    model = models.build(cfg)
    model.init_weights()
    return randomize_(model, seed=depth * 100 + num_segments).eval()


def mmaction2_logits(model: Any, video: torch.Tensor) -> torch.Tensor:
    """``(B, T, 3, H, W)`` normalised video -> ``(B, K)``: MMAction2's backbone on the ``(B * T, 3, H, W)``
    frames, then ``TSMHead`` (per-frame fc, averaged over each group of ``num_segments`` frames), then the
    mean over the groups of a video (``average_clips="score"``)."""
    with torch.no_grad():
        scores = model.cls_head(model.backbone(video.flatten(0, 1)), num_segs=video.shape[1])
    return scores.unflatten(0, (video.shape[0], -1)).mean(1)


def run_case(
    models: Any, depth: int, num_segments: int, shift_place: str, num_classes: int, frames: int, size: int
) -> dict:
    mm = build_mmaction2_tsm(models, depth, num_segments, shift_place, num_classes)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mmaction2.pth")
        torch.save({"state_dict": mm.state_dict(), "meta": {}}, path)  # MMAction2's checkpoint layout
        ours = tsm_models.create_model(
            f"tsm_r{depth}",
            num_segments=num_segments,
            num_classes=num_classes,
            shift_place="residual" if shift_place == "blockres" else "inplace",
            pretrained=path,
        ).eval()
    video = torch.randn(2, frames, 3, size, size, generator=torch.Generator().manual_seed(1))
    ref = mmaction2_logits(mm, video)
    with torch.no_grad():
        out = ours(video)
        tsm_models.models.remove_temporal_shift(ours)
        tsn = ours(video)
    scale = ref.abs().max().item()
    return {
        "case": f"tsm_r{depth} num_segments={num_segments} {shift_place} K={num_classes}, {frames} frames at {size}px",
        "max_abs_diff": (out - ref).abs().max().item(),
        "max_rel_diff": (out - ref).abs().max().item() / scale,
        "top1_agree": bool((out.argmax(1) == ref.argmax(1)).all()),
        "control_tsn_rel_diff": (tsn - ref).abs().max().item() / scale,
    }


def mmaction2_indices(protocol: Any, total_frames: int) -> np.ndarray:
    """0-based frame positions from MMAction2's test-mode sampler for ``protocol``."""
    from mmaction.datasets.transforms import DenseSampleFrames, SampleFrames

    segments = protocol.num_frames // protocol.clip_len
    common = dict(clip_len=protocol.clip_len, frame_interval=protocol.frame_interval, num_clips=segments)
    if protocol.sampling == "dense":
        sampler = DenseSampleFrames(**common, num_sample_positions=protocol.num_clips, test_mode=True)
    else:
        sampler = SampleFrames(**common, twice_sample=protocol.num_clips == 2, test_mode=True)
    out = sampler({"total_frames": total_frames, "start_index": protocol.start_index})
    return np.asarray(out["frame_inds"]) - protocol.start_index


def mmaction2_preprocess(protocol: Any, frames: np.ndarray) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 RGB -> ``(num_crops, T, 3, S, S)``: MMAction2's test transforms and normalisation."""
    from mmaction.datasets.transforms import CenterCrop, FormatShape, Resize, TenCrop, ThreeCrop

    crop = {"center": CenterCrop, "three": ThreeCrop, "ten": TenCrop}[protocol.crop](crop_size=protocol.crop_size)
    results: dict[str, Any] = {
        "imgs": list(frames),
        "img_shape": frames.shape[1:3],
        "modality": "RGB",
        "num_clips": 1,
        "clip_len": len(frames),
    }
    for t in (Resize(scale=(-1, protocol.resize_short)), crop, FormatShape("NCHW")):
        results = t(results)
    x = torch.from_numpy(np.ascontiguousarray(results["imgs"])).float()  # (crops * T, 3, S, S)
    mean, std = torch.tensor(protocol.mean).view(1, 3, 1, 1), torch.tensor(protocol.std).view(1, 3, 1, 1)
    return ((x - mean) / std).unflatten(0, (protocol.num_crops, -1))


def pipeline_protocols() -> dict[str, Any]:
    """The zoo's MMAction2 test protocols, plus MMAction2's "accurate" variants (twice-sample, three crops).
    (The original repo's protocols are checked against its own code in tests/test_zoo_protocols.py.)"""
    import dataclasses

    from tsm_models.models.zoo import ZOO

    protocols = {name: e.protocol for name, e in ZOO.items() if e.source != "mit"}
    base = ZOO["tsm_r50.mm0_8f_340x256_k400"].protocol
    protocols["twice-sample"] = dataclasses.replace(base, num_clips=2)
    protocols["three-crop 256"] = dataclasses.replace(base, crop="three", num_crops=3, crop_size=256)
    return protocols


def check_pipeline(seed: int = 0) -> list[str]:
    """Compare sampling and preprocessing with MMAction2; returns failure messages (empty: all agree)."""
    failures: list[str] = []
    rng = np.random.default_rng(seed)
    sizes = ((240, 320), (256, 340), (100, 176), (480, 854), (360, 240))
    for name, protocol in pipeline_protocols().items():
        bad = [
            n
            for n in range(1, 401)
            if not np.array_equal(tsm_models.data.sample_indices(protocol, n), mmaction2_indices(protocol, n))
        ]
        worst, off, total = 0.0, 0, 0
        for h, w in sizes:
            frames = rng.integers(0, 256, (protocol.num_frames, h, w, 3), dtype=np.uint8)
            ours = tsm_models.create_transform(protocol)(frames)
            ref = mmaction2_preprocess(protocol, frames)
            if ours.shape != ref.shape:
                failures.append(f"{name}: {h}x{w} gives {tuple(ours.shape)}, MMAction2 {tuple(ref.shape)}")
                continue
            diff = (ours - ref).abs()
            worst = max(worst, diff.max().item())
            off, total = off + int((diff > 1e-3).sum()), total + diff.numel()
        # one grey level (OpenCV and torchvision round uint8 resizes differently) is 1 / std after normalising
        limit = 1.0001 / min(protocol.std)
        ok = not bad and worst <= limit
        if not ok:
            failures.append(f"{name}: indices differ for {len(bad)} lengths {bad[:5]}; pixels max |diff| {worst:.4f}")
        sys.stdout.write(
            f"pipeline {name}: indices equal for 1..400 frames: {not bad}; preprocessed max |diff| {worst:.4f} "
            f"(one grey level = {1 / min(protocol.std):.4f}), {100 * off / max(total, 1):.1f} % of values differ "
            f"-> {'ok' if ok else 'FAIL'}\n"
        )
    return failures


def check_multi_scale_crop(draws: int = 4000) -> list[str]:
    """The crop boxes MMAction2's training ``MultiScaleCrop`` (with the TSM configs' arguments) can draw against
    :func:`multi_scale_crop_box`'s: the same set (random draws from both), for the zoo datasets' frame sizes."""
    from mmaction.datasets.transforms import MultiScaleCrop

    from tsm_models.data.transforms import multi_scale_crop_box

    failures = []
    rng = np.random.default_rng(0)
    for h, w in ((256, 340), (256, 455), (256, 256), (256, 451)):
        crop = MultiScaleCrop(
            224, scales=(1, 0.875, 0.75, 0.66), random_crop=False, max_wh_scale_gap=1, num_fixed_crops=13
        )
        frame = np.zeros((h, w, 3), dtype=np.uint8)
        theirs = set()
        for _ in range(draws):
            x1, y1, x2, y2 = crop({"imgs": [frame], "img_shape": (h, w), "modality": "RGB"})["crop_bbox"]
            theirs.add((int(y1), int(x1), int(y2 - y1), int(x2 - x1)))
        mine = {multi_scale_crop_box(h, w, rng=rng) for _ in range(draws)}
        same = theirs == mine
        sys.stdout.write(f"multi-scale crop {h}x{w}: {len(mine)} boxes, {'same set' if same else 'DIFFERENT'}\n")
        if not same:
            failures.append(f"multi-scale crop {h}x{w}: only MMAction2 {theirs - mine}, only ours {mine - theirs}")
    return failures


def check_train_sampling(draws: int = 3000) -> list[str]:
    """Training-mode frame sampling: for each zoo protocol and several video lengths, the values each output
    position can take under MMAction2's sampler and under :func:`tsm_models.data.sample_indices` (random draws)."""
    from mmaction.datasets.transforms import DenseSampleFrames, SampleFrames

    from tsm_models.models.zoo import ZOO

    failures = []
    rng = np.random.default_rng(0)
    seen = set()
    for name, entry in ZOO.items():
        p = entry.protocol
        key = (p.sampling, p.num_frames, p.clip_len, p.frame_interval)
        if key in seen:
            continue
        seen.add(key)
        segments = p.num_frames // p.clip_len
        cls = DenseSampleFrames if p.sampling == "dense" else SampleFrames
        sampler = cls(clip_len=p.clip_len, frame_interval=p.frame_interval, num_clips=segments, test_mode=False)
        bad = []
        for n in (3, 7, 8, 9, 16, 17, 40, 100, 301):
            theirs = np.stack([sampler({"total_frames": n, "start_index": 0})["frame_inds"] for _ in range(draws)])
            mine = np.stack([tsm_models.data.sample_indices(p, n, train=True, rng=rng) for _ in range(draws)])
            if theirs.shape != mine.shape or any(set(theirs[:, i]) != set(mine[:, i]) for i in range(theirs.shape[1])):
                bad.append(n)
        sys.stdout.write(
            f"train sampling {p.sampling} {p.num_frames} frames ({name}): "
            f"{'same support' if not bad else f'DIFFERENT for {bad}'} at 3..301 frames\n"
        )
        if bad:
            failures.append(f"train sampling of {name} differs for lengths {bad}")
    return failures


def _write_video(path: str, codec: str, pix_fmt: str, size: tuple[int, int], frames: int, seed: int) -> str:
    import av

    h, w = size
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)[:h, :w]
    with av.open(path, "w") as container:
        options = {"crf": "30", "b:v": "0"} if codec == "libvpx-vp9" else {}  # VP9: constant quality
        stream = container.add_stream(codec, rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        if codec == "libvpx-vp9":
            stream.bit_rate = 1_000_000
        for i in range(frames):  # a textured picture moving right: motion, edges and colour
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(base, 3 * i, axis=1)), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


_DECORD_READ = """
import sys, json, numpy as np, decord
path, out, indices = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
reader = decord.VideoReader(path, num_threads=1)
np.save(out, reader.get_batch(indices).asnumpy())
print(len(reader))
"""


def decord_read(path: str, indices: list[int]) -> tuple[int, np.ndarray]:
    """Frame count and ``(len(indices), H, W, 3)`` RGB frames from decord, in a child process (decord and PyAV
    each bundle an FFmpeg; in one process the first one loaded would serve both)."""
    import json
    import subprocess

    out = path + ".npy"
    result = subprocess.run(
        [sys.executable, "-c", _DECORD_READ, path, out, json.dumps(indices)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"decord failed on {path}: {result.stderr.strip()[-500:]}")
    return int(result.stdout.split()[-1]), np.load(out)


def check_decoding() -> list[str]:
    """PyAV decoding (:func:`tsm_models.open_video`) against decord, which MMAction2's video configs use
    (``DecordInit`` / ``DecordDecode``): frame count and the RGB values of sampled frames."""
    failures = []
    cases = (
        ("libx264", "yuv420p", (240, 320), "mp4"),  # B-frames (x264's default)
        ("libx264", "yuv420p", (182, 322), "mkv"),
        ("mpeg4", "yuv420p", (240, 320), "avi"),
        ("libx264", "yuv444p", (144, 176), "mp4"),
        ("libvpx-vp9", "yuv420p", (240, 320), "webm"),  # much of Kinetics is on YouTube as VP9
        ("libx264", "yuv420p", (720, 1280), "mp4"),
    )
    twice_sample = pipeline_protocols()["twice-sample"]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (codec, pix_fmt, size, ext) in enumerate(cases):
            path = _write_video(os.path.join(tmp, f"v{i}.{ext}"), codec, pix_fmt, size, frames=75, seed=i)
            with tsm_models.open_video(path) as ours:
                total = ours.total_frames
                indices = tsm_models.data.sample_indices(twice_sample, total).tolist()
                mine = ours.read(indices)
            total_decord, theirs = decord_read(path, indices)
            diff = np.abs(mine.astype(np.int16) - theirs.astype(np.int16)).max() if mine.shape == theirs.shape else -1
            ok = total == total_decord and diff == 0
            sys.stdout.write(
                f"decode {codec} {pix_fmt} {size[0]}x{size[1]} .{ext}: {total} frames (decord {total_decord}), "
                f"max |diff| of {len(indices)} sampled frames {diff} -> {'ok' if ok else 'FAIL'}\n"
            )
            if not ok:
                failures.append(f"decoding {codec}/{ext}: {total} vs {total_decord} frames, max |diff| {diff}")
    return failures


def check_param_groups(models: Any, lr: float = 0.01, weight_decay: float = 1e-4) -> list[str]:
    """MMAction2's ``TSMOptimWrapperConstructor`` groups against :func:`tsm_models.train.optim.param_groups` on the
    same network (R50, residual shift, 400 classes); returns failure messages."""
    from mmaction.engine.optimizers import TSMOptimWrapperConstructor

    from tsm_models.train.optim import param_groups

    mm = build_mmaction2_tsm(models, 50, 8, "blockres", 400)
    ours = tsm_models.create_model("tsm_r50", num_segments=8, num_classes=400)
    converted = tsm_models.convert_state_dict(mm.state_dict())  # renames only: the tensors share MMAction2's memory
    ours.load_state_dict(converted)
    our_name = {t.data_ptr(): k for k, t in converted.items()}  # MMAction2 parameter -> tsm_models name
    failures = []
    for fc_lr5 in (True, False):
        constructor = TSMOptimWrapperConstructor(
            dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=lr, momentum=0.9, weight_decay=weight_decay)),
            dict(fc_lr5=fc_lr5),
        )
        mm_groups: list[dict[str, Any]] = []
        constructor.add_params(mm_groups, mm)
        theirs = sorted(
            (
                g["lr"],
                g["weight_decay"],
                sorted(our_name[p.data_ptr()] for p in g["params"]),
            )
            for g in mm_groups
            if g["params"]
        )
        names = {id(p): n for n, p in ours.named_parameters()}
        mine = sorted(
            (g["lr"], g["weight_decay"], sorted(names[id(p)] for p in g["params"]))
            for g in param_groups(ours, lr, weight_decay, fc_lr5=fc_lr5)
        )
        same = [(a[0], a[1], len(a[2])) for a in theirs] == [(b[0], b[1], len(b[2])) for b in mine] and all(
            a[2] == b[2] for a, b in zip(theirs, mine, strict=True)
        )
        summary = ", ".join(f"{len(g[2])} params lr {g[0]:g} wd {g[1]:g}" for g in mine)
        sys.stdout.write(f"param groups (fc_lr5={fc_lr5}): {'identical' if same else 'DIFFERENT'}: {summary}\n")
        if not same:
            failures.append(f"param groups differ with fc_lr5={fc_lr5}: MMAction2 {theirs} vs {mine}")
    return failures


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def _build_mma(models: Any, backbone: dict, in_channels: int, head_segments: int, sd: dict) -> Any:
    from torch import nn

    m = nn.Module()
    m.backbone = models.build(backbone)
    m.cls_head = models.build(
        dict(type="TSMHead", num_classes=400, in_channels=in_channels, num_segments=head_segments, spatial_type="avg",
             consensus=dict(type="AvgConsensus", dim=1), dropout_ratio=0.5, init_std=0.001, is_shift=True)
    )  # fmt: skip
    m.load_state_dict(sd, strict=True)  # the reference's keys and shapes are MMAction2's
    return m.eval()


def check_families(models: Any, tolerance: float, original: str | None, size: int = 64) -> list[str]:
    """MMAction2 (and the original repo) vs the tests' references vs tsm_models, for the non-ResNet families."""
    import _upstream_mmaction2 as U

    failures: list[str] = []
    tmp = Path(tempfile.mkdtemp())

    def report(name: str, upstream: Any, ref_fn: Any, sd: dict, video: torch.Tensor, ours: Any, **create: Any) -> None:
        with torch.no_grad():
            theirs = upstream(video)
            ref = ref_fn(U.Weights(sd), video)
            model = tsm_models.create_model(pretrained=ours, **create).eval()
            mine = model(video)
        a, b = _rel(ref, theirs), _rel(mine, theirs)
        ok = a <= tolerance and b <= tolerance
        sys.stdout.write(
            f"{name}: reference vs upstream {a:.2g}, tsm_models vs upstream {b:.2g} -> {'ok' if ok else 'FAIL'}\n"
        )
        if not ok:
            failures.append(name)

    def mma_file(sd: dict, name: str) -> Path:
        path = tmp / f"{name}.pth"
        torch.save(U.mmaction2_checkpoint(sd), path)
        return path

    v8, v16 = U.random_video(frames=8, size=size), U.random_video(frames=16, size=size)

    def head(m: Any) -> Any:
        return lambda v: m.cls_head(m.backbone(v.flatten(0, 1)), v.shape[1])

    sd = U.make_state_dict(U.mobilenetv2_tsm_forward, v8)
    m = _build_mma(models, dict(type="MobileNetV2TSM", num_segments=8, pretrained2d=False), 1280, 8, sd)
    report("MobileNetV2TSM", head(m), U.mobilenetv2_tsm_forward, sd, v8, mma_file(sd, "mbv2"),
           model_name="tsm_mobilenetv2", num_classes=400)  # fmt: skip
    for mode in ("embedded_gaussian", "gaussian", "dot_product"):
        sd = U.make_state_dict(U.resnet50_tsm_nl_forward, v8, mode)
        cfg = dict(sub_sample=True, use_scale=False, norm_cfg=dict(type="BN3d", requires_grad=True), mode=mode)
        bb = dict(type="ResNetTSM", depth=50, pretrained=None, pretrained2d=False, num_segments=8,
                  non_local=U.NL_STAGES, non_local_cfg=cfg)  # fmt: skip
        m = _build_mma(models, bb, 2048, 8, sd)
        ref = partial(U.resnet50_tsm_nl_forward, mode=mode)
        report(f"ResNetTSM-50 NonLocal3d {mode}", head(m), ref,
               sd, v8, mma_file(sd, f"nl_{mode}"), model_name="tsm_r50", non_local=mode, num_classes=400)  # fmt: skip
    sd = U.make_state_dict(U.mobileone_tsm_forward, v16)
    bb = dict(type="MobileOneTSM", arch="s4", num_segments=8, pretrained2d=False)
    m = _build_mma(models, bb, 2048, 16, sd)
    report("MobileOneTSM-s4, 16 frames on 8 segments", head(m), U.mobileone_tsm_forward, sd, v16, mma_file(sd, "mo"),
           model_name="tsm_mobileone_s4", num_classes=400)  # fmt: skip
    m.backbone.switch_to_deploy()  # mmpretrain's own fusion
    fused = tsm_models.reparameterize(tsm_models.create_model("tsm_mobileone_s4", pretrained=mma_file(sd, "mo")))
    with torch.no_grad():
        r = _rel(fused.eval()(v16), head(m)(v16))
    sys.stdout.write(
        f"MobileOne reparameterize vs mmpretrain switch_to_deploy: {r:.2g} -> {'ok' if r <= tolerance else 'FAIL'}\n"
    )
    if r > tolerance:
        failures.append("mobileone deploy")
    if original:
        failures += check_original(original, tolerance, size)
    return failures


def check_original(root: str, tolerance: float, size: int) -> list[str]:
    """The original repo's TSN(mobilenetv2), TSN(resnet50, non_local) and online-demo MobileNetV2."""
    import contextlib
    import io

    import _upstream_mmaction2 as U
    import _upstream_tsm as O
    import torchvision
    from torch import nn

    failures: list[str] = []
    tmp = Path(tempfile.mkdtemp())
    sys.path[:0] = [root, str(Path(root) / "online_demo")]
    tv50 = torchvision.models.resnet50
    torchvision.models.resnet50 = lambda pretrained=False: tv50()  # the repo passes `pretrained` positionally
    from ops.models import TSN  # type: ignore[import-not-found]

    TSN.print_spec = True  # its mobilenetv2 branch reads self.print_spec, which __init__ never sets
    v8 = U.random_video(frames=8, size=size)
    for base, ref_fn, kw, create in (
        ("mobilenetv2", O.tsn_mobilenetv2_forward, {}, dict(model_name="tsm_mobilenetv2")),
        (
            "resnet50",
            O.tsn_resnet50_forward,
            dict(non_local=True),
            dict(model_name="tsm_r50", non_local="embedded_gaussian"),
        ),
    ):
        sd = U.make_state_dict(ref_fn, v8)
        with contextlib.redirect_stdout(io.StringIO()):
            net = TSN(400, 8, "RGB", base_model=base, dropout=0.5, pretrain="none", is_shift=True, shift_div=8,
                      shift_place="blockres", print_spec=False, **kw)  # fmt: skip
        net = nn.DataParallel(net)
        net.load_state_dict(sd, strict=True)
        net.eval()
        path = tmp / f"{base}.pth"
        U.save_checkpoint(O.original_checkpoint(sd, base), str(path), legacy=True)
        with torch.no_grad():
            theirs = net.module(v8.flatten(1, 2))
            a = _rel(ref_fn(U.Weights(sd), v8), theirs)
            b = _rel(tsm_models.create_model(pretrained=path, num_classes=400, **create).eval()(v8), theirs)
        ok = a <= tolerance and b <= tolerance
        sys.stdout.write(
            f"original TSN({base}{', non_local' if kw else ''}): reference {a:.2g}, tsm_models {b:.2g} "
            f"-> {'ok' if ok else 'FAIL'}\n"
        )
        if not ok:
            failures.append(base)
    from mobilenet_v2_tsm import MobileNetV2  # type: ignore[import-not-found]

    sd = U.make_state_dict(O.online_demo_clip_forward, v8)
    demo = MobileNetV2(n_class=27)
    demo.load_state_dict(sd, strict=True)
    demo.eval()
    path = tmp / "mobilenetv2_jester_online.pth.tar"
    U.save_checkpoint(sd, str(path), legacy=True)
    model = tsm_models.create_model("tsm_mobilenetv2", num_classes=27, shift_direction="online", pretrained=path).eval()
    stream = model.stream()
    buffers = O.online_demo_buffers(v8.shape[0], size)
    theirs, mine = [], []
    with torch.no_grad():
        for t in range(v8.shape[1]):
            out = demo(v8[:, t], *buffers)
            theirs.append(out[0])
            buffers = list(out[1:])
            mine.append(stream.step(v8[:, t]).logits)
        theirs_t = torch.stack(theirs, 1)
        a = _rel(O.online_demo_loop(U.Weights(sd), v8), theirs_t)
        b = _rel(torch.stack(mine, 1), theirs_t)
        c = _rel(model(v8), theirs_t.mean(1))
    ok = max(a, b, c) <= tolerance
    sys.stdout.write(
        f"online demo MobileNetV2: reference {a:.2g}, tsm_models stream {b:.2g}, offline clip vs mean of frames {c:.2g}"
        f" -> {'ok' if ok else 'FAIL'}\n"
    )
    return failures if ok else [*failures, "online demo"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=112, help="frame size (default 112; the check is size-independent)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed |diff| / max |logit|")
    p.add_argument("--part", choices=("weights", "pipeline", "decode", "train", "families", "all"), default="all")
    p.add_argument("--original", help="a checkout of mit-han-lab/temporal-shift-module (for --part families)")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*mmcv-lite.*")  # no compiled ops: TSM needs none
    models = import_mmaction2()
    import mmaction

    sys.stdout.write(f"mmaction2 {mmaction.__version__}, torch {torch.__version__}\n")
    ok = True
    if args.part in ("pipeline", "all"):
        ok &= not check_pipeline()
    if args.part in ("decode", "all"):
        ok &= not check_decoding()
    if args.part in ("train", "all"):
        ok &= not check_param_groups(models)
        ok &= not check_multi_scale_crop()
        ok &= not check_train_sampling()
    if args.part in ("families", "all"):
        ok &= not check_families(models, args.tolerance, args.original)
    for case in CASES if args.part in ("weights", "all") else ():
        r = run_case(models, *case, size=args.size)
        passed = r["max_rel_diff"] <= args.tolerance and r["top1_agree"] and r["control_tsn_rel_diff"] > args.tolerance
        ok &= passed
        sys.stdout.write(
            f"{r['case']}: max |diff| {r['max_abs_diff']:.3g} ({r['max_rel_diff']:.2g} of the largest logit), "
            f"top-1 agrees: {r['top1_agree']}; control (shifts removed): {r['control_tsn_rel_diff']:.2g} "
            f"-> {'ok' if passed else 'FAIL'}\n"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
