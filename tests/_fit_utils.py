"""Generated datasets for the training-command tests: squares sliding left or right, as small MP4 files.

A "right" video is a "left" video played backwards, so only the order of the frames tells the classes
apart (the motion dataset of ``examples/temporal_reasoning.py``, encoded as files).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# flags for tiny runs: an R18 TSM on 4 frames of 32 px, no pretrained weights, no worker processes
TINY = ["-m", "tsm_r18", "--no-pretrained", "--num-segments", "4", "--short-side", "32", "--crop-size", "32",
        "--workers", "0", "--no-progress", "--device", "cpu"]  # fmt: skip


def motion_frames(direction: int, rng: np.random.Generator, num_frames: int = 8, size: tuple[int, int] = (40, 32)):
    """``(T, H, W, 3)`` uint8: a bright square moving right (``direction=1``) or left (0) over noise."""
    width, height = size
    square = 8
    speed = int(rng.integers(2, 4))
    x0 = int(rng.integers(0, width - square - speed * (num_frames - 1) + 1))
    row = int(rng.integers(0, height - square + 1))
    colour = rng.integers(150, 256, size=3)
    frames = rng.integers(0, 50, size=(num_frames, height, width, 3)).astype(np.uint8)
    cols = [x0 + speed * t for t in range(num_frames)]
    if direction == 0:
        cols = cols[::-1]
    for t, c in enumerate(cols):
        frames[t, row : row + square, c : c + square] = colour
    return frames


def write_mp4(path: Path, frames: np.ndarray, fps: int = 8) -> Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "10"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_motion_folders(root: Path, per_class: int = 4, val_per_class: int = 2, seed: int = 0) -> Path:
    """``root/train/{moving left,moving right}/*.mp4`` and ``root/val/...``."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), ("val", val_per_class)):
        for direction, name in ((0, "moving left"), (1, "moving right")):
            for i in range(n):
                write_mp4(root / split / name / f"{i}.mp4", motion_frames(direction, rng))
    return root


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    paths = [str(ROOT), env.get("PYTHONPATH", "")]
    env.update(PYTHONPATH=os.pathsep.join(p for p in paths if p), OMP_NUM_THREADS="1", **extra)
    return env


def run_cli(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m tsm_models ARGS`` in a fresh process (one thread)."""
    return subprocess.run(
        [sys.executable, "-m", "tsm_models", *args],
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(ROOT),
    )


def colour_frames(labels: tuple[int, ...], rng: np.random.Generator, num_frames: int = 4, size: int = 32):
    """``(T, H, W, 3)`` uint8 noise whose colour channel ``k`` is lit for each class ``k`` in ``labels``
    (class 0 red, 1 green, 2 blue: a video of classes 0 and 2 is magenta)."""
    frames = rng.integers(0, 60, size=(num_frames, size, size, 3))
    for label in labels:
        frames[..., label] += 140
    return frames.astype(np.uint8)


def write_multilabel_lists(root: Path, num_train: int = 48, num_val: int = 21, seed: int = 0) -> tuple[Path, Path]:
    """Videos with a random non-empty subset of the 3 colours; MMAction2 multi_class lists ``path l1 [l2 ...]``."""
    rng = np.random.default_rng(seed)
    subsets = [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]
    lists = []
    for split, n in (("train", num_train), ("val", num_val)):
        lines = []
        for i in range(n):
            labels = subsets[i % len(subsets)] if split == "val" else subsets[int(rng.integers(len(subsets)))]
            name = f"{split}/{i}.mp4"
            write_mp4(root / name, colour_frames(labels, rng))
            lines.append(" ".join([name, *map(str, labels)]))
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
        lists.append(root / f"{split}.txt")
    return lists[0], lists[1]
