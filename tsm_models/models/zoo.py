"""The model zoo: one frozen record per released TSM checkpoint (plain data, standard library only).

This module holds the schema and the lookups; the records themselves live beside it, one data module per
source (``_zoo_mm1.py``: MMAction2 1.x, ``_zoo_mm0.py``: MMAction2 0.x, ``_zoo_mit.py``: the original
mit-han-lab/temporal-shift-module), as plain dicts (research notes: ``research/zoo_landscape.md``).
``MODEL_ZOO.md`` is generated from it (``python -m tsm_models zoo --markdown``), and the timm pretrained cfgs
(``arch.tag``) are derived from it.

Names: every checkpoint is ``arch.tag`` (timm's convention, e.g. ``tsm_r50.mm1_8f_k400``); tags read
``{source}_{frames}f[_{variant}...]_{dataset}`` with source ``mm1`` | ``mm0`` | ``mit``. Aliases resolve to it:
this library's older user names (``tsm_r50_1x1x8_kinetics400``...), the upstream file stem (unique by
construction) and the upstream config name where it names one file; a config name that several released files
share means the newest of them (:attr:`ZooEntry.config_note` says so).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _zoo_mit, _zoo_mm0, _zoo_mm1

__all__ = [
    "SOURCES",
    "ZOO",
    "ClipProtocol",
    "Metrics",
    "TrainRecipe",
    "ZooEntry",
    "find_entry",
    "resolve_alias",
    "select_entries",
]

HF_HUB_NAMESPACE = "tsm-models"
# ImageNet mean/std on the 0-255 scale, RGB (MMAction2 img_norm_cfg, to_bgr=False).
MEAN_255 = (123.675, 116.28, 103.53)
STD_255 = (58.395, 57.12, 57.375)

# Source code -> display name. The code is the first token of a tag.
SOURCES: dict[str, str] = {
    "mm1": "MMAction2 1.x",
    "mm0": "MMAction2 0.x",
    "mit": "mit-han-lab/temporal-shift-module",
}
# Weight licenses as the upstream repositories state them (the weights carry no license file of their own).
LICENSES: dict[str, str] = {
    "mm1": "apache-2.0",
    "mm0": "apache-2.0",
    "mit": "mit",
}
LICENSE_NOTES: dict[str, str] = {
    "mm1": "open-mmlab/mmaction2 is Apache-2.0; the checkpoints are published with it, no separate license.",
    "mm0": "open-mmlab/mmaction2 is Apache-2.0; the checkpoints are published with it, no separate license.",
    "mit": "mit-han-lab/temporal-shift-module is MIT (its LICENSE); the checkpoints are linked from its README, "
    "no separate license.",
}

SAMPLINGS = ("uniform", "dense")
CROPS: dict[str, int] = {"center": 1, "three": 3, "ten": 10, "full_res": 3}
GEOMETRIES = ("mmaction2", "mit")
AVERAGE_CLIPS = ("score", "prob")
CHANNEL_ORDERS = ("rgb", "bgr")
MODALITIES = ("rgb", "flow")


@dataclass(frozen=True)
class ClipProtocol:
    """How frames are sampled and preprocessed: the test pipeline of the published accuracy (and, with
    ``train=True`` in :mod:`tsm_models.data`, the training sampling).

    Views: ``num_clips`` clips in time x ``num_crops`` crops (:attr:`num_views`), ordered crop-major as
    upstream (all clips of crop 0, then crop 1, ...); each view is one ``(num_frames, C, S, S)`` input.

    Attributes:
        sampling: ``"uniform"`` (MMAction2 ``SampleFrames`` test mode / the original repo's segment middles;
            ``num_clips=2`` is ``twice_sample``) or ``"dense"`` (``num_clips`` starts spread over the video,
            frames ``64 // num_frames`` apart: MMAction2 ``DenseSampleFrames``, the original ``dense_sample``).
        num_frames: frames per clip (``1x1xN`` in MMAction2 notation).
        num_clips: clips in time (uniform: 1, or 2 for twice_sample; dense: 10).
        crop: ``"center"`` (1), ``"three"`` (MMAction2 ``ThreeCrop``: 3 crops as large as the short side),
            ``"ten"`` (MMAction2 ``TenCrop`` / original ``GroupOverSample``: 4 corners + center, each followed
            by its flip), ``"full_res"`` (original ``GroupFullResSample``: left, right, center at 1/2 height).
        num_crops: crops per clip, derived from ``crop`` (any value given is replaced by it).
        resize_short: short side after resizing.
        crop_size: side of the (square) crops.
        mean, std: per-channel statistics on the 0-255 scale (one value for all channels when of length 1).
        average_clips: how the views' outputs combine: ``"score"`` (mean of logits) or ``"prob"`` (mean of
            per-view softmax), as upstream.
        geometry: ``"mmaction2"`` (OpenCV-style resize ``int(s * f + 0.5)``, no antialias; center crop at
            ``(W - S) // 2``) or ``"mit"`` (torchvision on PIL images: ``Resize`` truncates the long side and
            antialiases; ``CenterCrop`` rounds its offsets).
        channel_order: ``"rgb"``, or ``"bgr"`` for a model fed OpenCV frames unswapped (the original online
            demo): RGB input is swapped before normalising with ``mean``/``std`` as given.
        modality: ``"rgb"`` or ``"flow"`` (stacks of optical-flow frames the caller supplies; not decoded here).
        input_format, start_index, filename_tmpl: how the upstream test set stored frames.
    """

    sampling: str = "uniform"
    num_frames: int = 8
    clip_len: int = 1
    frame_interval: int = 1
    num_clips: int = 1
    crop: str = "center"
    num_crops: int | None = None
    resize_short: int = 256
    crop_size: int = 224
    mean: tuple[float, ...] = MEAN_255
    std: tuple[float, ...] = STD_255
    average_clips: str = "score"
    geometry: str = "mmaction2"
    channel_order: str = "rgb"
    modality: str = "rgb"
    input_format: str = "rawframes"
    start_index: int = 1
    filename_tmpl: str = "img_{:05}.jpg"

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("sampling", self.sampling, SAMPLINGS),
            ("crop", self.crop, tuple(CROPS)),
            ("geometry", self.geometry, GEOMETRIES),
            ("average_clips", self.average_clips, AVERAGE_CLIPS),
            ("channel_order", self.channel_order, CHANNEL_ORDERS),
            ("modality", self.modality, MODALITIES),
        ):
            if value not in allowed:
                raise ValueError(f"ClipProtocol.{name} must be one of {allowed}, got {value!r}")
        # derived from crop: a value carried over by dataclasses.replace(p, crop=...) is recomputed
        object.__setattr__(self, "num_crops", CROPS[self.crop])
        for name in ("num_frames", "clip_len", "frame_interval", "num_clips", "resize_short", "crop_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ClipProtocol.{name} must be an int >= 1, got {value!r}")
        if self.sampling == "uniform" and self.num_clips not in (1, 2):
            raise ValueError(f"uniform sampling has 1 clip (or 2 with twice_sample), got num_clips={self.num_clips}")
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(f"mean and std must have the same length >= 1, got {self.mean} and {self.std}")

    @property
    def num_views(self) -> int:
        """Views per video: clips x crops."""
        return self.num_clips * int(self.num_crops or 1)

    def single_view(self) -> ClipProtocol:
        """The cheap variant: 1 clip, 1 center crop of ``min(crop_size, 224)`` (same resize, normalisation,
        geometry and channel order). For dense sampling the one clip starts in the middle of the range of
        dense starts (see :func:`tsm_models.data.sampling.sample_indices`)."""
        return dataclasses.replace(self, num_clips=1, crop="center", num_crops=1, crop_size=min(self.crop_size, 224))


@dataclass(frozen=True)
class TrainRecipe:
    """Summary of the training config that produced the checkpoint (``None`` fields: not published)."""

    lr: float | None  # for gpus x videos_per_gpu clips
    weight_decay: float | None
    lr_steps: tuple[int, ...]
    epochs: int | None
    videos_per_gpu: int | None
    flip: bool
    warmup_epochs: int = 0
    gpus: int | None = 8
    batch_size: int | None = None  # total, where the source gives only that
    momentum: float = 0.9
    grad_clip_norm: float = 20.0
    optimizer: str = "SGD, TSM param groups (fc weight lr x5, fc bias lr x10)"
    pretrained: str = "ImageNet (torchvision weights)"
    train_sampling: str = "SampleFrames(1, 1, 8), random offset per segment"
    augment: str = "MultiScaleCrop(224, scales=(1, .875, .75, .66)), Resize(224)"


@dataclass(frozen=True)
class Metrics:
    """Published figures (``None``: not published). ``top1``/``top5`` are measured with the entry's protocol."""

    top1: float | None = None
    top5: float | None = None
    reference_top1: float | None = None  # MMAction2 0.x: same settings trained with the original TSM repo
    reference_top5: float | None = None
    gpu_mem_mb: int | None = None
    inference_time: float | None = None  # video/s, 1 GPU, batch 1, model time only
    inference_frames: str | None = None  # e.g. "8x1 frames"
    resolution: str | None = None  # of the frames the model was trained on
    gpus: str | None = None
    top1_efficient: float | None = None  # Something-Something / Jester: 1 clip x center crop
    top5_efficient: float | None = None
    top1_10crop: float | None = None  # original repo, Kinetics uniform models: --test_crops=10
    views: str | None = None  # the views of top1 as the source words them
    flops: str | None = None
    params: str | None = None


@dataclass(frozen=True)
class ZooEntry:
    """One released TSM checkpoint and everything needed to build, load, run and cite it."""

    arch: str  # architecture (timm entrypoint) registered here, e.g. "tsm_r50"
    tag: str  # checkpoint tag: the timm name is f"{arch}.{tag}"
    source: str  # "mm1" | "mm0" | "mit" (SOURCES)
    config: str | None  # upstream config name (None: the source has no configs)
    released: str | None  # date in the checkpoint file name, YYYY-MM-DD (None: the name has none)
    # weights
    url: str
    sha256_prefix: str | None  # hex digits of the file's sha256 in its name (None: the name has none)
    log_url: str | None
    num_classes: int
    # architecture: the TSMConfig fields (and timm kwargs such as in_chans) that differ from the defaults
    model_args: Mapping[str, Any] = field(default_factory=dict)
    # data
    dataset: str = "kinetics400"  # dataset key (DATASET_NAMES)
    labels: str | None = None  # packaged label list in the checkpoint's own class order (default: dataset)
    num_labels: int | None = None  # named classes (default num_classes); logits beyond never had targets
    protocol: ClipProtocol = field(default_factory=ClipProtocol)
    recipe: TrainRecipe | None = None
    metrics: Metrics | None = None
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    license: str = "apache-2.0"
    paper: str = "arXiv:1811.08383"

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"ZooEntry.source must be one of {tuple(SOURCES)}, got {self.source!r}")
        if self.num_labels is None:
            object.__setattr__(self, "num_labels", self.num_classes)

    @property
    def name(self) -> str:
        """The timm-style checkpoint name ``arch.tag``."""
        return f"{self.arch}.{self.tag}"

    @property
    def label_set(self) -> str:
        """Name of the packaged label list in this checkpoint's class order."""
        return self.labels or self.dataset

    @property
    def source_name(self) -> str:
        return SOURCES[self.source]

    @property
    def family(self) -> str:
        """Backbone family: ``resnet``, ``mobilenetv2``, ``mobileone`` (non-local ResNets: ``resnet``)."""
        base = self.arch.removeprefix("tsm_")
        if base.startswith("mobilenetv2"):
            return "mobilenetv2"
        if base.startswith("mobileone"):
            return "mobileone"
        return "resnet"

    @property
    def file_stem(self) -> str:
        """The original checkpoint's file name without ``.pth`` / ``.pth.tar`` (an alias of the entry)."""
        return self.filename.removesuffix(".tar").removesuffix(".pth")

    @property
    def filename(self) -> str:
        """File name of the original checkpoint."""
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
        """Every other name of the entry: its aliases, its file stem and its config name where it owns it."""
        names = [*self.aliases, self.file_stem]
        if self.config is not None and _CONFIG_OWNER.get(self.config) == self.name:
            names.append(self.config)
        return tuple(dict.fromkeys(names))

    @property
    def config_note(self) -> str | None:
        """Says what the upstream config name means when several released files share it."""
        if self.config is None:
            return None
        sharing = _CONFIG_FILES.get(self.config, ())
        if len(sharing) < 2:
            return None
        owner = _CONFIG_OWNER[self.config]
        others = ", ".join(n for n in sharing if n != self.name)
        shared = f"The config name {self.config} is shared by {len(sharing)} released files"
        if owner == self.name:
            return f"{shared}; it means this one, the newest (the others: {others})."
        return f"{shared}; it means the newest, {owner}, not this one."

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON-serialisable) of the record, with derived fields."""
        out = dataclasses.asdict(self)
        out.update(
            name=self.name,
            filename=self.filename,
            hf_hub_id=self.hf_hub_id,
            model_args=dict(self.model_args),
            label_set=self.label_set,
            num_views=self.protocol.num_views,
            aliases=list(self.all_aliases),
            source_name=self.source_name,
            family=self.family,
            config_note=self.config_note,
        )
        return out


def _iso(date: str | None) -> str | None:
    if date is None or "-" in date:
        return date
    return f"{date[:4]}-{date[4:6]}-{date[6:8]}"


def _hash_in_name(filename: str) -> str | None:
    stem = filename.removesuffix(".tar").removesuffix(".pth")
    tail = stem.rsplit("-", 1)[-1] if "-" in stem else ""
    return tail if len(tail) == 8 and all(c in "0123456789abcdef" for c in tail) else None


def _from_dict(d: Mapping[str, Any]) -> ZooEntry:
    d = dict(d)
    protocol = ClipProtocol(**d.pop("protocol", {}))
    recipe = d.pop("recipe", None)
    metrics = d.pop("metrics", None)
    user_name = d.pop("user_name", None)
    aliases = tuple(d.pop("aliases", ()))
    if user_name is not None:
        aliases = (user_name, *aliases)
    url = d.pop("url")
    return ZooEntry(
        url=url,
        sha256_prefix=d.pop("sha256_prefix", _hash_in_name(url.rsplit("/", 1)[-1])),
        released=_iso(d.pop("released", None)),
        log_url=d.pop("log_url", None),
        protocol=protocol,
        recipe=TrainRecipe(**recipe) if recipe is not None else None,
        metrics=Metrics(**metrics) if metrics is not None else None,
        aliases=aliases,
        notes=tuple(d.pop("notes", ())),
        license=LICENSES[d["source"]],
        **d,
    )


def _load() -> tuple[ZooEntry, ...]:
    raw = (*_zoo_mm1.ENTRIES, *_zoo_mm0.SEED_ENTRIES, *_zoo_mm0.ENTRIES, *_zoo_mit.ENTRIES)
    return tuple(_from_dict(d) for d in raw)


_ENTRIES: tuple[ZooEntry, ...] = _load()
# config name -> the names of the entries whose upstream config it is; the newest file owns the name.
_CONFIG_FILES: dict[str, tuple[str, ...]] = {}
for _e in _ENTRIES:
    if _e.config is not None:
        _CONFIG_FILES[_e.config] = (*_CONFIG_FILES.get(_e.config, ()), _e.name)
_BY_NAME = {e.name: e for e in _ENTRIES}
_CONFIG_OWNER: dict[str, str] = {
    config: max(names, key=lambda n: _BY_NAME[n].released or "") for config, names in _CONFIG_FILES.items()
}
ZOO: dict[str, ZooEntry] = dict(_BY_NAME)
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


_DATASET_CODES = {"k400": "kinetics400"}


def select_entries(dataset: str | None = None, family: str | None = None, source: str | None = None) -> list[ZooEntry]:
    """Zoo records filtered by dataset (``kinetics400``/``k400``, ``sthv2``, ...), backbone family (``resnet``,
    ``mobilenetv2``, ``mobileone``) and source (``mm1``, ``mm0``, ``mit`` or the display name); ``None`` matches
    everything.

    Raises:
        ValueError: a value that matches no entry's field at all (a typo), listing the values there are.
    """
    entries = list(_ENTRIES)
    if dataset is not None:
        key = _DATASET_CODES.get(dataset.lower(), dataset.lower())
        known = {e.dataset for e in entries}
        if key not in known:
            raise ValueError(f"unknown dataset {dataset!r}; zoo datasets: {sorted(known)} (or k400)")
        entries = [e for e in entries if e.dataset == key]
    if family is not None:
        known = {e.family for e in _ENTRIES}
        if family.lower() not in known:
            raise ValueError(f"unknown family {family!r}; zoo families: {sorted(known)}")
        entries = [e for e in entries if e.family == family.lower()]
    if source is not None:
        codes = {k: k for k in SOURCES} | {v.lower(): k for k, v in SOURCES.items()}
        code = codes.get(source.lower())
        if code is None:
            raise ValueError(f"unknown source {source!r}; zoo sources: {sorted(SOURCES)}")
        entries = [e for e in entries if e.source == code]
    return entries
