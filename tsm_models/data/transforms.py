"""Clip transforms: one geometry for every frame of a clip, MMAction2 semantics.

The functions work on clips ``(T, 3, H, W)`` (any leading dims before ``3, H, W``), ``uint8`` or float on the
0-255 scale; resizing keeps the dtype (``uint8`` in, rounded ``uint8`` out, like MMAction2's OpenCV resize).
:func:`create_transform` builds the full test (or training) pipeline of a zoo record:

    uint8 frames (T, H, W, 3) -> short-side resize -> center/three crop -> normalise -> (num_crops, T, 3, S, S)

Geometry follows MMAction2 exactly: resize to ``int(w * f + 0.5) x int(h * f + 0.5)`` with ``f = short / min(h,
w)`` (bilinear, no antialias, like ``cv2.resize``), center crop at ``((W - S) // 2, (H - S) // 2)``, three crop
left/right/middle, ``MultiScaleCrop`` with 13 fixed crop positions.
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
    "VideoTransform",
    "center_crop",
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


def resize_short(x: torch.Tensor, size: int) -> torch.Tensor:
    """MMAction2 ``Resize(scale=(-1, size))``: short side to ``size``, aspect kept, sides ``int(s * f + 0.5)``."""
    _check_clip(x)
    h, w = x.shape[-2:]
    factor = size / min(h, w)
    return resize(x, (int(h * factor + 0.5), int(w * factor + 0.5)))


def _crop(x: torch.Tensor, top: int, left: int, h: int, w: int) -> torch.Tensor:
    return x[..., top : top + h, left : left + w]


def center_crop(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """MMAction2 ``CenterCrop``: the ``size`` crop at ``left = (W - w) // 2``, ``top = (H - h) // 2``."""
    _check_clip(x)
    ch, cw = (size, size) if isinstance(size, int) else size
    h, w = x.shape[-2:]
    if ch > h or cw > w:
        raise ValueError(f"crop {ch}x{cw} (h x w) is larger than the frames ({h}x{w})")
    return _crop(x, (h - ch) // 2, (w - cw) // 2, ch, cw)


def three_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """MMAction2 ``ThreeCrop``: three ``size`` crops along the long side (left/top, right/bottom, middle).

    One side of the frames must equal ``size`` (resize the short side to ``size`` first).

    Returns:
        ``(3, *x.shape[:-2], size, size)``, crop-major.
    """
    _check_clip(x)
    h, w = x.shape[-2:]
    if h == size and w >= size:
        step = (w - size) // 2
        offsets = [(0, 0), (0, 2 * step), (0, step)]
    elif w == size and h >= size:
        step = (h - size) // 2
        offsets = [(0, 0), (2 * step, 0), (step, 0)]
    else:
        raise ValueError(f"three crop of {size} needs frames with one side equal to {size}, got {h}x{w} (h x w)")
    return torch.stack([_crop(x, top, left, size, size) for top, left in offsets])


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
    """``(x - mean) / std`` per RGB channel, with ``mean``/``std`` on the 0-255 scale -> float32."""
    _check_clip(x)
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(3, 1, 1)
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


Label = int | tuple[int, ...] | None


@dataclass
class VideoTransform:
    """Decoded frames -> normalised network input, one geometry for all frames.

    ``transform(frames)`` takes ``(T, H, W, 3)`` RGB (ndarray or tensor, ``uint8`` or float on 0-255) and
    returns float32 ``(num_crops, T, 3, S, S)``. Test mode: short-side resize, then a center crop (1 crop) or
    three crops. Training mode: short-side resize, multi-scale crop resized to ``S x S``, random horizontal flip
    with probability ``flip_ratio``; :meth:`with_label` also swaps left/right labels on flipped clips.

    Attributes:
        resize_short: short side after resizing (MMAction2 ``Resize((-1, resize_short))``).
        crop_size: ``S``.
        crop: ``"center"`` or ``"three"`` (test mode).
        mean, std: per-channel RGB statistics on the 0-255 scale.
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
    mean: tuple[float, float, float] = MEAN_255
    std: tuple[float, float, float] = STD_255
    train: bool = False
    flip_ratio: float = 0.0
    flip_label_map: dict[int, int] = field(default_factory=dict)
    scales: tuple[float, ...] = _MSC_SCALES
    rng: np.random.Generator | None = field(default=None, repr=False)
    randaugment: Callable[[torch.Tensor, np.random.Generator], torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if self.crop not in ("center", "three"):
            raise ValueError(f"crop must be 'center' or 'three', got {self.crop!r}")
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
        """Crops per clip in the output (3 for a three-crop test pipeline, else 1)."""
        return 3 if self.crop == "three" and not self.train else 1

    def __call__(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        return self.with_label(frames, None)[0]

    def with_label(self, frames: np.ndarray | torch.Tensor, label: Label) -> tuple[torch.Tensor, Label]:
        """Transform a clip and its label: a flipped training clip gets ``flip_label_map.get(label, label)``
        (each label of a tuple of labels)."""
        x = resize_short(to_clip_tensor(frames), self.resize_short)
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
        else:
            x = center_crop(x, self.crop_size).unsqueeze(0)
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

    Example:
        >>> transform = tsm_models.create_transform(tsm_models.get_pretrained_cfg("tsm_r50_1x1x8_kinetics400"))
        >>> transform(frames).shape  # frames: (8, 360, 640, 3) uint8
        torch.Size([1, 8, 3, 224, 224])
    """
    entry = cfg if isinstance(cfg, ZooEntry) else None
    p = cfg.protocol if isinstance(cfg, ZooEntry) else cfg
    if not isinstance(p, ClipProtocol):
        raise ValueError(f"expected a ZooEntry or ClipProtocol, got {type(cfg).__name__}")
    if flip is None:
        flip = bool(train and entry is not None and entry.recipe is not None and entry.recipe.flip)
    if flip and not train:
        raise ValueError("flip is a training augmentation (train=True)")
    label_map: dict[int, int] = {}
    if flip and entry is not None and entry.dataset in DATASETS:
        label_map = flip_label_map(entry.dataset)
    return VideoTransform(
        resize_short=p.resize_short,
        crop_size=p.crop_size,
        crop=p.crop,
        mean=tuple(p.mean),
        std=tuple(p.std),
        train=train,
        flip_ratio=0.5 if flip else 0.0,
        flip_label_map=label_map,
        rng=rng,
    )
