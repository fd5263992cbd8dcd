"""Small datasets and networks for the training tests (frame folders of PNG images, a 4-block TSM)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from timm.models.resnet import BasicBlock

import tsm_models
from tsm_models.models.zoo import ClipProtocol

# 4 frames per clip, 40 px short side, 32 px crops; PNG frames named like MMAction2 raw frames
PROTOCOL = ClipProtocol(num_frames=4, resize_short=40, crop_size=32, filename_tmpl="img_{:05}.png")


def tiny_tsm(num_classes: int = 3, num_segments: int = 4, dropout: float = 0.5, **kwargs: object) -> tsm_models.TSM:
    return tsm_models.TSM(
        BasicBlock,
        (1, 1, 1, 1),
        num_classes=num_classes,
        num_segments=num_segments,
        channels=(8, 16, 16, 16),
        stem_width=8,
        dropout=dropout,
        **kwargs,
    )


def write_frame_folder(
    path: Path,
    num_frames: int,
    label: int,
    size: tuple[int, int] = (48, 40),
    seed: int = 0,
    filename_tmpl: str = "img_{:05}.png",
) -> Path:
    """``img_00001.png``... : noise plus a square whose position encodes the label and frame number."""
    from PIL import Image

    width, height = size
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    for i in range(num_frames):
        frame = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
        x = (4 + 3 * i) % (width - 8)
        frame[4 + 10 * label : 12 + 10 * label, x : x + 8] = 255
        Image.fromarray(frame).save(path / filename_tmpl.format(i + 1))
    return path


def write_frame_dataset(root: Path, num_videos: int = 8, num_classes: int = 3) -> Path:
    """Frame folders ``root/v<i>`` and a raw-frame annotation list ``root/list.txt`` (``dir total_frames label``)."""
    lines = []
    for i in range(num_videos):
        label = i % num_classes
        frames = 6 + i
        write_frame_folder(root / f"v{i}", frames, label, seed=i)
        lines.append(f"v{i} {frames} {label}")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    return root / "list.txt"
