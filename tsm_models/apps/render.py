"""Pictures of predictions: a labelled copy of a video (H.264 through PyAV), a PNG strip, an animated GIF.

>>> labels = tsm_models.predict(model, "clip.mp4", topk=3)
>>> write_labelled_video("clip.mp4", "clip_labelled.mp4", labels)       # same frames, fps and duration
>>> write_labelled_video("long.mp4", "long_labelled.mp4", timeline.labels_at)  # labels per window
>>> write_strip(frames, "clip.png", labels)                            # sampled frames + labels, one PNG

Every writer goes through a temporary file beside the output that replaces it only when complete: an error
(or Ctrl-C) never leaves a half-written file. Text is drawn with Pillow; frames are ``(H, W, 3)`` uint8 RGB.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from .._io import atomic_write
from ..data.video import FrameReader, _import_av, open_video
from ._outputs import check_output

__all__ = [
    "VIDEO_SUFFIXES",
    "draw_labels",
    "encode_video",
    "write_gif",
    "write_labelled_video",
    "write_strip",
]

_logger = logging.getLogger(__name__)

# Output containers for H.264 (suffix -> FFmpeg muxer).
VIDEO_SUFFIXES: dict[str, str] = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}

Labels = Sequence[tuple[str, float]]


def _pil() -> Any:
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("drawing labels needs Pillow; install it with: pip install 'tsm-models[video]'") from exc
    return Image, ImageDraw, ImageFont


def _font(size: int) -> Any:
    _, _, image_font = _pil()
    try:
        return image_font.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return image_font.load_default()


def draw_labels(frame: np.ndarray, labels: Labels, title: str | None = None) -> np.ndarray:
    """``frame`` ``(H, W, 3)`` uint8 with the labels (and a probability bar each) in a box at the top left."""
    image_cls, draw_cls, _ = _pil()
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    h, w = frame.shape[:2]
    size = max(9, min(h // 14, w // 24, 28))
    font = _font(size)
    lines = ([title] if title else []) + [f"{p * 100:5.1f}%  {name}" for name, p in labels]
    if not lines:
        return frame.copy()
    image = image_cls.fromarray(frame).convert("RGBA")
    overlay = image_cls.new("RGBA", image.size, (0, 0, 0, 0))
    draw = draw_cls.Draw(overlay)
    pad, gap = max(2, size // 4), max(1, size // 5)
    widths = [draw.textlength(line, font=font) for line in lines]
    box_w = min(w, int(max(widths)) + 2 * pad)
    line_h = size + gap
    box_h = min(h, len(lines) * line_h + 2 * pad)
    draw.rectangle([0, 0, box_w, box_h], fill=(0, 0, 0, 150))
    y = pad
    first = 1 if title else 0
    for i, line in enumerate(lines):
        if i >= first:
            p = float(labels[i - first][1])
            bar = int((box_w - 2 * pad) * max(0.0, min(1.0, p)))
            if bar > 0:
                draw.rectangle([pad, y + size - max(1, size // 8), pad + bar, y + size], fill=(80, 200, 255, 220))
        draw.text((pad, y), line, font=font, fill=(255, 255, 255, 255))
        y += line_h
    return np.asarray(image_cls.alpha_composite(image, overlay).convert("RGB"))


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad an odd height/width by one edge pixel (4:2:0 H.264 needs even sizes)."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return frame


def _rate(fps: float | Fraction) -> Fraction:
    if not fps or float(fps) <= 0:
        raise ValueError(f"the output frame rate must be positive, got {fps}")
    return fps if isinstance(fps, Fraction) else Fraction(float(fps)).limit_denominator(100000)


def encode_video(frames: Iterable[np.ndarray], out: str | os.PathLike, fps: float | Fraction, crf: int = 20) -> int:
    """Encode ``(H, W, 3)`` uint8 frames as H.264 (yuv420p) into ``out`` (.mp4/.mov/.mkv), atomically.

    Returns:
        The number of frames written.
    """
    av = _import_av()
    path = check_output(out, VIDEO_SUFFIXES, "video output")
    rate = _rate(fps)
    count = 0
    with atomic_write(path, "wb") as f, av.open(f, "w", format=VIDEO_SUFFIXES[path.suffix.lower()]) as container:
        stream = None
        for frame in frames:
            frame = _even(np.asarray(frame, dtype=np.uint8))
            if stream is None:
                stream = container.add_stream("libx264", rate=rate)
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            elif frame.shape[:2] != (stream.height, stream.width):
                raise ValueError(
                    f"frame {count} is {frame.shape[1]}x{frame.shape[0]}, the video {stream.width}x{stream.height}"
                )
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
            count += 1
        if stream is None:
            raise ValueError(f"no frames to write to {os.fspath(out)}")
        for packet in stream.encode():
            container.mux(packet)
    return count


def write_labelled_video(
    video: Any,
    out: str | os.PathLike,
    labels: Labels | Callable[[int], Labels],
    title: str | None = None,
    fps: float | None = None,
) -> int:
    """Copy ``video`` to ``out`` with labels drawn on every frame: same frames, frame rate and duration.

    Args:
        video: a video file or URL (its frame rate is kept), or frames / a raw-frame folder with ``fps``.
        out: ``.mp4``, ``.mov`` or ``.mkv`` (H.264).
        labels: ``[(label, probability), ...]`` for every frame, or a function of the frame index
            (e.g. :meth:`Timeline.labels_at <tsm_models.apps.timeline.Timeline.labels_at>`).
        title: a line above the labels (e.g. the model name).
        fps: frame rate for sources without one (default 25).

    Returns:
        Frames written (= frames of the input).
    """
    check_output(out, VIDEO_SUFFIXES, "video output")
    at = labels if callable(labels) else (lambda _i, fixed=list(labels): fixed)
    reader = open_video(video)
    try:
        rate: Any = _source_rate(reader) or fps or 25.0
        frames = (draw_labels(f, at(i), title) for i, f in enumerate(reader.iter_frames()))
        count = encode_video(frames, out, rate)
    finally:
        if not isinstance(video, FrameReader):
            reader.close()
    _logger.debug("%s: %d labelled frames at %s fps", os.fspath(out), count, rate)
    return count


def _source_rate(reader: Any) -> Fraction | None:
    stream = getattr(reader, "_stream", None)  # PyAV: keep the exact rational rate (30000/1001 stays exact)
    rate = getattr(stream, "average_rate", None) or getattr(stream, "guessed_rate", None)
    if rate:
        return Fraction(rate.numerator, rate.denominator)
    return Fraction(reader.fps).limit_denominator(100000) if reader.fps else None


def write_strip(
    frames: np.ndarray, out: str | os.PathLike, labels: Labels = (), title: str | None = None, height: int = 120
) -> None:
    """One PNG: ``frames`` ``(T, H, W, 3)`` side by side (scaled to ``height`` px), the labels below."""
    image_cls, draw_cls, _ = _pil()
    path = check_output(out, (".png", ".jpg", ".jpeg"), "image output")
    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"expected frames (T, H, W, 3), got shape {frames.shape}")
    tiles = []
    for f in frames:
        scale = height / f.shape[0]
        tiles.append(image_cls.fromarray(f).resize((max(1, round(f.shape[1] * scale)), height), image_cls.BILINEAR))
    gap = 4
    width = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
    size = 14
    font = _font(size)
    lines = ([title] if title else []) + [f"{p * 100:5.1f}%  {name}" for name, p in labels]
    text_h = (len(lines) * (size + 5) + 8) if lines else 0
    canvas = image_cls.new("RGB", (max(width, 320), height + text_h), (255, 255, 255))
    x = 0
    for t in tiles:
        canvas.paste(t, (x, 0))
        x += t.width + gap
    draw = draw_cls.Draw(canvas)
    y = height + 4
    first = 1 if title else 0
    for i, line in enumerate(lines):
        if i >= first:
            p = float(labels[i - first][1])
            if int(120 * p) > 0:
                draw.rectangle([4, y + 2, 4 + int(120 * min(1.0, p)), y + size], fill=(170, 215, 255))
        draw.text((6, y), line, font=font, fill=(0, 0, 0))
        y += size + 5
    with atomic_write(path, "wb") as f:
        canvas.save(f, format="JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG")


def write_gif(frames: Iterable[np.ndarray], out: str | os.PathLike, fps: float = 4.0) -> int:
    """An animated GIF of ``(H, W, 3)`` uint8 frames, looping, atomically. Returns the frames written."""
    image_cls, _, _ = _pil()
    path = check_output(out, (".gif",), "GIF output")
    images = [image_cls.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    if not images:
        raise ValueError(f"no frames to write to {os.fspath(out)}")
    with atomic_write(path, "wb") as f:
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return len(images)
