"""Reading frames: video files (PyAV), folders of raw frames (MMAction2 layout) and frames in memory.

:func:`open_video` returns a reader with ``total_frames``, ``fps``, ``read(indices)`` and ``iter_frames()``.
``read`` takes 0-based frame positions (any order, repeats allowed, as from :mod:`tsm_models.sampling`) and
returns ``uint8`` RGB frames ``(T, H, W, 3)`` in that order.

Video files are indexed once when opened: the container is demuxed (packets only, nothing decoded) to learn
every frame's presentation timestamp and the keyframes. ``read`` then seeks to the keyframe before each
wanted frame and decodes forward, continuing without a seek when the next wanted frame is closer than the
next keyframe; a long video is never decoded whole to take a few frames. Frame ``i`` is the ``i``-th frame
in presentation order, so variable-frame-rate videos are indexed by frame, not by time.
"""

from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "DEFAULT_FILENAME_TEMPLATES",
    "ArrayReader",
    "FrameFolderReader",
    "FrameReader",
    "PyAVReader",
    "open_video",
]

_logger = logging.getLogger(__name__)

# Raw-frame file names tried when none is given (MMAction2 K400 / sthv1 / sthv2 layouts).
DEFAULT_FILENAME_TEMPLATES: tuple[str, ...] = ("img_{:05}.jpg", "{:05}.jpg", "{:06}.jpg", "img_{:06}.jpg")
_INSTALL_HINT = "decoding video files needs PyAV; install it with: pip install 'tsm-models[video]'"


def _import_av() -> Any:
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(_INSTALL_HINT) from exc
    return av


class FrameReader:
    """Base class of the readers: random access to the RGB frames of one video.

    Attributes:
        source: what was opened (a path, or ``"<array>"``), used in error messages.
        total_frames: number of frames ``N``; valid positions are ``0..N-1``.
        fps: nominal frames per second, or ``None`` when unknown (raw frames, arrays).
    """

    source: str = "<video>"
    total_frames: int = 0
    fps: float | None = None

    def read(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        """Frames at 0-based ``indices`` (any order, repeats allowed) as ``uint8`` RGB ``(T, H, W, 3)``."""
        idx = self._check_indices(indices)
        unique = sorted(set(idx.tolist()))
        frames = self._read_sorted(unique)
        shapes = {f.shape for f in frames.values()}
        if len(shapes) > 1:
            raise ValueError(f"{self.source}: frames differ in size ({sorted(shapes)}); expected one frame size")
        return np.stack([frames[i] for i in idx.tolist()])

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Every frame in order, one ``uint8`` RGB ``(H, W, 3)`` array at a time."""
        for i in range(self.total_frames):
            yield self._read_sorted([i])[i]

    def close(self) -> None:
        """Release the file handles (no-op for readers that hold none)."""

    def __len__(self) -> int:
        return self.total_frames

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r}, total_frames={self.total_frames}, fps={self.fps})"

    def _read_sorted(self, indices: list[int]) -> dict[int, np.ndarray]:
        raise NotImplementedError

    def _check_indices(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        if isinstance(indices, torch.Tensor):
            indices = indices.cpu().numpy()
        idx = np.asarray(indices)
        if idx.ndim != 1 or idx.size == 0:
            raise ValueError(f"{self.source}: expected a non-empty 1-D list of frame indices, got shape {idx.shape}")
        if not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"{self.source}: frame indices must be integers, got dtype {idx.dtype}")
        bad = idx[(idx < 0) | (idx >= self.total_frames)]
        if bad.size:
            raise ValueError(
                f"{self.source}: frame index {int(bad[0])} out of range; the video has {self.total_frames} frames "
                f"(valid indices 0..{self.total_frames - 1})"
            )
        return idx.astype(np.int64)


class PyAVReader(FrameReader):
    """Frames of a video file decoded with PyAV (seek to the keyframe before a frame, decode forward).

    Args:
        path: video file (any container/codec FFmpeg reads).
        threads: let FFmpeg decode with its own threads (``thread_type="AUTO"``).

    Attributes:
        frames_decoded: frames decoded so far (a cost counter; ``read`` of 8 frames of a long video
            decodes at most a few groups of pictures).
        frame_times: presentation time of every frame in seconds (``(N,)`` float array).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not a video, no video stream, no frames, or a stream that breaks before its declared end.
    """

    def __init__(self, path: str | os.PathLike, threads: bool = True) -> None:
        self.source = os.fspath(path)
        if not os.path.isfile(self.source):
            raise FileNotFoundError(f"video file not found: {self.source}")
        av = _import_av()
        self._error = av.error.FFmpegError
        self.frames_decoded = 0
        try:
            self._container = av.open(self.source, metadata_errors="ignore")
        except (self._error, UnicodeDecodeError) as exc:
            raise ValueError(f"{self.source}: cannot open as a video ({exc})") from exc
        try:
            self._init_stream(threads)
        except BaseException:
            self._container.close()
            raise

    def _init_stream(self, threads: bool) -> None:
        if not self._container.streams.video:
            raise ValueError(f"{self.source}: no video stream in the file")
        self._stream = stream = self._container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        pts: list[int | None] = []
        keyframe_pts: list[int | None] = []
        try:
            for packet in self._container.demux(stream):
                if packet.size == 0:  # flush packet at the end of the stream
                    continue
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keyframe_pts.append(packet.pts)
        except self._error as exc:
            raise ValueError(f"{self.source}: the video stream breaks after {len(pts)} frames ({exc})") from exc
        if not pts:
            raise ValueError(f"{self.source}: the video stream has no frames")
        declared = int(stream.frames or 0)
        if declared and len(pts) < declared:
            raise ValueError(
                f"{self.source}: the video stream breaks after {len(pts)} of its {declared} declared frames"
            )
        self.total_frames = len(pts)
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else None
        if not declared:
            self._check_duration(pts)
        # Without unique timestamps frames can only be counted from the start (no seeking).
        self._seekable = None not in pts and len(set(pts)) == len(pts)
        if self._seekable:
            self._pts = sorted(pts)  # type: ignore[type-var]
            self._index_of = {p: i for i, p in enumerate(self._pts)}
            self._keyframes = sorted(self._index_of[p] for p in keyframe_pts) or [0]  # type: ignore[index]
            if self._keyframes[0] != 0:
                self._keyframes.insert(0, 0)
            time_base = float(stream.time_base) if stream.time_base else 0.0
            self.frame_times = (np.asarray(self._pts, dtype=np.float64) - self._pts[0]) * time_base
        else:
            _logger.debug("%s: packets lack unique timestamps; frames are read sequentially", self.source)
            self._keyframes = [0]
            step = 1.0 / self.fps if self.fps else 0.0
            self.frame_times = np.arange(self.total_frames, dtype=np.float64) * step

    def _check_duration(self, pts: list[int | None]) -> None:
        # Containers without a frame count (Matroska, WebM) still declare a duration in their header: a file
        # cut short holds far fewer frames than that duration needs.
        stream = self._stream
        if stream.duration and stream.time_base:
            declared = float(stream.duration * stream.time_base)
        elif self._container.duration and len(self._container.streams) == 1:
            declared = self._container.duration / 1e6
        else:
            return
        known = [p for p in pts if p is not None]
        if not (known and stream.time_base and self.fps):
            return
        covered = (max(known) - min(known)) * float(stream.time_base) + 1.0 / self.fps
        if covered < 0.9 * declared - 0.5:
            raise ValueError(
                f"{self.source}: the video stream breaks after {len(pts)} frames ({covered:.2f} s of its "
                f"declared {declared:.2f} s)"
            )

    def _decode_from(self, keyframe: int) -> Iterator[tuple[int, Any]]:
        """Seek to frame ``keyframe`` (a keyframe, or 0) and yield ``(index, av.VideoFrame)`` in order."""
        if self._container is None:
            raise ValueError(f"{self.source}: the video is closed")
        start_pts = self._pts[keyframe] if self._seekable else None
        if start_pts is not None:
            self._container.seek(start_pts, stream=self._stream, backward=True, any_frame=False)
        else:
            self._container.seek(0)
        count = 0
        for packet in self._container.demux(self._stream):
            for frame in packet.decode():
                self.frames_decoded += 1
                if self._seekable and frame.pts is not None:
                    index = self._index_of.get(frame.pts)
                    if index is None:  # a frame the index does not know (e.g. a leading frame after the seek)
                        continue
                else:  # count from the frame sought to
                    index = keyframe + count
                count += 1
                yield index, frame

    def _read_sorted(self, indices: list[int]) -> dict[int, np.ndarray]:
        wanted = set(indices)
        out: dict[int, np.ndarray] = {}
        decoder: Iterator[tuple[int, Any]] | None = None
        position = -1  # index of the last frame the current decoder yielded
        try:
            for target in indices:
                if target in out:
                    continue
                keyframe = self._keyframes[bisect.bisect_right(self._keyframes, target) - 1]
                if decoder is None or target <= position or keyframe > position:
                    decoder = self._decode_from(keyframe)
                    position = -1
                for index, frame in decoder:
                    position = index
                    if index in wanted and index not in out:
                        out[index] = frame.to_ndarray(format="rgb24")
                    if index >= target:
                        break
                if target not in out:
                    raise ValueError(
                        f"{self.source}: could not decode frame {target} of {self.total_frames}; "
                        f"the stream ends or breaks after frame {position}"
                    )
        except self._error as exc:
            raise ValueError(f"{self.source}: decoding failed near frame {position + 1} ({exc})") from exc
        return out

    def iter_frames(self) -> Iterator[np.ndarray]:
        count = 0
        try:
            for _, frame in self._decode_from(0):
                count += 1
                yield frame.to_ndarray(format="rgb24")
        except self._error as exc:
            raise ValueError(f"{self.source}: decoding failed after {count} frames ({exc})") from exc
        if count < self.total_frames:
            raise ValueError(f"{self.source}: the stream breaks after {count} of {self.total_frames} frames")

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None


class FrameFolderReader(FrameReader):
    """A folder of one image file per frame, MMAction2 raw-frame layout (``img_00001.jpg``, ``img_00002.jpg``...).

    Position ``i`` reads file ``filename_tmpl.format(i + start_index)``; ``total_frames`` counts the consecutive
    files from ``start_index``. Images are decoded with Pillow, to RGB.

    Args:
        path: the folder.
        filename_tmpl: file-name template, or several to try in order; ``None`` tries
            :data:`DEFAULT_FILENAME_TEMPLATES`.
        start_index: number of the first file; ``None``: 0 when a file numbered 0 exists, else 1.
    """

    def __init__(
        self, path: str | os.PathLike, filename_tmpl: str | Sequence[str] | None = None, start_index: int | None = None
    ) -> None:
        self.source = os.fspath(path)
        if not os.path.isdir(self.source):
            raise FileNotFoundError(f"frame folder not found: {self.source}")
        if filename_tmpl is None:
            templates: tuple[str, ...] = DEFAULT_FILENAME_TEMPLATES
        elif isinstance(filename_tmpl, str):
            templates = (filename_tmpl,)
        else:
            templates = tuple(filename_tmpl)
        starts = (0, 1) if start_index is None else (int(start_index),)
        names = set(os.listdir(self.source))
        for tmpl in templates:
            start = next((s for s in starts if tmpl.format(s) in names), None)
            if start is not None:
                break
        else:
            expected = " or ".join(t.format(s) for t in templates for s in starts)
            raise ValueError(f"{self.source}: no frame files; expected a first frame named {expected}")
        count = 0
        while tmpl.format(start + count) in names:
            count += 1
        self.filename_tmpl, self.start_index, self.total_frames = tmpl, start, count
        self.fps = None

    def frame_path(self, index: int) -> Path:
        """File of 0-based frame ``index``."""
        return Path(self.source, self.filename_tmpl.format(index + self.start_index))

    def _read_sorted(self, indices: list[int]) -> dict[int, np.ndarray]:
        from PIL import Image  # a torchvision dependency

        out = {}
        for i in indices:
            path = self.frame_path(i)
            try:
                with Image.open(path) as image:
                    out[i] = np.asarray(image.convert("RGB"))
            except OSError as exc:
                raise ValueError(f"{path}: cannot decode frame image ({exc})") from exc
        return out


class ArrayReader(FrameReader):
    """Frames already in memory: an array or tensor ``(T, H, W, 3)`` (RGB; usually ``uint8``).

    ``read`` returns NumPy arrays of the input's dtype.
    """

    def __init__(self, frames: np.ndarray | torch.Tensor, source: str = "<array>") -> None:
        self.source = source
        if isinstance(frames, torch.Tensor):
            frames = frames.detach().cpu().numpy()
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"{source}: expected frames of shape (T, H, W, 3) RGB, got {frames.shape}")
        if frames.shape[0] == 0:
            raise ValueError(f"{source}: the video has no frames (T=0)")
        self._frames = frames
        self.total_frames = int(frames.shape[0])
        self.fps = None

    def read(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        return self._frames[self._check_indices(indices)]

    def iter_frames(self) -> Iterator[np.ndarray]:
        yield from self._frames

    def _read_sorted(self, indices: list[int]) -> dict[int, np.ndarray]:
        return {i: self._frames[i] for i in indices}


def _to_array(frames: Sequence[Any]) -> np.ndarray:
    arrays = []
    for f in frames:
        if hasattr(f, "convert") and hasattr(f, "size"):  # PIL image
            f = f.convert("RGB")
        arrays.append(f.cpu().numpy() if isinstance(f, torch.Tensor) else np.asarray(f))
    if not arrays:
        raise ValueError("<list>: the video has no frames (empty list)")
    if len({a.shape for a in arrays}) > 1:
        raise ValueError(f"<list>: frames differ in size: {sorted({a.shape for a in arrays})}")
    return np.stack(arrays)


def open_video(
    source: str | os.PathLike | np.ndarray | torch.Tensor | Sequence[Any] | FrameReader,
    filename_tmpl: str | Sequence[str] | None = None,
    start_index: int | None = None,
) -> FrameReader:
    """Open a video for frame access.

    Args:
        source: a video file (decoded with PyAV, the ``video`` extra), a folder of frame images
            (MMAction2 raw frames), frames in memory as an array/tensor ``(T, H, W, 3)`` or a list of
            ``(H, W, 3)`` arrays / PIL images, or a reader (returned as is).
        filename_tmpl: raw-frame folders only: file-name template(s), e.g. ``"img_{:05}.jpg"``.
        start_index: raw-frame folders only: number of the first file (MMAction2: 1).

    Returns:
        A :class:`FrameReader`; use it as a context manager (or call ``close()``) for files.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: unreadable or empty videos, with the path in the message.

    Example:
        >>> with tsm_models.open_video("clip.mp4") as video:
        ...     frames = video.read(tsm_models.segment_indices(video.total_frames, 8))  # (8, H, W, 3) uint8
    """
    if isinstance(source, FrameReader):
        return source
    if isinstance(source, (np.ndarray, torch.Tensor)):
        return ArrayReader(source)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            return FrameFolderReader(path, filename_tmpl, start_index)
        if not os.path.exists(path):
            raise FileNotFoundError(f"video not found: {path}")
        return PyAVReader(path)
    if isinstance(source, Sequence):
        return ArrayReader(_to_array(source), source="<list>")
    raise ValueError(
        f"expected a video path, frame folder, (T, H, W, 3) array/tensor or list of frames, got {type(source).__name__}"
    )
