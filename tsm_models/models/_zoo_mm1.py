"""Zoo records of MMAction2 1.x (``main`` branch, ``configs/recognition/tsm/``): 12 checkpoints.

Plain data (stdlib only), read by :mod:`tsm_models.models.zoo`. Facts come from the configs (resolved with
mmengine's ``Config.fromfile``), ``README.md`` and ``metafile.yml`` of open-mmlab/mmaction2 ``main`` @ 4d6c9347,
as collected in ``research/zoo_landscape.md`` section 1. Where README and config differ, the config wins and the
entry says so in its notes.
"""

from __future__ import annotations

from typing import Any

_ROOT = "https://download.openmmlab.com/mmaction/v1.0/recognition/tsm"

# Every 1.x TSM config: decord videos, Resize(-1, 256), ActionDataPreprocessor RGB mean/std, TSMHead
# average_clips='prob', TSMOptimWrapperConstructor(fc_lr5=True), SGD momentum 0.9, clip_grad max_norm 20.
_VIDEO = dict(input_format="video", start_index=0, average_clips="prob", geometry="mmaction2")
_TEN = dict(_VIDEO, crop="ten", crop_size=224)  # SampleFrames(test_mode) -> TenCrop(224): 10 views
_THREE = dict(_VIDEO, crop="three", crop_size=256)  # ThreeCrop(256) on the 256 short side: 3 views
_K400 = dict(dataset="kinetics400", labels="kinetics400", num_classes=400)
_STHV2 = dict(dataset="sthv2", labels="sthv2", num_classes=174)
_OPTIM = "SGD momentum 0.9, TSM param groups (fc weight lr x5, fc bias lr x10), clip_grad max_norm 20"
_MSC = "Resize(-1, 256), MultiScaleCrop(224, scales=(1, .875, .75, .66)), Resize(224, 224), Flip(0.5)"
_STHV2_FLIP = "flip_label_map {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}"


def _url(config: str, suffix: str) -> str:
    return f"{_ROOT}/{config}/{config}_{suffix}.pth"


def _recipe(epochs: int, wd: float, warmup: int = 5, steps: tuple[int, ...] = (25, 45), **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = dict(
        lr=0.02,
        weight_decay=wd,
        lr_steps=steps,
        epochs=epochs,
        warmup_epochs=warmup,
        videos_per_gpu=16,
        gpus=8,
        flip=True,
        optimizer=_OPTIM,
        pretrained="ImageNet (torchvision resnet50)",
        train_sampling="SampleFrames(1, 1, 8)",
        augment=_MSC,
    )
    out.update(kw)
    return out


def _entry(config: str, suffix: str, **kw: Any) -> dict[str, Any]:
    return dict(source="mm1", config=config, url=_url(config, suffix), released=suffix[:8], **kw)


_NL_NOTE = (
    "Non-local blocks (mmcv NonLocal3d, sub_sample=True, use_scale=False, BN3d) after blocks layer2.{0,2} and "
    "layer3.{0,2,4} (non_local=((0,0,0), (1,0,1,0), (1,0,1,0,1,0), (0,0,0)))."
)

ENTRIES: tuple[dict[str, Any], ...] = (
    _entry(
        "tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb",
        "20220831-64d69186",
        arch="tsm_r50",
        tag="mm1_8f_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_TEN, num_frames=8),
        recipe=_recipe(50, 1e-4),
        metrics=dict(top1=73.18, top5=90.56, views="8 frames x 10 crops", flops="32.88G", params="23.87M", gpus=8),
    ),
    _entry(
        "tsm_imagenet-pretrained-r50_8xb16-1x1x8-100e_kinetics400-rgb",
        "20220831-a6db1e5d",
        arch="tsm_r50",
        tag="mm1_8f_100e_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_TEN, num_frames=8),
        recipe=_recipe(100, 1e-4, warmup=10, steps=(50, 90)),
        metrics=dict(top1=73.22, top5=90.22, views="8 frames x 10 crops", flops="32.88G", params="23.87M", gpus=8),
    ),
    _entry(
        "tsm_imagenet-pretrained-r50_8xb16-1x1x16-50e_kinetics400-rgb",
        "20220831-042b1748",
        arch="tsm_r50",
        tag="mm1_16f_k400",
        model_args=dict(num_segments=16),
        **_K400,
        protocol=dict(_TEN, num_frames=16),
        recipe=_recipe(50, 1e-4, train_sampling="SampleFrames(1, 1, 16)"),
        metrics=dict(top1=75.12, top5=91.55, views="16 frames x 10 crops", flops="65.75G", params="23.87M", gpus=8),
    ),
    _entry(
        "tsm_imagenet-pretrained-r50_8xb16-dense-1x1x8-50e_kinetics400-rgb",
        "20220831-f55d3c2b",
        arch="tsm_r50",
        tag="mm1_8f_dense_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_TEN, num_frames=8, sampling="dense", num_clips=10),
        recipe=_recipe(50, 1e-4, train_sampling="DenseSampleFrames(1, 1, 8), sample_range 64"),
        metrics=dict(top1=73.38, top5=90.78, views="8 frames x 10 crops", flops="32.88G", params="23.87M", gpus=8),
        notes=(
            "The README's testing protocol says '8 clips x 10 crop'; the config samples DenseSampleFrames(num_clips=8) "
            "with its defaults sample_range=64, num_sample_positions=10: 10 clips of 8 frames x TenCrop = 100 views "
            "(followed here).",
        ),
    ),
    _entry(
        "tsm_imagenet-pretrained-r50-nl-dot-product_8xb16-1x1x8-50e_kinetics400-rgb",
        "20220831-108bfde5",
        arch="tsm_r50",
        tag="mm1_8f_nl_dot_k400",
        model_args=dict(num_segments=8, non_local="dot_product"),
        **_K400,
        protocol=dict(_TEN, num_frames=8),
        recipe=_recipe(50, 1e-4),
        metrics=dict(top1=74.49, top5=91.15, views="8 frames x 10 crops", flops="61.30G", params="31.68M", gpus=8),
        notes=(_NL_NOTE,),
    ),
    _entry(
        "tsm_imagenet-pretrained-r50-nl-gaussian_8xb16-1x1x8-50e_kinetics400-rgb",
        "20220831-7e54dacf",
        arch="tsm_r50",
        tag="mm1_8f_nl_gauss_k400",
        model_args=dict(num_segments=8, non_local="gaussian"),
        **_K400,
        protocol=dict(_TEN, num_frames=8),
        recipe=_recipe(50, 1e-4),
        metrics=dict(top1=73.66, top5=90.99, views="8 frames x 10 crops", flops="59.06G", params="28.00M", gpus=8),
        notes=(_NL_NOTE + " The gaussian mode has no theta/phi convolutions.",),
    ),
    _entry(
        "tsm_imagenet-pretrained-r50-nl-embedded-gaussian_8xb16-1x1x8-50e_kinetics400-rgb",
        "20220831-35eddb57",
        arch="tsm_r50",
        tag="mm1_8f_nl_embgauss_k400",
        model_args=dict(num_segments=8, non_local="embedded_gaussian"),
        **_K400,
        protocol=dict(_TEN, num_frames=8),
        recipe=_recipe(50, 1e-4),
        metrics=dict(top1=74.34, top5=91.23, views="8 frames x 10 crops", flops="61.30G", params="31.68M", gpus=8),
        notes=(_NL_NOTE,),
    ),
    _entry(
        "tsm_imagenet-pretrained-mobilenetv2_8xb16-1x1x8-100e_kinetics400-rgb",
        "20230414-401127fd",
        arch="tsm_mobilenetv2",
        tag="mm1_8f_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_THREE, num_frames=8),
        recipe=_recipe(100, 2e-5, warmup=0, steps=(40, 80), pretrained="ImageNet (mmcls mobilenet_v2)", augment=_MSC),
        metrics=dict(top1=68.71, top5=88.32, views="8 frames x 3 crops", flops="3.269G", params="2.736M", gpus=8),
        notes=(
            "metafile.yml has no entry for this checkpoint (its MobileNetV2 metadata sits on a duplicate R101 sthv2 "
            "entry); figures from README.md.",
        ),
    ),
    _entry(
        "tsm_imagenet-pretrained-mobileone-s4_8xb16-1x1x16-50e_kinetics400-rgb",
        "20230825-a7f8876b",
        arch="tsm_mobileone_s4",
        tag="mm1_16f_seg8_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_THREE, num_frames=16),
        recipe=_recipe(
            50,
            2e-5,
            videos_per_gpu=8,
            pretrained="ImageNet (mmpretrain mobileone-s4_8xb32_in1k_20221110-28d888cb)",
            train_sampling="SampleFrames(1, 1, 16)",
        ),
        metrics=dict(top1=74.38, top5=91.71, views="16 frames x 3 crops", flops="48.65G", params="13.72M", gpus=8),
        notes=(
            "The config sets the backbone's num_segments to 8 (from the base) and only the head's to 16: the shift "
            "works on two independent groups of 8 frames. Built here with num_segments=8 and fed 16 frames.",
            "The README's testing protocol says '16 clips x 10 crop'; the config's test pipeline is ThreeCrop(256): "
            "3 views (followed here).",
            "Reparameterisable (MMAction2 tools/convert/reparameterize_model.py + the _deploy_ config); the "
            "reparameterised model is not a separate download.",
        ),
    ),
    _entry(
        "tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv2-rgb",
        "20230317-be0fc26e",
        arch="tsm_r50",
        tag="mm1_8f_sthv2",
        model_args=dict(num_segments=8),
        **_STHV2,
        protocol=dict(_THREE, num_frames=8, num_clips=2),
        recipe=_recipe(50, 5e-4, augment=f"{_MSC}, {_STHV2_FLIP}"),
        metrics=dict(
            top1=62.72, top5=87.70, views="8 frames x 2 clips x 3 crops", flops="32.88G", params="23.87M", gpus=8
        ),
        notes=("Test: SampleFrames(twice_sample=True) -> 2 clips x ThreeCrop(256) = 6 views.",),
    ),
    _entry(
        "tsm_imagenet-pretrained-r50_8xb16-1x1x16-50e_sthv2-rgb",
        "20230317-ec6696ad",
        arch="tsm_r50",
        tag="mm1_16f_sthv2",
        model_args=dict(num_segments=16),
        **_STHV2,
        protocol=dict(_THREE, num_frames=16, num_clips=2),
        recipe=_recipe(50, 5e-4, train_sampling="SampleFrames(1, 1, 16)", augment=f"{_MSC}, {_STHV2_FLIP}"),
        metrics=dict(
            top1=64.16, top5=88.61, views="16 frames x 2 clips x 3 crops", flops="65.75G", params="23.87M", gpus=8
        ),
        notes=(
            "The config puts its 16-frame test pipeline at the test_dataloader level (test_dataloader = "
            "dict(pipeline=..., test_mode=True)), not under dataset, so MMAction2's own test run keeps the inherited "
            "8-frame pipeline (inferred from the merged config, not run). The protocol here is the config's "
            "test_pipeline: 16 frames x 2 clips x ThreeCrop(256).",
        ),
    ),
    _entry(
        "tsm_imagenet-pretrained-r101_8xb16-1x1x8-50e_sthv2-rgb",
        "20230320-efcc0d1b",
        arch="tsm_r101",
        tag="mm1_8f_sthv2",
        model_args=dict(num_segments=8, shift_every=2),
        **_STHV2,
        protocol=dict(_THREE, num_frames=8, num_clips=2),
        recipe=_recipe(50, 5e-4, pretrained="ImageNet (torchvision resnet101)", augment=f"{_MSC}, {_STHV2_FLIP}"),
        metrics=dict(
            top1=63.70, top5=88.28, views="8 frames x 2 clips x 3 crops", flops="62.66G", params="42.86M", gpus=8
        ),
        notes=("ResNet-101 shifts every 2nd block of each stage (n_round=2).",),
    ),
)
