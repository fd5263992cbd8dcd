"""Synthetic test videos whose frames paint their own index (a bar code robust to lossy compression)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

BITS = 9  # frame indices up to 511


def paint_index(index: int, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame: BITS vertical stripes, white for a 1 bit (MSB first), black for 0."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    step = width // BITS
    for b in range(BITS):
        if (index >> (BITS - 1 - b)) & 1:
            frame[:, b * step : (b + 1) * step] = 255
    return frame


def read_index(frame: np.ndarray) -> int:
    """Inverse of :func:`paint_index` on a decoded (H, W, 3) frame (centre column band of each stripe)."""
    height, width = frame.shape[:2]
    step = width // BITS
    gray = np.asarray(frame, dtype=np.float64).mean(-1)
    value = 0
    for b in range(BITS):
        lo, hi = b * step + step // 3, (b + 1) * step - step // 3
        value = (value << 1) | int(gray[height // 4 : 3 * height // 4, lo:hi].mean() > 127)
    return value


def read_indices(frames: np.ndarray) -> list[int]:
    return [read_index(f) for f in frames]


def write_video(
    path: Path,
    num_frames: int,
    size: tuple[int, int] = (64, 48),
    codec: str = "libx264",
    fps: int = 25,
    gop: int = 12,
    pix_fmt: str = "yuv420p",
    pts: Sequence[int] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode ``num_frames`` index-painted frames of ``size`` (W, H) with PyAV.

    ``pts`` (in 1/fps units, increasing) makes a variable-frame-rate stream.
    """
    import av

    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.gop_size = gop
        if options:
            stream.options = dict(options)
        if pts is not None:
            stream.codec_context.time_base = Fraction(1, fps)
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(paint_index(i, height, width), format="rgb24")
            if pts is not None:
                frame.pts = int(pts[i])
                frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


X264_FIXED_GOP = {"sc_threshold": "0"}  # keyframes exactly every `gop` frames (no scene-cut keyframes)
# 50 frames with irregular gaps (pts in 1/25 s units)
VFR_PTS = np.concatenate([[0], np.cumsum([1, 3, 1, 2, 5, 1, 1, 1, 4, 1] * 5)[:49]])


def truncate(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return dst


def write_zero_frame_avi(path: Path) -> Path:
    """An AVI with a video stream header and no frames."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    return path


def write_faststart_mp4(path: Path, num_frames: int, size: tuple[int, int] = (64, 48)) -> Path:
    """H.264 MP4 with the index (moov) before the data, so a truncated copy still opens."""
    import av

    width, height = size
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(paint_index(i, height, width), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_frame_folder(folder: Path, num_frames: int, tmpl: str = "img_{:05}.jpg", start: int = 1) -> Path:
    """MMAction2 raw frames: one JPEG per frame, numbered from ``start``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(num_frames):
        Image.fromarray(paint_index(i, 48, 64)).save(folder / tmpl.format(i + start), quality=95)
    return folder
