"""Classify a video frame by frame with an online TSM, printing the label whenever it changes.

A streaming TSM (``shift_direction="online"``) sees each frame once, as a live camera would deliver it, and
keeps a running clip prediction over the last ``num_segments`` frames. The zoo checkpoints are bi-directional
(their shift looks one frame ahead), so this needs an online model: one you trained with the usual training
helpers and ``shift_direction="online"``, passed with ``--pretrained``.

    # a video file (needs PyAV: pip install "tsm-models[video]")
    python examples/streaming.py clip.mp4 --model tsm_r50 --pretrained online_r50/ --labels kinetics400

    # no video file, no weights: synthetic frames through a randomly initialised model (shows the mechanics)
    python examples/streaming.py --demo --model tsm_r18 --size 112

Output: one line per label change, ``frame  time  label  probability``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple, Protocol, TextIO

import numpy as np
import torch

import tsm_models
from tsm_models.models.zoo import ClipProtocol


class _Stream(Protocol):
    def step(self, frame: torch.Tensor) -> tsm_models.models.streaming.StreamStep: ...


class LabelChange(NamedTuple):
    """A point where the running clip prediction switched to another class."""

    frame_index: int
    seconds: float
    label: str
    probability: float


# Class names from a packaged label set or a text file (one per line).
resolve_labels = tsm_models.labels.read_labels


def synthetic_frames(num_frames: int = 64, height: int = 240, width: int = 320) -> Iterator[np.ndarray]:
    """``(H, W, 3)`` uint8 RGB frames of a bright square crossing a dark background, left to right."""
    side = max(4, min(height, width) // 4)
    for i in range(num_frames):
        frame = np.full((height, width, 3), 30, dtype=np.uint8)
        x = (i * max(1, (width - side) // max(1, num_frames - 1))) % (width - side + 1)
        y = (height - side) // 2
        frame[y : y + side, x : x + side] = (230, 200, 40)
        yield frame


def make_preprocess(size: int) -> Any:
    """uint8 ``(H, W, 3)`` frame -> normalised ``(1, 3, size, size)``: short side to ``size * 256 / 224``, center
    crop, ImageNet mean/std (the zoo's test protocol, one view)."""
    protocol = dataclasses.replace(
        ClipProtocol(), crop="center", num_crops=1, crop_size=size, resize_short=round(size * 256 / 224)
    )
    transform = tsm_models.create_transform(protocol, train=False)

    def preprocess(frame: np.ndarray) -> torch.Tensor:
        views = torch.as_tensor(transform(frame[None]))  # (num_crops=1, T=1, 3, S, S)
        return views[0]  # (1, 3, S, S): a batch of one frame

    return preprocess


def classify_stream(
    stream: _Stream, frames: Iterable[torch.Tensor], labels: list[str], fps: float, out: TextIO
) -> list[LabelChange]:
    """Feed normalised ``(1, 3, H, W)`` frames to ``stream`` and print each change of the running prediction.

    Returns:
        The label changes, in order (the first frame always starts one).
    """
    changes: list[LabelChange] = []
    current = -1
    for index, frame in enumerate(frames):
        _, clip_logits = stream.step(frame)
        probs = clip_logits[0].float().softmax(0)
        best = int(probs.argmax())
        if best != current:
            current = best
            name = labels[best] if best < len(labels) else f"class {best}"
            change = LabelChange(index, index / fps if fps > 0 else 0.0, name, float(probs[best]))
            changes.append(change)
            out.write(f"frame {index:6d}  {change.seconds:8.2f}s  {name}  ({change.probability:.2f})\n")
            out.flush()
    return changes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", nargs="?", help="video file to classify (omit with --demo)")
    parser.add_argument("--model", default="tsm_r50", help="architecture name (built with shift_direction='online')")
    parser.add_argument("--pretrained", default=None, help="checkpoint of an online model (file or saved folder)")
    parser.add_argument("--labels", default="kinetics400", help="kinetics400 | sthv1 | sthv2 | a file of class names")
    parser.add_argument("--num-segments", type=int, default=8, help="frames averaged into the running prediction")
    parser.add_argument("--size", type=int, default=224, help="crop size fed to the network")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--demo", action="store_true", help="synthetic frames instead of a video file")
    parser.add_argument("--frames", type=int, default=64, help="number of synthetic frames with --demo")
    args = parser.parse_args(argv)
    if not args.demo and not args.video:
        parser.error("give a video file, or --demo for synthetic frames")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    labels = resolve_labels(args.labels)
    model = tsm_models.create_model(
        args.model,
        pretrained=args.pretrained or False,
        num_classes=len(labels),
        num_segments=args.num_segments,
        shift_direction="online",
    )
    if args.pretrained is None:
        print("note: no --pretrained weights, the model is randomly initialised", file=sys.stderr)
    stream = model.to(args.device).stream()
    preprocess = make_preprocess(args.size)

    if args.demo:
        raw: Iterable[np.ndarray] = synthetic_frames(args.frames)
        fps = 25.0
    else:
        reader = tsm_models.open_video(args.video)
        raw, fps = reader.iter_frames(), float(reader.fps)
    frames = (preprocess(f).to(args.device) for f in raw)
    start = time.perf_counter()
    changes = classify_stream(stream, frames, labels, fps, sys.stdout)
    elapsed = time.perf_counter() - start
    print(
        f"{stream.num_frames} frames in {elapsed:.1f} s ({stream.num_frames / max(elapsed, 1e-9):.1f} frames/s), "
        f"{len(changes)} label change(s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (FileNotFoundError, ValueError, ImportError) as exc:  # bad input or missing extra: one clear line
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
