"""The model zoo: one frozen record per released TSM checkpoint (plain data, standard library only).

This module is the only place where zoo facts live (URLs, hashes, architecture settings, test protocol,
training recipe, published figures). ``MODEL_ZOO.md`` is generated from it
(``python -m tsm_models zoo --markdown``), and the timm pretrained cfgs (``arch.tag``) are derived from it.

Names: every checkpoint is ``arch.tag`` (timm's convention, e.g. ``tsm_r50.mm0_8f_340x256_k400``); its
aliases (this library's older names such as ``tsm_r50_1x1x8_kinetics400``, the upstream config name and
the upstream file stem) resolve to it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ZOO", "ClipProtocol", "Metrics", "TrainRecipe", "ZooEntry", "find_entry", "resolve_alias"]

_URL_ROOT = "https://openmmlab.oss-accelerate.aliyuncs.com/mmaction/recognition/tsm"
HF_HUB_NAMESPACE = "tsm-models"
# ImageNet mean/std on the 0-255 scale, RGB (MMAction2 img_norm_cfg, to_bgr=False).
MEAN_255 = (123.675, 116.28, 103.53)
STD_255 = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class ClipProtocol:
    """How frames are sampled and preprocessed: the test pipeline of the published accuracy (and, with
    ``train=True`` in :mod:`tsm_models.data`, the training sampling)."""

    sampling: str = "uniform"  # "uniform" (SampleFrames test_mode) or "dense" (DenseSampleFrames)
    num_frames: int = 8  # frames per clip (clip_len * num_clips in MMAction2 1x1xN notation)
    clip_len: int = 1
    frame_interval: int = 1
    num_clips: int = 1  # views in time (dense: 10 clips of num_frames)
    crop: str = "center"  # "center" | "three"
    num_crops: int = 1
    resize_short: int = 256  # Resize(scale=(-1, 256)), bilinear
    crop_size: int = 224
    mean: tuple[float, float, float] = MEAN_255  # RGB, 0-255 scale
    std: tuple[float, float, float] = STD_255
    average_clips: str = "score"  # 2020 code: logits averaged over all frames of all views
    input_format: str = "rawframes"  # "rawframes" (img_00001.jpg, start_index 1) or "video"
    start_index: int = 1
    filename_tmpl: str = "img_{:05}.jpg"


@dataclass(frozen=True)
class TrainRecipe:
    """Summary of the MMAction2 training config that produced the checkpoint."""

    lr: float  # for 8 GPUs x videos_per_gpu clips
    weight_decay: float
    lr_steps: tuple[int, ...]
    epochs: int
    videos_per_gpu: int
    flip: bool
    momentum: float = 0.9
    grad_clip_norm: float = 20.0
    optimizer: str = "SGD, TSM param groups (fc weight lr x5, fc bias lr x10)"
    pretrained: str = "ImageNet (torchvision weights)"
    train_sampling: str = "SampleFrames(1, 1, 8), random offset per segment"
    augment: str = "MultiScaleCrop(224, scales=(1, .875, .75, .66)), Resize(224)"


@dataclass(frozen=True)
class Metrics:
    """Figures published on the MMAction2 TSM model-zoo page."""

    top1: float
    top5: float
    reference_top1: float  # same settings trained with the original TSM repo
    reference_top5: float
    gpu_mem_mb: int
    inference_time: float | None = None  # video/s, 1 GPU, batch 1, model time only
    inference_frames: str | None = None  # e.g. "8x1 frames"
    resolution: str = "340x256"  # of the frames the model was trained on
    gpus: str = "8"


@dataclass(frozen=True)
class ZooEntry:
    """One released TSM checkpoint and everything needed to build, load, run and cite it."""

    arch: str  # architecture (timm entrypoint) registered here, e.g. "tsm_r50"
    tag: str  # checkpoint tag: the timm name is f"{arch}.{tag}"
    source: str  # who released it, e.g. "mmaction2-0.x"
    config: str  # upstream config name (also accepted as an alias)
    released: str  # date in the checkpoint file name
    # weights
    url: str
    sha256_prefix: str  # first 8 hex digits of the file's sha256, as in the file name
    log_url: str
    num_classes: int
    # architecture: the TSMConfig fields whose values differ from TSMConfig's defaults (fixed by the checkpoint)
    model_args: Mapping[str, Any] = field(default_factory=dict)
    # data
    dataset: str = "kinetics400"  # name of the packaged label list
    num_labels: int = 400  # named classes; logits beyond this index never had training targets
    protocol: ClipProtocol = field(default_factory=ClipProtocol)
    recipe: TrainRecipe | None = None
    metrics: Metrics | None = None
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    license: str = "apache-2.0"
    paper: str = "arXiv:1811.08383"

    @property
    def name(self) -> str:
        """The timm-style checkpoint name ``arch.tag``."""
        return f"{self.arch}.{self.tag}"

    @property
    def file_stem(self) -> str:
        """The original checkpoint's file name without ``.pth`` / ``.pth.tar`` (an alias of the entry)."""
        return self.filename.removesuffix(".tar").removesuffix(".pth")

    @property
    def filename(self) -> str:
        """File name of the original checkpoint (``<config>_<date>-<sha256 prefix>.pth``)."""
        return self.url.rsplit("/", 1)[-1]

    @property
    def hf_hub_id(self) -> str:
        """Hugging Face Hub repository holding the converted ``model.safetensors`` + ``config.json``."""
        return f"{HF_HUB_NAMESPACE}/{self.name}"

    @property
    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the architecture that the checkpoint needs (``num_classes`` + ``model_args``)."""
        return {"num_classes": self.num_classes, **self.model_args}

    @property
    def all_aliases(self) -> tuple[str, ...]:
        """Every other name of the entry: its aliases, upstream config name and file stem."""
        return tuple(dict.fromkeys((*self.aliases, self.config, self.file_stem)))

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON-serialisable) of the record, with derived fields."""
        out = dataclasses.asdict(self)
        out.update(name=self.name, filename=self.filename, hf_hub_id=self.hf_hub_id, model_args=dict(self.model_args))
        return out


def _url(directory: str, filename: str) -> str:
    return f"{_URL_ROOT}/{directory}/{filename}"


_K400 = dict(dataset="kinetics400", num_labels=400, num_classes=400)
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

_ENTRIES: tuple[ZooEntry, ...] = (
    ZooEntry(
        config="tsm_r50_1x1x8_50e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_8f_340x256_k400",
        source="mmaction2-0.x",
        released="2020-06-07",
        url=_url("tsm_r50_1x1x8_50e_kinetics400_rgb", "tsm_r50_1x1x8_50e_kinetics400_rgb_20200607-af7fb746.pth"),
        sha256_prefix="af7fb746",
        log_url=_url("tsm_r50_1x1x8_50e_kinetics400_rgb", "20200607_211800.log"),
        **_K400,
        recipe=TrainRecipe(lr=0.01, weight_decay=1e-4, lr_steps=(20, 40), epochs=50, videos_per_gpu=8, flip=True),
        metrics=Metrics(70.24, 89.56, 70.36, 89.49, 7079, 74.0, "8x1 frames", "340x256", "8"),
        aliases=("tsm_r50_1x1x8_kinetics400",),
    ),
    ZooEntry(
        config="tsm_r50_video_1x1x8_50e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_8f_video_k400",
        source="mmaction2-0.x",
        released="2020-07-02",
        url=_url(
            "tsm_r50_video_1x1x8_100e_kinetics400_rgb", "tsm_r50_video_1x1x8_100e_kinetics400_rgb_20200702-a77f4328.pth"
        ),
        sha256_prefix="a77f4328",
        log_url=_url("tsm_r50_video_1x1x8_100e_kinetics400_rgb", "tsm_r50_video_2d_1x1x8_50e_kinetics400_rgb.log"),
        **_K400,
        protocol=ClipProtocol(input_format="video", start_index=0),
        recipe=TrainRecipe(lr=0.02, weight_decay=1e-4, lr_steps=(20, 40), epochs=50, videos_per_gpu=8, flip=True),
        metrics=Metrics(70.25, 89.66, 70.36, 89.49, 7077, 74.0, "8x1 frames", "short-side 256", "8"),
        aliases=(
            "tsm_r50_video_1x1x8_kinetics400",
            "tsm_r50_video_1x1x8_100e_kinetics400_rgb",
        ),
        notes=("The checkpoint file says 100e but the run was 50 epochs (its log is named ..._50e_...).",),
    ),
    ZooEntry(
        config="tsm_r50_dense_1x1x8_100e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_8f_dense_340x256_k400",
        source="mmaction2-0.x",
        released="2020-06-26",
        url=_url(
            "tsm_r50_dense_1x1x8_100e_kinetics400_rgb", "tsm_r50_dense_1x1x8_100e_kinetics400_rgb_20200626-91a54551.pth"
        ),
        sha256_prefix="91a54551",
        log_url=_url("tsm_r50_dense_1x1x8_100e_kinetics400_rgb", "20200626_213415.log"),
        **_K400,
        protocol=ClipProtocol(sampling="dense", num_clips=10),
        recipe=TrainRecipe(
            lr=0.02,
            weight_decay=1e-4,
            lr_steps=(40, 80),
            epochs=100,
            videos_per_gpu=8,
            flip=True,
            train_sampling="DenseSampleFrames(1, 1, 8), sample_range 64",
        ),
        metrics=Metrics(72.9, 90.44, 72.22, 90.37, 7079, 11.5, "8x10 frames", "340x256", "8x4"),
        notes=("Dense test protocol: 10 clips of 8 frames 8 apart, starts spread over the video (80 frames).",),
        aliases=("tsm_r50_dense_1x1x8_kinetics400",),
    ),
    ZooEntry(
        config="tsm_r50_1x1x16_50e_kinetics400_rgb",
        arch="tsm_r50",
        tag="mm0_16f_seg8_340x256_k400",
        source="mmaction2-0.x",
        released="2020-06-07",
        url=_url("tsm_r50_1x1x16_50e_kinetics400_rgb", "tsm_r50_1x1x16_50e_kinetics400_rgb_20200607-f731bffc.pth"),
        sha256_prefix="f731bffc",
        log_url=_url("tsm_r50_1x1x16_50e_kinetics400_rgb", "20200607_221310.log"),
        **_K400,
        protocol=ClipProtocol(num_frames=16),
        recipe=TrainRecipe(
            lr=0.0075,
            weight_decay=1e-4,
            lr_steps=(20, 40),
            epochs=50,
            videos_per_gpu=6,
            flip=True,
            train_sampling="SampleFrames(1, 1, 16), random offset per segment",
        ),
        metrics=Metrics(71.69, 90.4, 70.67, 89.98, 10404, 47.0, "16x1 frames", "340x256", "8"),
        notes=(_NOTE_16F,),
        aliases=("tsm_r50_1x1x16_kinetics400",),
    ),
    ZooEntry(
        config="tsm_r50_1x1x8_50e_sthv1_rgb",
        arch="tsm_r50",
        tag="mm0_8f_200616_sthv1",
        source="mmaction2-0.x",
        released="2020-06-16",
        url=_url("tsm_r50_1x1x8_50e_sthv1_rgb", "tsm_r50_1x1x8_50e_sthv1_rgb_20200616-3417f361.pth"),
        sha256_prefix="3417f361",
        log_url=_url("tsm_r50_1x1x8_50e_sthv1_rgb", "20200616_022852.log"),
        num_classes=174,
        dataset="sthv1",
        num_labels=174,
        protocol=ClipProtocol(filename_tmpl="{:05}.jpg"),
        recipe=TrainRecipe(lr=0.01, weight_decay=5e-4, lr_steps=(20, 40), epochs=50, videos_per_gpu=8, flip=False),
        metrics=Metrics(44.62, 75.51, 42.08, 72.66, 7077, None, None, "short-side 100", "8"),
        notes=(
            "Class indices follow MMAction2's sthv1 label map (the official csv line order); the original TSM "
            "repo sorts sthv1 classes alphabetically, so its sthv1 checkpoints index classes differently.",
        ),
        aliases=("tsm_r50_1x1x8_sthv1",),
    ),
    ZooEntry(
        config="tsm_r50_1x1x16_50e_sthv2_rgb",
        arch="tsm_r50",
        tag="mm0_16f_seg8_c339_sthv2",
        source="mmaction2-0.x",
        released="2020-06-21",
        url=_url("tsm_r50_1x1x16_50e_sthv2_rgb", "tsm_r50_1x1x16_50e_sthv2_rgb_20200621-60ff441a.pth"),
        sha256_prefix="60ff441a",
        log_url=_url("tsm_r50_1x1x16_50e_sthv2_rgb", "20200621_101921.log"),
        num_classes=339,
        dataset="sthv2",
        num_labels=174,
        protocol=ClipProtocol(num_frames=16, filename_tmpl="{:06}.jpg"),
        recipe=TrainRecipe(
            lr=0.0075,
            weight_decay=5e-4,
            lr_steps=(20, 40),
            epochs=50,
            videos_per_gpu=6,
            flip=False,
            train_sampling="SampleFrames(1, 1, 16), random offset per segment",
        ),
        metrics=Metrics(57.68, 83.65, 56.57, 84.30, 10400, None, None, "short-side 240", "8"),
        notes=(_NOTE_16F, _NOTE_339),
        aliases=("tsm_r50_1x1x16_sthv2",),
    ),
    ZooEntry(
        config="tsm_r101_1x1x8_50e_sthv2_rgb",
        arch="tsm_r101",
        tag="mm0_8f_c339_sthv2",
        source="mmaction2-0.x",
        released="2020-06-25",
        url=_url("tsm_r101_1x1x8_50e_sthv2_rgb", "tsm_r101_1x1x8_50e_sthv2_rgb_20200625-df82f5e6.pth"),
        sha256_prefix="df82f5e6",
        log_url=_url("tsm_r101_1x1x8_50e_sthv2_rgb", "20200625_224131.log"),
        num_classes=339,
        model_args={"shift_every": 2},
        dataset="sthv2",
        num_labels=174,
        protocol=ClipProtocol(filename_tmpl="{:06}.jpg"),
        recipe=TrainRecipe(
            lr=0.02,
            weight_decay=5e-4,
            lr_steps=(20, 40),
            epochs=50,
            videos_per_gpu=8,
            flip=False,
            pretrained="ImageNet (torchvision resnet101 weights)",
        ),
        metrics=Metrics(59.12, 85.74, 59.20, 85.27, 9784, None, None, "short-side 240", "8"),
        notes=(
            "ResNet-101 shifts only every 2nd block of each stage (MMAction2/TSM n_round=2): 18 shifted blocks.",
            _NOTE_339,
        ),
        aliases=("tsm_r101_1x1x8_sthv2",),
    ),
)

ZOO: dict[str, ZooEntry] = {e.name: e for e in _ENTRIES}
_ALIASES: dict[str, str] = {a: e.name for e in _ENTRIES for a in e.all_aliases}


def resolve_alias(name: str) -> str:
    """Map an alias (older name, upstream config name or file stem) to ``arch.tag``; other names pass through."""
    return _ALIASES.get(name, name)


def aliases() -> dict[str, str]:
    """All accepted aliases, ``{alias: arch.tag}``."""
    return dict(_ALIASES)


def find_entry(name: str) -> ZooEntry | None:
    """The zoo record for ``name`` (``arch.tag`` or an alias), or ``None``."""
    return ZOO.get(resolve_alias(name))


def filter_names(names: list[str], pattern: str) -> list[str]:
    """Names matching a shell-style ``pattern`` (case-insensitive)."""
    return [n for n in names if fnmatch.fnmatch(n.lower(), pattern.lower())]
