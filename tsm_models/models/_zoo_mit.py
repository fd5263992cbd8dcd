"""Zoo records of the original TSM repository (mit-han-lab/temporal-shift-module): 12 README models + the
online-demo Jester MobileNetV2.

Plain data (stdlib only), read by :mod:`tsm_models.models.zoo`. Facts come from the repository @ 1f6a834b:
``README.md`` ("Pretrained Models" and "Testing"), ``test_models.py``, ``ops/dataset.py``, ``ops/transforms.py``,
``ops/models.py``, ``ops/dataset_config.py``, ``scripts/train_tsm_kinetics_rgb_{8,16}f.sh`` and
``online_demo/main.py``, as collected in ``research/zoo_landscape.md`` section 3. The file names carry no hash,
so these downloads cannot be checked against a sha256 prefix.

Test protocols are the README's test commands (``test_models.py`` flags): ``--test_crops=1`` = GroupScale(256)
+ GroupCenterCrop(224); ``--test_crops=3`` = GroupFullResSample (left/right/center crops of ``input_size``,
224, or the 256 scale size with ``--full_res``); ``--dense_sample`` = 10 starts ``linspace(0, max(1, 1 + F -
64) - 1, 10)`` with stride ``64 // segments``; ``--twice_sample`` = the shifted and unshifted uniform starts.
The views' logits are averaged (``rst.reshape(batch, num_crop, -1).mean(1)``; ``--softmax`` is off in every
README command), i.e. ``average_clips="score"``. Frames are PIL images: torchvision ``Resize(256)`` (short side
256, long side truncated, PIL bilinear) and ``CenterCrop`` (offsets rounded): ``geometry="mit"``.
"""

from __future__ import annotations

from typing import Any

_ROOT = "https://hanlab18.mit.edu/projects/tsm/models"

_MIT = dict(geometry="mit", average_clips="score", input_format="rawframes", start_index=1)
_K400_RAW = dict(_MIT, filename_tmpl="img_{:05}.jpg")
_CENTER = dict(crop="center", crop_size=224)
_DENSE_FULLRES = dict(sampling="dense", num_clips=10, crop="full_res", crop_size=256)
_TWICE_3CROP = dict(num_clips=2, crop="full_res", crop_size=224)
_K400 = dict(dataset="kinetics400", labels="kinetics400", num_classes=400)
_OPTIM = "SGD momentum 0.9, TSN param groups (fc weight lr x5, fc bias lr x10), clip_gradient 20"
_AUG = "GroupMultiScaleCrop(224, [1, .875, .75, .66]), GroupRandomHorizontalFlip"

_K400_RECIPE = dict(
    lr=0.02,
    weight_decay=1e-4,
    lr_steps=(20, 40),
    epochs=50,
    warmup_epochs=0,
    videos_per_gpu=None,
    gpus=None,
    batch_size=128,
    flip=True,
    optimizer=_OPTIM,
    pretrained="ImageNet (torchvision resnet50)",
    train_sampling="TSN segments, random frame per segment",
    augment=_AUG,
)
_FULL_RES_NOTE = (
    "The README calls the accurate setting 'full resolution x 2 clips', but its command (test_models.py "
    "--test_crops=3 --twice_sample, no --full_res) takes GroupFullResSample crops of input_size 224 from the "
    "256-short-side frames; followed here."
)
_STH_RECIPE_NOTE = (
    "The README gives no Something-Something training command; the recipe is not recorded (the file name says "
    "45 epochs)."
)


def _e(filename: str, **kw: Any) -> dict[str, Any]:
    return dict(source="mit", config=None, url=f"{_ROOT}/{filename}", released=None, **kw)


ENTRIES: tuple[dict[str, Any], ...] = (
    # ---------------------------------------------------------------- Kinetics-400, dense sampling
    _e(
        "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e100_dense.pth",
        arch="tsm_r50",
        tag="mit_8f_dense_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_K400_RAW, **_DENSE_FULLRES, num_frames=8),
        recipe=dict(_K400_RECIPE, epochs=100, lr_steps=(), train_sampling="dense: 8 frames 8 apart, random start"),
        metrics=dict(top1=74.1, views="8 frames x 10 clips x 3 crops (full res)"),
        notes=(
            "Test command: test_models.py --test_segments=8 --test_crops=3 --dense_sample --full_res: 10 dense "
            "clips x 3 crops of 256 (GroupFullResSample) = 30 views. The training command of the dense models is "
            "not in the README (the file name says 100 epochs); the lr steps are not recorded.",
        ),
    ),
    _e(
        "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e100_dense_nl.pth",
        arch="tsm_r50",
        tag="mit_8f_dense_nl_k400",
        model_args=dict(num_segments=8, non_local="embedded_gaussian"),
        **_K400,
        protocol=dict(_K400_RAW, **_DENSE_FULLRES, num_frames=8),
        recipe=dict(_K400_RECIPE, epochs=100, lr_steps=(), train_sampling="dense: 8 frames 8 apart, random start"),
        metrics=dict(top1=75.6, views="8 frames x 10 clips x 3 crops (full res)"),
        notes=(
            "Non-local (ops/non_local.py, embedded gaussian, inter C/2, MaxPool3d(1,2,2), unscaled softmax) on "
            "layer2.{0,2} and layer3.{0,2,4}, after the shift: the same positions and math as MMAction2's "
            "embedded_gaussian with use_scale=False. Its W.0 convolution has a bias that MMAction2's conv_out has "
            "not (it folds into the following BN's running mean when converting).",
        ),
    ),
    _e(
        "TSM_kinetics_RGB_mobilenetv2_shift8_blockres_avg_segment8_e100_dense.pth",
        arch="tsm_mobilenetv2",
        tag="mit_8f_dense_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_K400_RAW, **_DENSE_FULLRES, num_frames=8),
        recipe=dict(
            _K400_RECIPE,
            epochs=100,
            lr_steps=(),
            pretrained="ImageNet (archs/mobilenet_v2.py weights)",
            train_sampling="dense: 8 frames 8 apart, random start",
        ),
        metrics=dict(top1=69.5, views="8 frames x 10 clips x 3 crops (full res)"),
        notes=(
            "The README link of this file is reported to serve another file (mit-han-lab/temporal-shift-module "
            "issue 211, open); MMAction2 0.x ported it as tsm_mobilenetv2_dense_1x1x8_kinetics400_rgb_port.",
        ),
    ),
    # ---------------------------------------------------------------- Kinetics-400, uniform sampling
    _e(
        "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth",
        arch="tsm_r50",
        tag="mit_8f_k400",
        model_args=dict(num_segments=8),
        **_K400,
        protocol=dict(_K400_RAW, **_CENTER, num_frames=8),
        recipe=_K400_RECIPE,
        metrics=dict(top1=71.2, top1_10crop=72.8, views="8 frames x 1 center crop"),
        notes=(
            "Test command: test_models.py --test_segments=8 --test_crops=1 (README 'acc (1-crop)'); the README's "
            "10-crop figure (72.8) uses --test_crops=10 (GroupOverSample: the TenCrop boxes, each crop then its "
            "flip).",
        ),
    ),
    _e(
        "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment16_e50.pth",
        arch="tsm_r50",
        tag="mit_16f_k400",
        model_args=dict(num_segments=16),
        **_K400,
        protocol=dict(_K400_RAW, **_CENTER, num_frames=16),
        recipe=_K400_RECIPE,
        metrics=dict(top1=72.6, top1_10crop=73.7, views="16 frames x 1 center crop"),
        notes=("Test as the 8-frame model with --test_segments=16; README 10-crop figure 73.7.",),
    ),
    _e(
        "TSM_kinetics_Flow_resnet50_shift8_blockres_avg_segment8_e50.pth",
        arch="tsm_r50",
        tag="mit_8f_flow_k400",
        model_args=dict(num_segments=8, in_chans=10),
        **_K400,
        protocol=dict(
            _MIT,
            filename_tmpl="flow_{}_{:05}.jpg",
            modality="flow",
            mean=(127.5,),
            std=(57.63,),
            **_CENTER,
            num_frames=8,
        ),
        recipe=dict(_K400_RECIPE, train_sampling="TSN segments, 5 consecutive flow frames (x, y) per segment"),
        metrics=dict(top1=55.7, top5=79.5, views="8 segments x 1 clip"),
        notes=(
            "Optical-flow model: the stem takes 10 channels, 5 consecutive (x, y) flow frames per segment, "
            "channels ordered x1, y1, ..., x5, y5 (the repo's Stack of 'L' images), each normalised with mean 0.5 "
            "and std 0.226 on the 0-1 scale. Weights load and forward works on flow stacks (B, T, 10, H, W) that "
            "you supply: this library does not compute optical flow (the repo used TV-L1 JPEG flow images, "
            "flow_x_00001.jpg / flow_y_00001.jpg), and predict() refuses flow entries.",
            "The README: 'intended for transfer learning ... not for performance evaluation'.",
        ),
    ),
    # ---------------------------------------------------------------- Something-Something V1 (alphabetical)
    *(
        _e(
            f"TSM_something_RGB_{base}_shift8_blockres_avg_segment{frames}_e45.pth",
            arch=arch,
            tag=f"mit_{frames}f_sthv1",
            model_args=dict(num_segments=frames, **({"shift_every": 2} if arch == "tsm_r101" else {})),
            dataset="sthv1",
            labels="sthv1_alphabetical",
            num_classes=174,
            protocol=dict(_MIT, filename_tmpl="{:05}.jpg", **_TWICE_3CROP, num_frames=frames),
            recipe=None,
            metrics=dict(top1=acc, top1_efficient=eff, views=f"{frames} frames x 2 clips x 3 crops"),
            notes=(
                _FULL_RES_NOTE,
                "Classes are indexed alphabetically (tools/gen_label_sthv1.py sorts them), not in the csv order "
                "MMAction2 uses.",
                _STH_RECIPE_NOTE,
            ),
        )
        for arch, base, frames, eff, acc in (
            ("tsm_r50", "resnet50", 8, 45.6, 47.2),
            ("tsm_r50", "resnet50", 16, 47.2, 48.4),
            ("tsm_r101", "resnet101", 8, 46.9, 48.7),
        )
    ),
    # ---------------------------------------------------------------- Something-Something V2
    *(
        _e(
            f"TSM_somethingv2_RGB_{base}_shift8_blockres_avg_segment{frames}_e45.pth",
            arch=arch,
            tag=f"mit_{frames}f_sthv2",
            model_args=dict(num_segments=frames, **({"shift_every": 2} if arch == "tsm_r101" else {})),
            dataset="sthv2",
            labels="sthv2",
            num_classes=174,
            protocol=dict(_MIT, filename_tmpl="{:06}.jpg", **_TWICE_3CROP, num_frames=frames),
            recipe=None,
            metrics=dict(top1=acc, views=f"{frames} frames x 2 clips x 3 crops"),
            notes=(_FULL_RES_NOTE, _STH_RECIPE_NOTE),
        )
        for arch, base, frames, acc in (
            ("tsm_r50", "resnet50", 8, 61.2),
            ("tsm_r50", "resnet50", 16, 63.1),
            ("tsm_r101", "resnet101", 8, 63.3),
        )
    ),
    # ---------------------------------------------------------------- online demo (Jester)
    _e(
        "mobilenetv2_jester_online.pth.tar",
        arch="tsm_mobilenetv2",
        tag="mit_8f_online_jester",
        model_args=dict(num_segments=8, shift_direction="online"),
        dataset="jester",
        labels="jester_alphabetical",
        num_classes=27,
        protocol=dict(
            geometry="mit",
            average_clips="score",
            input_format="video",
            start_index=0,
            channel_order="bgr",
            **_CENTER,
            num_frames=8,
        ),
        recipe=None,
        metrics=dict(views="streaming, 1 frame per step"),
        notes=(
            "The online demo's model (online_demo/main.py): MobileNetV2 with a uni-directional shift (channels "
            "[0, C/8) of frame t come from frame t-1) in the residual branch of blocks 2,4,5,7,8,9,11,12,14,15; "
            "made for frame-by-frame streaming (model.stream()). A clip of 8 frames through the offline model "
            "gives the same per-frame logits as 8 streaming steps from empty buffers. The demo itself sums the "
            "logits of the last 12 steps and smooths the label (process_output); no accuracy is published.",
            "Channel order BGR: the demo feeds OpenCV frames through PIL without a channel swap, normalised with "
            "the ImageNet RGB mean/std; preprocessing here swaps RGB input to BGR before that normalisation.",
            "Classes in alphabetical order ('Doing other things' first), as listed in online_demo/main.py, not "
            "the official Jester order.",
            "Keys features.N..., classifier.* (no module./base_model. prefix, no .net wrappers): its own layout.",
        ),
    ),
)
