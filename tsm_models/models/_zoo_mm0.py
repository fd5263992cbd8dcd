"""Zoo records of MMAction2 0.x: the final 0.x zoo (37 files) and the five June-2020 files it replaced.

Plain data (stdlib only), read by :mod:`tsm_models.models.zoo`. Facts come from branch ``0.x`` @ 71a938ab of
open-mmlab/mmaction2: ``configs/recognition/tsm/*.py`` (resolved with mmengine's ``Config.fromfile``),
``README.md`` and ``metafile.yml``, as collected in ``research/zoo_landscape.md`` section 2; the June-2020
records (the seed's) from ``research/mmaction2_tsm.md`` section 4.

Test protocols are those of the config the README row links, at its final 0.x state. Several files predate
that state of their config (the 2020 ``256p``/``340x256`` files); the entry says so. The README's
"efficient/accurate" Something-Something and Jester figures: the configs test the accurate setting
(``twice_sample`` x ``ThreeCrop(256)``, 6 views), so ``top1`` is the accurate figure and ``top1_efficient``
(1 clip x center crop) is kept beside it.
"""

from __future__ import annotations

from typing import Any

_ROOT = "https://download.openmmlab.com/mmaction/recognition/tsm"
_ROOT_2020 = "https://openmmlab.oss-accelerate.aliyuncs.com/mmaction/recognition/tsm"

# Protocols (test pipelines of the final 0.x configs; base config test_cfg average_clips='prob').
_RAW = dict(input_format="rawframes", start_index=1, filename_tmpl="img_{:05}.jpg", average_clips="prob")
_VID = dict(input_format="video", start_index=0, average_clips="prob")
_CENTER = dict(crop="center", crop_size=224)
_TEN = dict(crop="ten", crop_size=224)
_THREE = dict(crop="three", crop_size=256)
_ACCURATE = dict(_RAW, **_THREE, num_clips=2)  # twice_sample -> 2 clips x ThreeCrop(256)
_STHV1 = dict(_ACCURATE, filename_tmpl="{:05}.jpg")
# The June-2020 configs (v0.5-v0.7): test_cfg average_clips=None, i.e. the head's mean over all frame logits.
_RAW_2020 = dict(_RAW, average_clips="score")

_K400 = dict(dataset="kinetics400", labels="kinetics400", num_classes=400)
_OPTIM = "SGD momentum 0.9, TSM param groups (fc weight lr x5, fc bias lr x10), grad clip max_norm 20, no warm-up"
_MSC = "Resize(-1, 256), MultiScaleCrop(224, scales=(1, .875, .75, .66)), Resize(224, 224)"
_STHV1_FLIP = "Flip(0.5) with flip_label_map {2: 4, 4: 2, 30: 41, 41: 30, 52: 66, 66: 52}"
_NL = (
    "Non-local blocks (mmcv NonLocal3d, sub_sample=True, use_scale=False, BN3d) after blocks layer2.{0,2} and "
    "layer3.{0,2,4}."
)
_OLD_CONFIG = (
    "This file predates the final state of the config its README row links; the protocol here is that config's "
    "test pipeline, which may differ from the one the published figure was measured with."
)


def _recipe(
    lr: float, wd: float, steps: tuple[int, ...], epochs: int, vpg: int, flip: bool, **kw: Any
) -> dict[str, Any]:
    out: dict[str, Any] = dict(
        lr=lr,
        weight_decay=wd,
        lr_steps=steps,
        epochs=epochs,
        warmup_epochs=0,
        videos_per_gpu=vpg,
        gpus=8,
        flip=flip,
        optimizer=_OPTIM,
        pretrained="ImageNet (torchvision resnet50)",
        train_sampling="SampleFrames(1, 1, 8)",
        augment=_MSC + (", Flip(0.5)" if flip else ""),
    )
    out.update(kw)
    return out


def _m(flops: float | None, params: float | None, **kw: Any) -> dict[str, Any]:
    """Metrics with metafile FLOPs/params (raw counts) written as G/M."""
    out = dict(kw)
    if flops:
        out["flops"] = f"{flops / 1e9:.2f}G"
    if params:
        out["params"] = f"{params / 1e6:.2f}M"
    return out


def _e(directory: str, filename: str, config: str, **kw: Any) -> dict[str, Any]:
    stem = filename.rsplit(".pth", 1)[0]
    date = stem.rsplit("_", 1)[-1].split("-")[0]
    released = date if len(date) == 8 and date.isdigit() else None
    return dict(source="mm0", config=config, url=f"{_ROOT}/{directory}/{filename}", released=released, **kw)


_R8_K400 = _recipe(0.01, 1e-4, (20, 40), 50, 8, True)
_R8_K400_100E = _recipe(0.01, 1e-4, (40, 80), 100, 8, True)
_R16_K400 = _recipe(0.0075, 1e-4, (20, 40), 50, 6, True, train_sampling="SampleFrames(1, 1, 16)")
_R16_K400_100E = _recipe(0.0075, 1e-4, (40, 80), 100, 6, True, train_sampling="SampleFrames(1, 1, 16)")
_R8_STHV1 = _recipe(0.01, 5e-4, (20, 40), 50, 8, False)
_K400_FT = "Kinetics-400 TSM (load_from tsm_r50_256p_1x1x{n}_50e_kinetics400_rgb, {h})"

ENTRIES: tuple[dict[str, Any], ...] = (
    # ---------------------------------------------------------------- Kinetics-400
    _e(
        "tsm_r50_256p_1x1x8_50e_kinetics400_rgb",
        "tsm_r50_256p_1x1x8_50e_kinetics400_rgb_20200726-020785e2.pth",
        "tsm_r50_1x1x8_50e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_8f_256p_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_RAW, **_CENTER, num_frames=8),
        recipe=_R8_K400,
        metrics=_m(32965562368, 24327632, top1=70.59, top5=89.52, gpu_mem_mb=7079, resolution="short-side 256", gpus=8),
        notes=(_OLD_CONFIG,),
    ),
    _e(
        "tsm_r50_1x1x8_50e_kinetics400_rgb",
        "tsm_r50_1x1x8_50e_kinetics400_rgb_20210701-68d582b4.pth",
        "tsm_r50_1x1x8_50e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_8f_320p_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_RAW, **_CENTER, num_frames=8),
        recipe=_R8_K400,
        metrics=_m(32965562368, 24327632, top1=70.73, top5=89.81, gpu_mem_mb=7079, resolution="short-side 320", gpus=8),
    ),
    _e(
        "tsm_r50_1x1x8_100e_kinetics400_rgb",
        "tsm_r50_1x1x8_100e_kinetics400_rgb_20210701-7ff22268.pth",
        "tsm_r50_1x1x8_100e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_8f_320p_100e_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_RAW, **_CENTER, num_frames=8),
        recipe=_R8_K400_100E,
        metrics=_m(32965562368, 24327632, top1=71.90, top5=90.03, gpu_mem_mb=7079, resolution="short-side 320", gpus=8),
    ),
    _e(
        "tsm_r50_gpu_normalize_1x1x8_50e_kinetics400_rgb",
        "tsm_r50_gpu_normalize_1x1x8_50e_kinetics400_rgb_20210219-bf96e6cc.pth",
        "tsm_r50_gpu_normalize_1x1x8_50e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_8f_gpunorm_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_RAW, **_CENTER, num_frames=8),
        recipe=_R8_K400,
        metrics=_m(32965562368, 24327632, top1=70.48, top5=89.40, gpu_mem_mb=7076, resolution="short-side 256", gpus=8),
        notes=(
            "Trained with normalisation on the GPU (model-side, same RGB mean/std) instead of in the data "
            "pipeline; the input normalisation is the same.",
        ),
    ),
    _e(
        "tsm_r50_dense_1x1x8_50e_kinetics400_rgb",
        "tsm_r50_dense_1x1x8_50e_kinetics400_rgb_20210701-a54ff3d3.pth",
        "tsm_r50_dense_1x1x8_50e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_8f_dense_320p_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_RAW, **_TEN, num_frames=8, sampling="dense", num_clips=10),
        recipe=dict(_R8_K400, train_sampling="DenseSampleFrames(1, 1, 8), sample_range 64"),
        metrics=_m(32965562368, 24327632, top1=73.46, top5=90.84, gpu_mem_mb=7079, resolution="short-side 320", gpus=8),
    ),
    _e(
        "tsm_r50_dense_1x1x8_100e_kinetics400_rgb",
        "tsm_r50_dense_1x1x8_100e_kinetics400_rgb_20210701-e3e5e97f.pth",
        "tsm_r50_dense_1x1x8_100e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_8f_dense_320p_100e_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_RAW, **_TEN, num_frames=8, sampling="dense", num_clips=10),
        recipe=dict(_R8_K400_100E, train_sampling="DenseSampleFrames(1, 1, 8), sample_range 64"),
        metrics=_m(32965562368, 24327632, top1=74.55, top5=91.74, gpu_mem_mb=7079, resolution="short-side 320", gpus=8),
    ),
    _e(
        "tsm_r50_1x1x16_50e_kinetics400_rgb",
        "tsm_r50_340x256_1x1x16_50e_kinetics400_rgb_20201011-2f27f229.pth",
        "tsm_r50_1x1x16_50e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_16f_340x256_k400",
        model_args=dict(num_segments=16),
        **_K400,
        protocol=dict(_RAW, **_TEN, num_frames=16),
        recipe=_R16_K400,
        metrics=_m(
            65931124736,
            24327632,
            top1=72.09,
            top5=90.37,
            reference_top1=70.67,
            reference_top5=89.98,
            inference_time=47.0,
            gpu_mem_mb=10404,
            resolution="340x256",
            gpus=8,
        ),
        notes=(_OLD_CONFIG,),
    ),
    _e(
        "tsm_r50_256p_1x1x16_50e_kinetics400_rgb",
        "tsm_r50_256p_1x1x16_50e_kinetics400_rgb_20201010-85645c2a.pth",
        "tsm_r50_1x1x16_50e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_16f_256p_k400",
        model_args=dict(num_segments=16),
        **_K400,
        protocol=dict(_RAW, **_TEN, num_frames=16),
        recipe=_R16_K400,
        metrics=_m(
            65931124736, 24327632, top1=71.89, top5=90.73, gpu_mem_mb=10398, resolution="short-side 256", gpus="8x4"
        ),
        notes=(_OLD_CONFIG,),
    ),
    _e(
        "tsm_r50_1x1x16_50e_kinetics400_rgb",
        "tsm_r50_1x1x16_50e_kinetics400_rgb_20210701-7c0c5d54.pth",
        "tsm_r50_1x1x16_50e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_16f_320p_k400",
        model_args=dict(num_segments=16),
        **_K400,
        protocol=dict(_RAW, **_TEN, num_frames=16),
        recipe=_R16_K400,
        metrics=dict(resolution="short-side 320 (inferred from its 2021-07-01 siblings)", gpus=8),
        notes=(
            "Listed only in metafile.yml, as the weights of tsm_r50_1x1x16_100e_kinetics400_rgb (with a 50e log, "
            "20210621_115844); the README gives that config another file (41ac92b9). The file name says 50 epochs; "
            "no figure is published for it, so none is given here.",
        ),
    ),
    _e(
        "tsm_r50_1x1x16_100e_kinetics400_rgb",
        "tsm_r50_1x1x16_100e_kinetics400_rgb_20210701-41ac92b9.pth",
        "tsm_r50_1x1x16_100e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_16f_320p_100e_k400",
        model_args=dict(num_segments=16),
        **_K400,
        protocol=dict(_RAW, **_TEN, num_frames=16),
        recipe=_R16_K400_100E,
        metrics=_m(
            65931124736, 24327632, top1=72.80, top5=90.75, gpu_mem_mb=10398, resolution="short-side 320", gpus=8
        ),
        notes=("metafile.yml lists 7c0c5d54 (a 50e file) for this config; the README's file is used here.",),
    ),
    _e(
        "tsm_nl_embedded_gaussian_r50_1x1x8_50e_kinetics400_rgb",
        "tsm_nl_embedded_gaussian_r50_1x1x8_50e_kinetics400_rgb_20200724-f00f1336.pth",
        "tsm_nl_embedded_gaussian_r50_1x1x8_50e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_8f_nl_embgauss_k400",
        model_args=dict(num_segments=8, non_local="embedded_gaussian"),
        **_K400,
        protocol=dict(_RAW, **_CENTER, num_frames=8),
        recipe=_R8_K400,
        metrics=_m(
            49457811456,
            31682000,
            top1=72.03,
            top5=90.25,
            reference_top1=71.81,
            reference_top5=90.36,
            gpu_mem_mb=8931,
            resolution="short-side 320",
            gpus="8x4",
        ),
        notes=(_NL,),
    ),
    _e(
        "tsm_nl_gaussian_r50_1x1x8_50e_kinetics400_rgb",
        "tsm_nl_gaussian_r50_1x1x8_50e_kinetics400_rgb_20200816-b93fd297.pth",
        "tsm_nl_gaussian_r50_1x1x8_50e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_8f_nl_gauss_k400",
        model_args=dict(num_segments=8, non_local="gaussian"),
        **_K400,
        protocol=dict(_RAW, **_CENTER, num_frames=8),
        recipe=_R8_K400,
        metrics=_m(
            41231355904, 28007888, top1=70.70, top5=89.90, gpu_mem_mb=10125, resolution="short-side 320", gpus="8x4"
        ),
        notes=(_NL,),
    ),
    _e(
        "tsm_nl_dot_product_r50_1x1x8_50e_kinetics400_rgb",
        "tsm_nl_dot_product_r50_1x1x8_50e_kinetics400_rgb_20200724-d8ad84d2.pth",
        "tsm_nl_dot_product_r50_1x1x8_50e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_8f_nl_dot_k400",
        model_args=dict(num_segments=8, non_local="dot_product"),
        **_K400,
        protocol=dict(_RAW, **_CENTER, num_frames=8),
        recipe=_R8_K400,
        metrics=_m(
            49457811456, 31682000, top1=71.60, top5=90.34, gpu_mem_mb=8358, resolution="short-side 320", gpus="8x4"
        ),
        notes=(_NL,),
    ),
    _e(
        "tsm_mobilenetv2_dense_1x1x8_100e_kinetics400_rgb",
        "tsm_mobilenetv2_dense_320p_1x1x8_100e_kinetics400_rgb_20210202-61135809.pth",
        "tsm_mobilenetv2_dense_1x1x8_100e_kinetics400_rgb",
        arch="tsm_mobilenetv2",
        tag="mm0_8f_dense_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_RAW, **_THREE, num_frames=8, sampling="dense", num_clips=10),
        recipe=_recipe(0.01, 2e-5, (40, 80), 100, 8, True, pretrained="ImageNet (mmcls mobilenet_v2)"),
        metrics=_m(3337519104, 2736272, top1=68.46, top5=88.64, gpu_mem_mb=3385, resolution="short-side 320", gpus=8),
        notes=(
            "Test: DenseSampleFrames (10 clips) x ThreeCrop(256) = 30 views. The rawframe config trains with "
            "uniform SampleFrames(1, 1, 8) (its _video_ twin trains with DenseSampleFrames).",
        ),
    ),
    dict(
        source="mm0",
        config="tsm_mobilenetv2_dense_1x1x8_kinetics400_rgb_port",
        url=f"{_ROOT}/tsm_mobilenetv2_dense_1x1x8_kinetics400_rgb_port_20210922-aa5cadf6.pth",
        released="20210922",
        arch="tsm_mobilenetv2",
        tag="mm0_8f_dense_port_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_RAW, **_THREE, num_frames=8, sampling="dense", num_clips=10),
        recipe=None,
        metrics=_m(3337519104, 2736272, top1=69.89, top5=89.01, gpu_mem_mb=3385, resolution="short-side 320", gpus=8),
        notes=(
            "Ported by MMAction2 (PR #415) from the original repo's TSM_kinetics_RGB_mobilenetv2_shift8_blockres_avg_"
            "segment8_e100_dense.pth; no training run of its own ('infer_ckpt'). Its metafile entry uses the config "
            "tsm_mobilenetv2_dense_1x1x8_100e_kinetics400_rgb, whose test pipeline (30 views) is used here; PR #415 "
            "reports 69.54/88.66 originally (30 views) and 69.04/88.23 after conversion (10 views).",
            "The file sits at the root of the tsm folder (no config directory).",
        ),
    ),
    # ---------------------------------------------------------------- Diving48
    _e(
        "tsm_r50_video_1x1x8_50e_diving48_rgb",
        "tsm_r50_video_1x1x8_50e_diving48_rgb_20210426-aba5aa3d.pth",
        "tsm_r50_video_1x1x8_50e_diving48_rgb",
        arch="tsm_r50",
        tag="mm0_8f_diving48",
        model_args=dict(num_segments=8),
        dataset="diving48",
        labels="diving48",
        num_classes=48,
        protocol=dict(_VID, **_CENTER, num_frames=8),
        recipe=_R8_K400,
        metrics=_m(32959795200, 23606384, top1=75.99, top5=97.16, gpu_mem_mb=7070, gpus=8),
    ),
    _e(
        "tsm_r50_video_1x1x16_50e_diving48_rgb",
        "tsm_r50_video_1x1x16_50e_diving48_rgb_20210426-aa9631c0.pth",
        "tsm_r50_video_1x1x16_50e_diving48_rgb",
        arch="tsm_r50",
        tag="mm0_16f_diving48",
        model_args=dict(num_segments=16),
        dataset="diving48",
        labels="diving48",
        num_classes=48,
        protocol=dict(_VID, **_CENTER, num_frames=16),
        recipe=_recipe(0.005, 1e-4, (20, 40), 50, 4, True, train_sampling="SampleFrames(1, 1, 16)"),
        metrics=_m(65919590400, 23606384, top1=81.62, top5=97.66, gpu_mem_mb=7070, gpus=8),
    ),
    # ---------------------------------------------------------------- Something-Something V1
    *(
        _e(
            directory,
            f"{directory}{suffix}.pth",
            directory,
            arch=arch,
            tag=tag,
            model_args=dict(num_segments=frames, **({"shift_every": 2} if arch == "tsm_r101" else {})),
            dataset="sthv1",
            labels="sthv1",
            num_classes=174,
            protocol=dict(_STHV1, num_frames=frames),
            recipe=recipe,
            metrics=_m(
                flops,
                params,
                top1=acc[0],
                top1_efficient=eff[0],
                top5=acc[1],
                top5_efficient=eff[1],
                gpu_mem_mb=mem,
                resolution="height 100",
                gpus=8,
                **ref,
            ),
            notes=notes,
        )
        for directory, suffix, arch, tag, frames, recipe, flops, params, acc, eff, mem, ref, notes in (
            (
                "tsm_r50_1x1x8_50e_sthv1_rgb",
                "_20210203-01dce462",
                "tsm_r50",
                "mm0_8f_sthv1",
                8,
                _R8_STHV1,
                32961859584,
                23864558,
                (47.70, 76.12),
                (45.58, 75.02),
                7077,
                dict(reference_top1=47.33, reference_top5=76.60),
                (),
            ),
            (
                "tsm_r50_flip_1x1x8_50e_sthv1_rgb",
                "_20210203-12596f16",
                "tsm_r50",
                "mm0_8f_flip_sthv1",
                8,
                dict(_R8_STHV1, flip=True, augment=f"{_MSC}, {_STHV1_FLIP}"),
                32961859584,
                23864558,
                (48.51, 77.56),
                (47.10, 76.02),
                7077,
                dict(reference_top1=47.33, reference_top5=76.60),
                (),
            ),
            (
                "tsm_r50_randaugment_1x1x8_50e_sthv1_rgb",
                "_20210324-481268d9",
                "tsm_r50",
                "mm0_8f_randaug_sthv1",
                8,
                dict(_R8_STHV1, augment=f"{_MSC}, Imgaug(transforms='default') (RandAugment-like)"),
                32961859584,
                23864558,
                (48.90, 77.92),
                (47.16, 76.07),
                7077,
                dict(reference_top1=47.33, reference_top5=76.60),
                (),
            ),
            (
                "tsm_r50_ptv_randaugment_1x1x8_50e_sthv1_rgb",
                "-ee93e5e3",
                "tsm_r50",
                "mm0_8f_ptvrandaug_sthv1",
                8,
                dict(_R8_STHV1, augment=f"{_MSC}, pytorchvideo.RandAugment"),
                None,
                None,
                (48.66, 77.41),
                (47.65, 76.67),
                7077,
                dict(reference_top1=47.33, reference_top5=76.60),
                ("Listed in README.md, not in metafile.yml.",),
            ),
            (
                "tsm_r50_ptv_augmix_1x1x8_50e_sthv1_rgb",
                "-4f4f4740",
                "tsm_r50",
                "mm0_8f_ptvaugmix_sthv1",
                8,
                dict(_R8_STHV1, augment=f"{_MSC}, pytorchvideo.AugMix"),
                None,
                None,
                (47.68, 76.49),
                (46.26, 75.92),
                7077,
                dict(reference_top1=47.33, reference_top5=76.60),
                ("Listed in README.md, not in metafile.yml.",),
            ),
            (
                "tsm_r50_flip_randaugment_1x1x8_50e_sthv1_rgb",
                "_20210324-76937692",
                "tsm_r50",
                "mm0_8f_flip_randaug_sthv1",
                8,
                dict(_R8_STHV1, flip=True, augment=f"{_MSC}, {_STHV1_FLIP}, Imgaug(transforms='default')"),
                32961859584,
                23864558,
                (50.31, 78.18),
                (47.85, 76.78),
                7077,
                dict(reference_top1=47.33, reference_top5=76.60),
                (),
            ),
            (
                "tsm_r50_mixup_1x1x8_50e_sthv1_rgb",
                "-9eca48e5",
                "tsm_r50",
                "mm0_8f_mixup_sthv1",
                8,
                dict(_R8_STHV1, augment=f"{_MSC}, MixupBlending(alpha=0.2)"),
                43051352064,
                23864558,
                (48.49, 76.88),
                (46.35, 75.07),
                None,
                {},
                ("README delta vs tsm_r50_1x1x8_50e_sthv1_rgb (efficient/accurate): top1 +0.77/+0.79.",),
            ),
            (
                "tsm_r50_cutmix_1x1x8_50e_sthv1_rgb",
                "-34934615",
                "tsm_r50",
                "mm0_8f_cutmix_sthv1",
                8,
                dict(_R8_STHV1, augment=f"{_MSC}, CutmixBlending(alpha=0.2)"),
                43051352064,
                23864558,
                (47.46, 76.71),
                (45.92, 75.23),
                None,
                {},
                ("README delta vs tsm_r50_1x1x8_50e_sthv1_rgb (efficient/accurate): top1 +0.34/-0.24.",),
            ),
            (
                "tsm_r50_1x1x16_50e_sthv1_rgb",
                "_20211202-b922e5d2",
                "tsm_r50",
                "mm0_16f_sthv1",
                16,
                dict(_R8_STHV1, lr=0.0075, videos_per_gpu=6, train_sampling="SampleFrames(1, 1, 16)"),
                65923719168,
                23864558,
                (49.03, 77.83),
                (47.77, 76.82),
                10390,
                dict(reference_top1=48.61, reference_top5=77.96),
                (),
            ),
            (
                "tsm_r101_1x1x8_50e_sthv1_rgb",
                "_20211202-49970a5b",
                "tsm_r101",
                "mm0_8f_sthv1",
                8,
                dict(_R8_STHV1, pretrained="ImageNet (torchvision resnet101)"),
                62782459904,
                42856686,
                (48.59, 77.10),
                (46.09, 75.41),
                9800,
                dict(reference_top1=48.13, reference_top5=77.31),
                ("The README's backbone cell says ResNet50; the config (depth=101) and the file name say ResNet-101.",),
            ),
        )
    ),
    # ---------------------------------------------------------------- Something-Something V2
    *(
        _e(
            config,
            filename,
            config,
            arch=arch,
            tag=tag,
            model_args=dict(num_segments=frames, **({"shift_every": 2} if arch == "tsm_r101" else {})),
            dataset="sthv2",
            labels="sthv2",
            num_classes=174,
            protocol=dict(_ACCURATE, num_frames=frames),
            recipe=recipe,
            metrics=_m(
                flops,
                params,
                top1=acc[0],
                top1_efficient=eff[0],
                top5=acc[1],
                top5_efficient=eff[1],
                reference_top1=ref,
                gpu_mem_mb=mem,
                resolution="height 256",
                gpus=8,
            ),
            notes=(
                "Rawframes with MMAction2's default file names img_{:05}.jpg (the 0.x sthv2 rawframe list).",
                *extra,
            ),
        )
        for config, filename, arch, tag, frames, recipe, flops, params, acc, eff, ref, mem, extra in (
            (
                "tsm_r50_1x1x8_50e_sthv2_rgb",
                "tsm_r50_256h_1x1x8_50e_sthv2_rgb_20210816-032aa4da.pth",
                "tsm_r50",
                "mm0_8f_sthv2",
                8,
                _recipe(0.0075, 5e-4, (20, 40), 50, 6, False),
                32961859584,
                23864558,
                (61.82, 86.80),
                (59.11, 85.39),
                61.2,
                7069,
                (
                    "metafile.yml gives reference 57.98/60.69 (top1 efficient/accurate); the README's 61.2 "
                    "(accurate) is used.",
                ),
            ),
            (
                "tsm_r50_1x1x16_50e_sthv2_rgb",
                "tsm_r50_256h_1x1x16_50e_sthv2_rgb_20210331-0a45549c.pth",
                "tsm_r50",
                "mm0_16f_sthv2",
                16,
                _recipe(0.0075, 5e-4, (20, 40), 50, 6, False, train_sampling="SampleFrames(1, 1, 16)"),
                32961859584,
                23864558,
                (63.19, 87.93),
                (61.06, 86.66),
                63.1,
                10400,
                ("metafile.yml FLOPs are those of 8 frames (32.96G); a 16-frame TSM-R50 has about twice as many.",),
            ),
            (
                "tsm_r101_1x1x8_50e_sthv2_rgb",
                "tsm_r101_256h_1x1x8_50e_sthv2_rgb_20210401-df97f3e1.pth",
                "tsm_r101",
                "mm0_8f_sthv2",
                8,
                _recipe(0.01, 5e-4, (20, 40), 50, 8, False, pretrained="ImageNet (torchvision resnet101)"),
                62782459904,
                42856686,
                (63.84, 88.30),
                (60.88, 86.56),
                63.3,
                9727,
                (),
            ),
        )
    ),
    # ---------------------------------------------------------------- Jester
    _e(
        "tsm_r50_1x1x8_50e_jester_rgb",
        "tsm_r50_1x1x8_50e_jester_rgb-c799267e.pth",
        "tsm_r50_1x1x8_50e_jester_rgb",
        arch="tsm_r50",
        tag="mm0_8f_jester",
        model_args=dict(num_segments=8),
        dataset="jester",
        labels="jester",
        num_classes=27,
        protocol=dict(_ACCURATE, filename_tmpl="{:05}.jpg", num_frames=8),
        recipe=_recipe(
            0.01,
            5e-4,
            (20, 40),
            50,
            8,
            True,
            augment="RandomResizedCrop, Resize(224, 224), Flip(0.5) with flip_label_map {0: 1, 1: 0, 6: 7, 7: 6}",
        ),
        metrics=_m(43048943616, 23563355, top1=97.2, top1_efficient=96.5, resolution="height 100", gpus=8),
        notes=("Classes in MMAction2's Jester label map order (official order, 'Swiping Left' first).",),
    ),
    # ---------------------------------------------------------------- HMDB51 / UCF101 (fine-tuned from K400)
    *(
        _e(
            config,
            f"{config}_{suffix}.pth",
            config,
            arch="tsm_r50",
            tag=f"mm0_{frames}f_k400_ft_{ds}",
            model_args=dict(num_segments=frames),
            dataset=ds,
            labels=ds,
            num_classes=classes,
            protocol=dict(_RAW, **_CENTER, num_frames=frames),
            recipe=_recipe(
                0.0015 if frames == 8 else 0.00075,
                1e-4,
                (10, 20),
                25,
                12 if frames == 8 else 6,
                False,
                pretrained=_K400_FT.format(n=frames, h="020785e2" if frames == 8 else "85645c2a"),
                train_sampling=f"SampleFrames(1, 1, {frames})",
            ),
            metrics=_m(flops, params, top1=t1, top5=t5, gpu_mem_mb=mem, gpus=8),
            notes=("Split 1 of the dataset.",),
        )
        for config, suffix, frames, ds, classes, flops, params, t1, t5, mem in (
            (
                "tsm_k400_pretrained_r50_1x1x8_25e_hmdb51_rgb",
                "20210630-10c74ee5",
                8,
                "hmdb51",
                51,
                32959844352,
                23612531,
                72.68,
                92.03,
                10388,
            ),
            (
                "tsm_k400_pretrained_r50_1x1x16_25e_hmdb51_rgb",
                "20210630-4785548e",
                16,
                "hmdb51",
                51,
                65919688704,
                23612531,
                74.77,
                93.86,
                10388,
            ),
            (
                "tsm_k400_pretrained_r50_1x1x8_25e_ucf101_rgb",
                "20210630-1fae312b",
                8,
                "ucf101",
                101,
                32960663552,
                23714981,
                94.50,
                99.58,
                10389,
            ),
            (
                "tsm_k400_pretrained_r50_1x1x16_25e_ucf101_rgb",
                "20210630-8df9c358",
                16,
                "ucf101",
                101,
                65921327104,
                23714981,
                94.58,
                99.37,
                10389,
            ),
        )
    ),
)

# ---------------------------------------------------------------- the June-2020 files (the seed's 7 records)
# Two are still in the final 0.x zoo (af7fb746, a77f4328); the other five were replaced in v0.7-v0.8
# (research/mmaction2_tsm.md section 0). Their configs at v0.6.0: research/mmaction2_tsm.md section 4.2.
_NOTE_16F = (
    "The June-2020 16-frame config left the backbone's num_segments at its default 8: the shift works on two "
    "independent groups of 8 frames and the head averages all 16 logits. Built here with num_segments=8 and fed "
    "16 frames (num_frames=16), which is what the checkpoint was trained and evaluated with."
)
_NOTE_339 = (
    "The June-2020 sthv2 configs set num_classes=339 (fixed to 174 and retrained in September 2020): the "
    "classifier has 339 rows, of which only 0..173 correspond to sthv2 labels. All 339 logits are kept to "
    "reproduce MMAction2; predictions only rank the 174 named classes."
)
_R2020 = dict(_recipe(0.01, 1e-4, (20, 40), 50, 8, True))


def _e2020(directory: str, filename: str, config: str, log: str, **kw: Any) -> dict[str, Any]:
    return dict(
        source="mm0",
        config=config,
        url=f"{_ROOT_2020}/{directory}/{filename}",
        log_url=f"{_ROOT_2020}/{directory}/{log}",
        released=filename.rsplit("_", 1)[-1][:8],
        **kw,
    )


SEED_ENTRIES: tuple[dict[str, Any], ...] = (
    _e2020(
        "tsm_r50_1x1x8_50e_kinetics400_rgb",
        "tsm_r50_1x1x8_50e_kinetics400_rgb_20200607-af7fb746.pth",
        "tsm_r50_1x1x8_50e_kinetics400_rgb",
        "20200607_211800.log",
        arch="tsm_r50",
        tag="mm0_8f_340x256_k400",
        user_name="tsm_r50_1x1x8_kinetics400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_RAW_2020, **_CENTER, num_frames=8),
        recipe=_R2020,
        metrics=dict(
            top1=70.24,
            top5=89.56,
            reference_top1=70.36,
            reference_top5=89.49,
            gpu_mem_mb=7079,
            inference_time=74.0,
            inference_frames="8x1 frames",
            resolution="340x256",
            gpus=8,
        ),
    ),
    _e2020(
        "tsm_r50_video_1x1x8_100e_kinetics400_rgb",
        "tsm_r50_video_1x1x8_100e_kinetics400_rgb_20200702-a77f4328.pth",
        "tsm_r50_video_1x1x8_50e_kinetics400_rgb",
        "tsm_r50_video_2d_1x1x8_50e_kinetics400_rgb.log",
        arch="tsm_r50",
        tag="mm0_8f_video_k400",
        user_name="tsm_r50_video_1x1x8_kinetics400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_RAW_2020, **_CENTER, num_frames=8, input_format="video", start_index=0),
        recipe=dict(_R2020, lr=0.02),
        metrics=dict(
            top1=70.25,
            top5=89.66,
            reference_top1=70.36,
            reference_top5=89.49,
            gpu_mem_mb=7077,
            inference_time=74.0,
            inference_frames="8x1 frames",
            resolution="short-side 256",
            gpus=8,
        ),
        aliases=("tsm_r50_video_1x1x8_100e_kinetics400_rgb",),
        notes=("The checkpoint file says 100e but the run was 50 epochs (its log is named ..._50e_...).",),
    ),
    _e2020(
        "tsm_r50_dense_1x1x8_100e_kinetics400_rgb",
        "tsm_r50_dense_1x1x8_100e_kinetics400_rgb_20200626-91a54551.pth",
        "tsm_r50_dense_1x1x8_100e_kinetics400_rgb",
        "20200626_213415.log",
        arch="tsm_r50",
        tag="mm0_8f_dense_340x256_k400",
        user_name="tsm_r50_dense_1x1x8_kinetics400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_RAW_2020, **_CENTER, num_frames=8, sampling="dense", num_clips=10),
        recipe=dict(
            _R2020, lr=0.02, lr_steps=(40, 80), epochs=100, train_sampling="DenseSampleFrames(1, 1, 8), sample_range 64"
        ),
        metrics=dict(
            top1=72.9,
            top5=90.44,
            reference_top1=72.22,
            reference_top5=90.37,
            gpu_mem_mb=7079,
            inference_time=11.5,
            inference_frames="8x10 frames",
            resolution="340x256",
            gpus="8x4",
        ),
        notes=("Dense test protocol: 10 clips of 8 frames 8 apart, starts spread over the video (80 frames).",),
    ),
    _e2020(
        "tsm_r50_1x1x16_50e_kinetics400_rgb",
        "tsm_r50_1x1x16_50e_kinetics400_rgb_20200607-f731bffc.pth",
        "tsm_r50_1x1x16_50e_kinetics400_rgb",
        "20200607_221310.log",
        arch="tsm_r50",
        tag="mm0_16f_seg8_340x256_k400",
        user_name="tsm_r50_1x1x16_kinetics400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_RAW_2020, **_CENTER, num_frames=16),
        recipe=dict(_R2020, lr=0.0075, videos_per_gpu=6, train_sampling="SampleFrames(1, 1, 16)"),
        metrics=dict(
            top1=71.69,
            top5=90.4,
            reference_top1=70.67,
            reference_top5=89.98,
            gpu_mem_mb=10404,
            inference_time=47.0,
            inference_frames="16x1 frames",
            resolution="340x256",
            gpus=8,
        ),
        notes=(_NOTE_16F,),
    ),
    _e2020(
        "tsm_r50_1x1x8_50e_sthv1_rgb",
        "tsm_r50_1x1x8_50e_sthv1_rgb_20200616-3417f361.pth",
        "tsm_r50_1x1x8_50e_sthv1_rgb",
        "20200616_022852.log",
        arch="tsm_r50",
        tag="mm0_8f_200616_sthv1",
        user_name="tsm_r50_1x1x8_sthv1",
        model_args=dict(num_segments=8),
        dataset="sthv1",
        labels="sthv1",
        num_classes=174,
        protocol=dict(_RAW_2020, **_CENTER, num_frames=8, filename_tmpl="{:05}.jpg"),
        recipe=dict(_R2020, weight_decay=5e-4, flip=False, augment=_MSC),
        metrics=dict(
            top1=44.62,
            top5=75.51,
            reference_top1=42.08,
            reference_top5=72.66,
            gpu_mem_mb=7077,
            resolution="short-side 100",
            gpus=8,
        ),
        notes=(
            "Class indices follow MMAction2's sthv1 label map (the official csv line order); the original TSM "
            "repo sorts sthv1 classes alphabetically, so its sthv1 checkpoints index classes differently.",
        ),
    ),
    _e2020(
        "tsm_r50_1x1x16_50e_sthv2_rgb",
        "tsm_r50_1x1x16_50e_sthv2_rgb_20200621-60ff441a.pth",
        "tsm_r50_1x1x16_50e_sthv2_rgb",
        "20200621_101921.log",
        arch="tsm_r50",
        tag="mm0_16f_seg8_c339_sthv2",
        user_name="tsm_r50_1x1x16_sthv2",
        model_args=dict(num_segments=8),
        dataset="sthv2",
        labels="sthv2",
        num_classes=339,
        num_labels=174,
        protocol=dict(_RAW_2020, **_CENTER, num_frames=16, filename_tmpl="{:06}.jpg"),
        recipe=dict(
            _R2020,
            lr=0.0075,
            weight_decay=5e-4,
            videos_per_gpu=6,
            flip=False,
            augment=_MSC,
            train_sampling="SampleFrames(1, 1, 16)",
        ),
        metrics=dict(
            top1=57.68,
            top5=83.65,
            reference_top1=56.57,
            reference_top5=84.30,
            gpu_mem_mb=10400,
            resolution="short-side 240",
            gpus=8,
        ),
        notes=(_NOTE_16F, _NOTE_339),
    ),
    _e2020(
        "tsm_r101_1x1x8_50e_sthv2_rgb",
        "tsm_r101_1x1x8_50e_sthv2_rgb_20200625-df82f5e6.pth",
        "tsm_r101_1x1x8_50e_sthv2_rgb",
        "20200625_224131.log",
        arch="tsm_r101",
        tag="mm0_8f_c339_sthv2",
        user_name="tsm_r101_1x1x8_sthv2",
        model_args=dict(num_segments=8, shift_every=2),
        dataset="sthv2",
        labels="sthv2",
        num_classes=339,
        num_labels=174,
        protocol=dict(_RAW_2020, **_CENTER, num_frames=8, filename_tmpl="{:06}.jpg"),
        recipe=dict(
            _R2020,
            lr=0.02,
            weight_decay=5e-4,
            flip=False,
            augment=_MSC,
            pretrained="ImageNet (torchvision resnet101 weights)",
        ),
        metrics=dict(
            top1=59.12,
            top5=85.74,
            reference_top1=59.20,
            reference_top5=85.27,
            gpu_mem_mb=9784,
            resolution="short-side 240",
            gpus=8,
        ),
        notes=(
            "ResNet-101 shifts only every 2nd block of each stage (MMAction2/TSM n_round=2): 18 shifted blocks.",
            _NOTE_339,
        ),
    ),
)
