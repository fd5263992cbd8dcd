"""Clip transforms: one geometry for every frame of a clip, index-exact with the upstream test pipelines.

The functions work on clips ``(T, 3, H, W)`` (any leading dims before ``3, H, W``), ``uint8`` or float on the
0-255 scale; resizing keeps the dtype (``uint8`` in, rounded ``uint8`` out, like MMAction2's OpenCV resize).
:func:`create_transform` builds the full test (or training) pipeline of a zoo record:

    uint8 frames (T, H, W, 3) -> short-side resize -> crops -> (RGB->BGR) -> normalise -> (num_crops, T, C, S, S)

``geometry="mmaction2"`` (default) follows MMAction2 exactly: resize to ``int(w * f + 0.5) x int(h * f + 0.5)``
with ``f = short / min(h, w)`` (bilinear, no antialias, like ``cv2.resize``), center crop at ``((W - S) // 2,
(H - S) // 2)``, ``ThreeCrop`` left/right/middle, ``TenCrop`` (4 corners + center, each followed by its flip),
``MultiScaleCrop`` with 13 fixed crop positions. ``geometry="mit"`` follows the original TSM repo (torchvision
on PIL images): ``Resize`` keeps ``int(size * long / short)`` and antialiases like PIL, ``CenterCrop`` rounds
its offsets, ``GroupFullResSample`` takes left/right/center crops at steps of ``(W - S) // 4``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from ..labels import DATASETS, load_labels
from ..models.zoo import MEAN_255, STD_255, ClipProtocol, ZooEntry

__all__ = [
    "MAX_RESIZED_PIXELS",
    "VideoTransform",
    "center_crop",
    "center_crop_box",
    "full_res_crop",
    "full_res_crop_boxes",
    "short_side_size",
    "ten_crop",
    "ten_crop_boxes",
    "three_crop_boxes",
    "create_transform",
    "flip",
    "flip_label_map",
    "multi_scale_crop",
    "multi_scale_crop_box",
    "normalize",
    "resize",
    "resize_short",
    "three_crop",
    "to_clip_tensor",
]

_MSC_SCALES: tuple[float, ...] = (1.0, 0.875, 0.75, 0.66)
# Largest frame resize_short may produce (4096 x 4096): an 8000x2 strip resized to a short side of 256 would
# need 262 Mpx per frame (6.3 GB for 8 frames as floats) and is refused instead.
MAX_RESIZED_PIXELS = 1 << 24


def _check_clip(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim < 3 or x.shape[-3] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected a clip tensor (T, 3, H, W), got {shape}")


def to_clip_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Decoded frames ``(T, H, W, 3)`` (array or tensor) -> ``(T, 3, H, W)`` tensor of the same dtype."""
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = tuple(frames.shape) if hasattr(frames, "shape") else type(frames).__name__
        raise ValueError(f"expected RGB frames of shape (T, H, W, 3), got {shape}")
    return frames.permute(0, 3, 1, 2)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a clip to ``size = (h, w)`` without antialiasing (OpenCV ``INTER_LINEAR`` geometry)."""
    _check_clip(x)
    h, w = int(size[0]), int(size[1])
    if (h, w) == tuple(x.shape[-2:]):
        return x
    return TF.resize(x, [h, w], interpolation=InterpolationMode.BILINEAR, antialias=False)


def short_side_size(height: int, width: int, size: int, geometry: str = "mmaction2") -> tuple[int, int]:
    """Frame size ``(h, w)`` after resizing the short side to ``size``.

    ``"mmaction2"``: ``Resize(scale=(-1, size))``, sides ``int(s * f + 0.5)``; ``"mit"``: torchvision
    ``Resize(size)`` of a PIL image, long side ``int(size * long / short)`` (truncated).
    """
    if geometry == "mit":
        if width <= height:
            return (height, width) if width == size else (int(size * height / width), size)
        return (height, width) if height == size else (size, int(size * width / height))
    if geometry != "mmaction2":
        raise ValueError(f"geometry must be 'mmaction2' or 'mit', got {geometry!r}")
    factor = size / min(height, width)
    return int(height * factor + 0.5), int(width * factor + 0.5)


def resize_short(x: torch.Tensor, size: int, geometry: str = "mmaction2") -> torch.Tensor:
    """Resize a clip's short side to ``size`` (:func:`short_side_size`): bilinear without antialiasing for
    ``"mmaction2"`` (OpenCV ``INTER_LINEAR``), with PIL-style antialiasing for ``"mit"``."""
    _check_clip(x)
    out = short_side_size(*x.shape[-2:], size, geometry)
    if out[0] * out[1] > MAX_RESIZED_PIXELS:  # refused before anything is allocated
        h, w = x.shape[-2:]
        raise ValueError(
            f"frames of {w}x{h} would be resized to {out[1]}x{out[0]} ({out[0] * out[1] / 1e6:.0f} Mpx per frame, "
            f"limit {MAX_RESIZED_PIXELS} px = MAX_RESIZED_PIXELS): the aspect ratio is too extreme for a "
            f"short side of {size}"
        )
    if geometry == "mmaction2" or out == tuple(x.shape[-2:]):
        return resize(x, out)
    dtype = x.dtype
    y = TF.resize(x.float(), list(out), interpolation=InterpolationMode.BILINEAR, antialias=True)
    return y.round_().clamp_(0, 255).to(dtype) if dtype == torch.uint8 else y.to(dtype)


def _crop(x: torch.Tensor, top: int, left: int, h: int, w: int) -> torch.Tensor:
    return x[..., top : top + h, left : left + w]


def center_crop_box(height: int, width: int, size: int, geometry: str = "mmaction2") -> tuple[int, int]:
    """Offsets ``(top, left)`` of a centered ``size`` crop: ``(H - S) // 2`` (MMAction2 ``CenterCrop``) or
    ``round((H - S) / 2)`` (torchvision ``CenterCrop``, the original repo; Python rounds halves to even)."""
    if size > height or size > width:
        raise ValueError(f"crop {size} is larger than the frames ({height}x{width}, h x w)")
    if geometry == "mit":
        return round((height - size) / 2.0), round((width - size) / 2.0)
    return (height - size) // 2, (width - size) // 2


def center_crop(x: torch.Tensor, size: int | tuple[int, int], geometry: str = "mmaction2") -> torch.Tensor:
    """MMAction2 ``CenterCrop`` (or, ``geometry="mit"``, torchvision's): the centered ``size`` crop."""
    _check_clip(x)
    ch, cw = (size, size) if isinstance(size, int) else size
    h, w = x.shape[-2:]
    if ch > h or cw > w:
        raise ValueError(f"crop {ch}x{cw} (h x w) is larger than the frames ({h}x{w})")
    if geometry == "mit":
        top, left = round((h - ch) / 2.0), round((w - cw) / 2.0)
    else:
        top, left = (h - ch) // 2, (w - cw) // 2
    return _crop(x, top, left, ch, cw)


def three_crop_boxes(height: int, width: int, size: int) -> list[tuple[int, int]]:
    """MMAction2 ``ThreeCrop`` offsets ``(top, left)``: left/top, right/bottom, middle along the long side, at
    steps of ``(L - S) // 2``; one side must equal ``size``.

    Example:
        >>> three_crop_boxes(256, 455, 256)
        [(0, 0), (0, 198), (0, 99)]
    """
    if height == size and width >= size:
        step = (width - size) // 2
        return [(0, 0), (0, 2 * step), (0, step)]
    if width == size and height >= size:
        step = (height - size) // 2
        return [(0, 0), (2 * step, 0), (step, 0)]
    raise ValueError(f"three crop of {size} needs frames with one side equal to {size}, got {height}x{width} (h x w)")


def three_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """MMAction2 ``ThreeCrop``: three ``size`` crops along the long side (left/top, right/bottom, middle).

    One side of the frames must equal ``size`` (resize the short side to ``size`` first).

    Returns:
        ``(3, *x.shape[:-2], size, size)``, crop-major.
    """
    _check_clip(x)
    return torch.stack([_crop(x, top, left, size, size) for top, left in three_crop_boxes(*x.shape[-2:], size)])


def ten_crop_boxes(height: int, width: int, size: int) -> list[tuple[int, int]]:
    """MMAction2 ``TenCrop`` (= the original repo's ``GroupOverSample``) offsets ``(top, left)`` of its 5 crops,
    in order: upper left, upper right, lower left, lower right, center, at steps ``(W - S) // 4``,
    ``(H - S) // 4``.

    Example:
        >>> ten_crop_boxes(256, 340, 224)
        [(0, 0), (0, 116), (32, 0), (32, 116), (16, 58)]
    """
    if size > height or size > width:
        raise ValueError(f"ten crop of {size} is larger than the frames ({height}x{width}, h x w)")
    ws, hs = (width - size) // 4, (height - size) // 4
    return [(0, 0), (0, 4 * ws), (4 * hs, 0), (4 * hs, 4 * ws), (2 * hs, 2 * ws)]


def ten_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """MMAction2 ``TenCrop``: each of the 5 :func:`ten_crop_boxes` crops followed by its horizontal flip.

    Returns:
        ``(10, *x.shape[:-2], size, size)``: crop 0, crop 0 flipped, crop 1, ...
    """
    _check_clip(x)
    views = []
    for top, left in ten_crop_boxes(*x.shape[-2:], size):
        c = _crop(x, top, left, size, size)
        views += [c, TF.horizontal_flip(c)]
    return torch.stack(views)


def full_res_crop_boxes(height: int, width: int, size: int) -> list[tuple[int, int]]:
    """The original repo's ``GroupFullResSample(flip=False)`` offsets ``(top, left)``: left, right, center, all
    at ``top = 2 * ((H - S) // 4)`` and ``left = 0, 4 * ((W - S) // 4), 2 * ((W - S) // 4)`` (not MMAction2's
    ``ThreeCrop``, whose steps are ``(W - S) // 2``).

    Example:
        >>> full_res_crop_boxes(256, 455, 256)
        [(0, 0), (0, 196), (0, 98)]
    """
    if size > height or size > width:
        raise ValueError(f"full-res crop of {size} is larger than the frames ({height}x{width}, h x w)")
    ws, hs = (width - size) // 4, (height - size) // 4
    return [(2 * hs, 0), (2 * hs, 4 * ws), (2 * hs, 2 * ws)]


def full_res_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The original repo's ``--test_crops=3`` (``GroupFullResSample``): ``(3, *x.shape[:-2], size, size)``."""
    _check_clip(x)
    return torch.stack([_crop(x, top, left, size, size) for top, left in full_res_crop_boxes(*x.shape[-2:], size)])


def multi_scale_crop_box(
    height: int,
    width: int,
    input_size: int | tuple[int, int] = 224,
    scales: Sequence[float] = _MSC_SCALES,
    max_wh_scale_gap: int = 1,
    random_crop: bool = False,
    num_fixed_crops: int = 13,
    rng: np.random.Generator | None = None,
) -> tuple[int, int, int, int]:
    """Crop box ``(top, left, h, w)`` of MMAction2 ``MultiScaleCrop`` for ``height x width`` frames.

    Crop sides are ``int(min(H, W) * s)`` for ``s`` in ``scales`` (width and height scales at most
    ``max_wh_scale_gap`` apart), snapped to ``input_size`` when within 2 px; the position is one of 5 or 13 fixed
    grid points (or uniform when ``random_crop``).
    """
    if num_fixed_crops not in (5, 13):
        raise ValueError(f"num_fixed_crops must be 5 or 13, got {num_fixed_crops}")
    gen = rng if rng is not None else np.random.default_rng()
    in_w, in_h = (input_size, input_size) if isinstance(input_size, int) else (input_size[1], input_size[0])
    base = min(height, width)
    sides = [int(base * s) for s in scales]
    candidates = [[w, h] for i, h in enumerate(sides) for j, w in enumerate(sides) if abs(i - j) <= max_wh_scale_gap]
    crop = list(candidates[int(gen.integers(len(candidates)))])
    for i, target in enumerate((in_w, in_h)):
        if abs(crop[i] - target) < 3:
            crop[i] = target
    crop_w, crop_h = crop
    if crop_w > width or crop_h > height:
        raise ValueError(f"multi-scale crop {crop_h}x{crop_w} does not fit frames of {height}x{width}")
    if random_crop:
        return int(gen.integers(height - crop_h + 1)), int(gen.integers(width - crop_w + 1)), crop_h, crop_w
    ws, hs = (width - crop_w) // 4, (height - crop_h) // 4
    offsets = [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]
    if num_fixed_crops == 13:
        offsets += [
            (0, 2 * hs),
            (4 * ws, 2 * hs),
            (2 * ws, 4 * hs),
            (2 * ws, 0),
            (ws, hs),
            (3 * ws, hs),
            (ws, 3 * hs),
            (3 * ws, 3 * hs),
        ]
    left, top = offsets[int(gen.integers(len(offsets)))]
    return top, left, crop_h, crop_w


def multi_scale_crop(
    x: torch.Tensor,
    input_size: int = 224,
    scales: Sequence[float] = _MSC_SCALES,
    rng: np.random.Generator | None = None,
    **kwargs: int | bool,
) -> torch.Tensor:
    """MMAction2 ``MultiScaleCrop`` followed by ``Resize((input_size, input_size), keep_ratio=False)``."""
    _check_clip(x)
    top, left, h, w = multi_scale_crop_box(*x.shape[-2:], input_size, scales, rng=rng, **kwargs)
    return resize(_crop(x, top, left, h, w), (input_size, input_size))


def flip(x: torch.Tensor) -> torch.Tensor:
    """Horizontal flip of every frame."""
    _check_clip(x)
    return TF.horizontal_flip(x)


def normalize(x: torch.Tensor, mean: Sequence[float] = MEAN_255, std: Sequence[float] = STD_255) -> torch.Tensor:
    """``(x - mean) / std`` per channel, with ``mean``/``std`` on the 0-255 scale -> float32 (the channel order
    of ``mean``/``std`` is that of ``x``)."""
    _check_clip(x)
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    return (x.to(torch.float32) - m) * (1.0 / s)


_LEFT_RIGHT = re.compile(r"\b(left|right)\b")


def flip_label_map(dataset: str | Sequence[str]) -> dict[int, int]:
    """Class index swaps for a horizontal flip: classes whose names differ only by "left" <-> "right".

    For ``"sthv1"`` this is MMAction2's ``flip_label_map`` ``{2: 4, 4: 2, 30: 41, 41: 30, 52: 66, 66: 52}``;
    Kinetics-400 has none.

    Args:
        dataset: a packaged label set name, or the class names themselves.
    """
    names = load_labels(dataset) if isinstance(dataset, str) else list(dataset)
    index = {n: i for i, n in enumerate(names)}
    swap = {"left": "right", "right": "left"}
    out = {}
    for i, name in enumerate(names):
        mirrored = _LEFT_RIGHT.sub(lambda m: swap[m.group(1)], name)
        j = index.get(mirrored)
        if mirrored != name and j is not None:
            out[i] = j
    return out


_CROPS = {"center": 1, "three": 3, "ten": 10, "full_res": 3}
Label = int | tuple[int, ...] | None


@dataclass
class VideoTransform:
    """Decoded frames -> normalised network input, one geometry for all frames.

    ``transform(frames)`` takes ``(T, H, W, 3)`` RGB (ndarray or tensor, ``uint8`` or float on 0-255) and
    returns float32 ``(num_crops, T, 3, S, S)``. Test mode: short-side resize, then the crops of ``crop``.
    Training mode: short-side resize, multi-scale crop resized to ``S x S``, random horizontal flip with
    probability ``flip_ratio``; :meth:`with_label` also swaps left/right labels on flipped clips.

    Attributes:
        resize_short: short side after resizing (MMAction2 ``Resize((-1, resize_short))``).
        crop_size: ``S``.
        crop: test crops: ``"center"`` (1), ``"three"`` (MMAction2 ``ThreeCrop``, 3), ``"ten"`` (``TenCrop``,
            10), ``"full_res"`` (the original repo's ``GroupFullResSample``, 3).
        mean, std: per-channel statistics on the 0-255 scale, in the model's channel order.
        geometry: ``"mmaction2"`` or ``"mit"`` resize/center-crop arithmetic (module docstring).
        channel_order: ``"bgr"`` swaps the RGB input's channels before normalising (a model trained on OpenCV
            frames fed unswapped).
        train: training augmentation instead of the test pipeline.
        flip_ratio: probability of flipping a training clip.
        flip_label_map: label swaps applied by :meth:`with_label` when a clip is flipped (to each label of a
            multi-label tuple).
        scales: ``MultiScaleCrop`` scales (training).
        randaugment: training only: a clip augmentation ``aug(uint8 clip (T, 3, S, S), rng)`` applied after the
            crop and flip, e.g. :class:`tsm_models.data.augment.ClipRandAugment` (one draw for every frame).
    """

    resize_short: int = 256
    crop_size: int = 224
    crop: str = "center"
    mean: tuple[float, ...] = MEAN_255
    std: tuple[float, ...] = STD_255
    geometry: str = "mmaction2"
    channel_order: str = "rgb"
    train: bool = False
    flip_ratio: float = 0.0
    flip_label_map: dict[int, int] = field(default_factory=dict)
    scales: tuple[float, ...] = _MSC_SCALES
    rng: np.random.Generator | None = field(default=None, repr=False)
    randaugment: Callable[[torch.Tensor, np.random.Generator], torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if self.crop not in _CROPS:
            raise ValueError(f"crop must be one of {tuple(_CROPS)}, got {self.crop!r}")
        if self.geometry not in ("mmaction2", "mit"):
            raise ValueError(f"geometry must be 'mmaction2' or 'mit', got {self.geometry!r}")
        if self.channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {self.channel_order!r}")
        if self.crop == "three" and self.resize_short != self.crop_size:
            raise ValueError(
                f"three crop takes crops as large as the short side: resize_short ({self.resize_short}) must equal "
                f"crop_size ({self.crop_size})"
            )
        if self.resize_short < self.crop_size:
            raise ValueError(f"resize_short ({self.resize_short}) must be >= crop_size ({self.crop_size})")
        if not 0.0 <= self.flip_ratio <= 1.0:
            raise ValueError(f"flip_ratio must be in [0, 1], got {self.flip_ratio}")

    @property
    def num_crops(self) -> int:
        """Crops per clip in the output (1 in training)."""
        return 1 if self.train else _CROPS[self.crop]

    def __call__(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        return self.with_label(frames, None)[0]

    def with_label(self, frames: np.ndarray | torch.Tensor, label: Label) -> tuple[torch.Tensor, Label]:
        """Transform a clip and its label: a flipped training clip gets ``flip_label_map.get(label, label)``
        (each label of a tuple of labels)."""
        x = resize_short(to_clip_tensor(frames), self.resize_short, self.geometry)
        if self.train:
            gen = self.rng if self.rng is not None else np.random.default_rng()
            x = multi_scale_crop(x, self.crop_size, self.scales, rng=gen)
            if self.flip_ratio and gen.random() < self.flip_ratio:
                x = flip(x)
                if isinstance(label, tuple):
                    label = tuple(sorted(self.flip_label_map.get(int(v), int(v)) for v in label))
                elif label is not None:
                    label = self.flip_label_map.get(int(label), int(label))
            if self.randaugment is not None:
                if x.dtype != torch.uint8:
                    x = x.round().clamp(0, 255).to(torch.uint8)
                x = self.randaugment(x, gen)
            x = x.unsqueeze(0)
        elif self.crop == "three":
            x = three_crop(x, self.crop_size)
        elif self.crop == "ten":
            x = ten_crop(x, self.crop_size)
        elif self.crop == "full_res":
            x = full_res_crop(x, self.crop_size)
        else:
            x = center_crop(x, self.crop_size, self.geometry).unsqueeze(0)
        if self.channel_order == "bgr":
            x = x.flip(-3)
        return normalize(x, self.mean, self.std), label


def create_transform(
    cfg: ZooEntry | ClipProtocol,
    train: bool = False,
    flip: bool | None = None,
    rng: np.random.Generator | None = None,
) -> VideoTransform:
    """The preprocessing of a zoo record: frames ``(T, H, W, 3)`` -> float ``(num_crops, T, 3, S, S)``.

    Args:
        cfg: a :class:`~tsm_models.ZooEntry` (or just its :class:`~tsm_models.zoo.ClipProtocol`).
        train: the training augmentation (multi-scale crop, flip) instead of the test pipeline.
        flip: training only: random horizontal flips (p=0.5); ``None`` = the entry's recipe (Kinetics yes,
            Something-Something no). Flipping a Something-Something clip swaps its left/right labels
            (:meth:`VideoTransform.with_label`).
        rng: NumPy random generator for the training augmentation (default: a fresh one per clip, so
            DataLoader workers never repeat each other).

    Raises:
        ValueError: an optical-flow protocol (flow stacks are the caller's to compute and normalise).

    Example:
        >>> transform = tsm_models.create_transform(tsm_models.get_zoo_entry("tsm_r50_1x1x8_kinetics400"))
        >>> transform(frames).shape  # frames: (8, 360, 640, 3) uint8
        torch.Size([1, 8, 3, 224, 224])
    """
    entry = cfg if isinstance(cfg, ZooEntry) else None
    p = cfg.protocol if isinstance(cfg, ZooEntry) else cfg
    if not isinstance(p, ClipProtocol):
        raise ValueError(f"expected a ZooEntry or ClipProtocol, got {type(cfg).__name__}")
    if p.modality != "rgb":
        raise ValueError(
            f"the protocol is for {p.modality} input: this library does not compute optical flow; feed the model "
            "flow stacks (B, T, C, H, W) you computed and normalised"
        )
    if flip is None:
        flip = bool(train and entry is not None and entry.recipe is not None and entry.recipe.flip)
    if flip and not train:
        raise ValueError("flip is a training augmentation (train=True)")
    label_map: dict[int, int] = {}
    if flip and entry is not None and entry.label_set in DATASETS:
        label_map = flip_label_map(entry.label_set)
    return VideoTransform(
        resize_short=p.resize_short,
        crop_size=p.crop_size,
        crop=p.crop,
        mean=tuple(p.mean),
        std=tuple(p.std),
        geometry=p.geometry,
        channel_order=p.channel_order,
        train=train,
        flip_ratio=0.5 if flip else 0.0,
        flip_label_map=label_map,
        rng=rng,
    )
