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
import re
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
    "is_url",
    "TorchCodecReader",
    "VIDEO_BACKENDS",
    "open_video",
    "torchcodec_available",
]

_logger = logging.getLogger(__name__)

# Raw-frame file names tried when none is given (MMAction2 K400 / sthv1 / sthv2 layouts).
DEFAULT_FILENAME_TEMPLATES: tuple[str, ...] = ("img_{:05}.jpg", "{:05}.jpg", "{:06}.jpg", "img_{:06}.jpg")
# Seconds FFmpeg waits to connect to / read from an http(s) URL before giving up.
URL_TIMEOUT = 30.0
VIDEO_BACKENDS: tuple[str, ...] = ("pyav", "torchcodec")
_INSTALL_HINT = "decoding video files needs PyAV; install it with: pip install 'tsm-models[video]'"


def is_url(source: object) -> bool:
    """Whether ``source`` is an ``http://`` or ``https://`` address (read by FFmpeg, not from disk)."""
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


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
        path: video file (any container/codec FFmpeg reads), or an http(s) URL: FFmpeg streams it, once to
            index it and once per ``read`` (decoding forward from the start; a URL is never seeked).
        threads: let FFmpeg decode with its own threads (``thread_type="AUTO"``).
        timeout: URLs only: seconds to wait for the server (connecting and each read).

    Attributes:
        frames_decoded: frames decoded so far (a cost counter; ``read`` of 8 frames of a long video
            decodes at most a few groups of pictures).
        frame_times: presentation time of every frame in seconds (``(N,)`` float array).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not a video, no video stream, no frames, or a stream that breaks before its declared end.
    """

    def __init__(self, path: str | os.PathLike, threads: bool = True, timeout: float | None = None) -> None:
        self.source = os.fspath(path)
        self._url = is_url(self.source)
        if not self._url and not os.path.isfile(self.source):
            raise FileNotFoundError(f"video file not found: {self.source}")
        self._timeout = URL_TIMEOUT if timeout is None else float(timeout)
        self._threads = threads
        self._seek_margin = 0  # keyframes to seek back beyond the wanted one (demuxers that land late)
        self.frames_decoded = 0
        self._container = self._open()
        try:
            self._init_stream(threads)
        except BaseException:
            self._container.close()
            raise

    def _open(self) -> Any:
        av = _import_av()
        self._error = av.error.FFmpegError
        try:
            if self._url:
                return av.open(self.source, metadata_errors="ignore", timeout=self._timeout)
            return av.open(self.source, metadata_errors="ignore")
        except (self._error, UnicodeDecodeError) as exc:
            what = "cannot read the URL" if self._url else "cannot open as a video"
            raise ValueError(f"{self.source}: {what} ({exc})") from exc

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
            if stream.time_base:
                self._check_gaps(sorted(p for p in pts if p is not None), float(stream.time_base))
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
        if self._url:  # decode forward from the start (a reopened stream), never seek over the network
            self._keyframes = [0]

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
        step = 1.0 / self.fps
        covered = (max(known) - min(known)) * float(stream.time_base) + step
        if declared - covered > max(2 * step, 0.05 * declared):
            raise ValueError(
                f"{self.source}: the video stream breaks after {len(pts)} frames ({covered:.2f} s of its "
                f"declared {declared:.2f} s)"
            )

    def _check_gaps(self, pts: list[int], time_base: float) -> None:
        # A damaged cluster drops its frames without a demuxer error: the timestamps jump. Indices stay
        # frame positions (as for variable frame rates), but the file is said to be damaged.
        if not self.fps or len(pts) < 2:
            return
        step = 1.0 / self.fps
        times = np.asarray(pts, dtype=np.float64) * time_base
        expected = round((times[-1] - times[0]) / step) + 1
        missing = expected - len(pts)
        if missing > max(2, 0.05 * expected):
            jumps = np.diff(times)
            at = int(np.argmax(jumps))
            _logger.warning(
                "%s: about %d of %d frames are missing (timestamps jump by %.2f s after %.2f s, at frame %d); "
                "the file looks damaged: frame indices count the %d frames that remain",
                self.source,
                missing,
                expected,
                jumps[at],
                times[at] - times[0],
                at,
                len(pts),
            )

    def _rewind(self) -> None:
        """Reopen the file: decoding from the first frame needs no seek (raw streams cannot seek at all)."""
        self._container.close()
        self._container = self._open()
        self._stream = self._container.streams.video[0]
        if self._threads:
            self._stream.thread_type = "AUTO"

    def _decode_from(self, keyframe: int) -> Iterator[tuple[int, Any]]:
        """Seek to frame ``keyframe`` (a keyframe, or 0) and yield ``(index, av.VideoFrame)`` in order.

        A seek that lands after the keyframe wanted (H.264 in MPEG-TS lands one group of pictures late) is
        retried from the keyframe before; frame 0 is reached by reopening the file, never by a seek.
        """
        if self._container is None:
            raise ValueError(f"{self.source}: the video is closed")
        k = max(0, bisect.bisect_right(self._keyframes, keyframe) - 1 - self._seek_margin)
        while True:
            start = self._keyframes[k]
            if start == 0 or not self._seekable or self._url:  # URLs are never seeked: read from the start
                self._rewind()
            else:
                self._container.seek(self._pts[start], stream=self._stream, backward=True, any_frame=False)
            frames = self._frames_from(start)
            first = next(frames, None)
            if (first is None or first[0] > keyframe) and k > 0:
                _logger.debug(
                    "%s: seek to frame %d landed at %s; seeking earlier", self.source, keyframe, first and first[0]
                )
                self._seek_margin = min(self._seek_margin + 1, 4)
                k -= 1
                continue
            if first is not None:
                yield first
                yield from frames
            return

    def _frames_from(self, start: int) -> Iterator[tuple[int, Any]]:
        count = 0
        for packet in self._container.demux(self._stream):
            for frame in packet.decode():
                self.frames_decoded += 1
                if self._seekable and frame.pts is not None:
                    index = self._index_of.get(frame.pts)
                    if index is None:  # a frame the index does not know (e.g. a leading frame after the seek)
                        continue
                else:  # count from the frame sought to
                    index = start + count
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
        self._numbers = _frame_numbers(tmpl, start, names)
        missing = self._numbers[-1] - start + 1 - len(self._numbers)
        if missing:
            gaps = [n for n in range(start, self._numbers[-1]) if tmpl.format(n) not in names]
            shown = ", ".join(tmpl.format(n) for n in gaps[:3]) + (", ..." if len(gaps) > 3 else "")
            _logger.warning(
                "%s: %d frame file(s) missing from the numbering (%s); the %d files present are read in order",
                self.source,
                missing,
                shown,
                len(self._numbers),
            )
        self.filename_tmpl, self.start_index, self.total_frames = tmpl, start, len(self._numbers)
        self.fps = None

    def frame_path(self, index: int) -> Path:
        """File of 0-based frame ``index`` (the ``index``-th file present, in numbering order)."""
        return Path(self.source, self.filename_tmpl.format(self._numbers[index]))

    def _read_sorted(self, indices: list[int]) -> dict[int, np.ndarray]:
        from PIL import Image  # a torchvision dependency

        out = {}
        for i in indices:
            path = self.frame_path(i)
            try:
                with Image.open(path) as image:
                    out[i] = np.asarray(image.convert("RGB"))
            except Exception as exc:  # PIL raises OSError, DecompressionBombError, SyntaxError, ValueError...
                raise ValueError(f"{path}: cannot decode frame image ({type(exc).__name__}: {exc})") from exc
        return out


class ArrayReader(FrameReader):
    """Frames already in memory: an array or tensor ``(T, H, W, 3)`` (RGB; usually ``uint8``).

    ``read`` returns NumPy arrays of the input's dtype.
    """

    def __init__(self, frames: np.ndarray | torch.Tensor, source: str = "<array>") -> None:
        self.source = source
        if isinstance(frames, torch.Tensor):
            frames = frames.detach().cpu()
            frames = (frames.float() if frames.dtype == torch.bfloat16 else frames).numpy()
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"{source}: expected frames of shape (T, H, W, 3) RGB, got {frames.shape}")
        if frames.shape[0] == 0:
            raise ValueError(f"{source}: the video has no frames (T=0)")
        _check_frame_values(frames, source)
        self._frames = frames
        self.total_frames = int(frames.shape[0])
        self.fps = None

    def read(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> np.ndarray:
        return self._frames[self._check_indices(indices)]

    def iter_frames(self) -> Iterator[np.ndarray]:
        yield from self._frames

    def _read_sorted(self, indices: list[int]) -> dict[int, np.ndarray]:
        return {i: self._frames[i] for i in indices}


def _check_frame_values(frames: np.ndarray, source: str) -> None:
    """Frames in memory are RGB on the 0-255 scale: uint8, or integers / floats holding values in 0..255."""
    if frames.dtype == np.uint8 or frames.size == 0:
        return
    expected = "expected RGB frames on the 0-255 scale (uint8, or numbers in 0..255)"
    if frames.dtype == np.bool_ or not (
        np.issubdtype(frames.dtype, np.integer) or np.issubdtype(frames.dtype, np.floating)
    ):
        raise ValueError(f"{source}: frames of dtype {frames.dtype}; {expected}")
    if np.issubdtype(frames.dtype, np.floating) and not np.isfinite(frames).all():
        raise ValueError(f"{source}: the frames hold {int((~np.isfinite(frames)).sum())} NaN or inf values; {expected}")
    low, high = frames.min(), frames.max()
    if low < 0 or high > 255:
        raise ValueError(f"{source}: frame values span {low:g}..{high:g}; {expected}")
    if np.issubdtype(frames.dtype, np.floating) and high <= 1 and not np.array_equal(frames, np.round(frames)):
        raise ValueError(
            f"{source}: float frames in 0-1 (max {high:.3g}); {expected}: multiply them by 255 or pass uint8"
        )


def _frame_numbers(tmpl: str, start: int, names: set[str]) -> list[int]:
    """Sorted numbers ``n >= start`` whose file ``tmpl.format(n)`` is in ``names``."""
    head, _, rest = tmpl.partition("{")
    tail = rest.partition("}")[2]
    pattern = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail))
    numbers = set()
    for name in names:
        found = pattern.fullmatch(name)
        if found and int(found.group(1)) >= start and tmpl.format(int(found.group(1))) == name:
            numbers.add(int(found.group(1)))
    return sorted(numbers)


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
    backend: str = "pyav",
) -> FrameReader:
    """Open a video for frame access.

    Args:
        source: a video file or an http(s) URL (decoded with PyAV, the ``video`` extra), a folder of frame images
            (MMAction2 raw frames), frames in memory as an array/tensor ``(T, H, W, 3)`` or a list of
            ``(H, W, 3)`` arrays / PIL images, or a reader (returned as is).
        filename_tmpl: raw-frame folders only: file-name template(s), e.g. ``"img_{:05}.jpg"``.
        start_index: raw-frame folders only: number of the first file (MMAction2: 1).
        backend: video files only: ``"pyav"`` (the default) or ``"torchcodec"`` (:class:`TorchCodecReader`;
            the same frames, needs TorchCodec and the system's FFmpeg libraries).

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
    if is_url(source):
        return PyAVReader(source)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            return FrameFolderReader(path, filename_tmpl, start_index)
        if not os.path.exists(path):
            raise FileNotFoundError(f"video not found: {path}")
        if backend not in VIDEO_BACKENDS:
            raise ValueError(f"backend must be one of {VIDEO_BACKENDS}, got {backend!r}")
        return TorchCodecReader(path) if backend == "torchcodec" else PyAVReader(path)
    if isinstance(source, Sequence):
        return ArrayReader(_to_array(source), source="<list>")
    raise ValueError(
        f"expected a video path, frame folder, (T, H, W, 3) array/tensor or list of frames, got {type(source).__name__}"
    )


_TORCHCODEC_HINT = (
    "backend='torchcodec' needs TorchCodec and the system's FFmpeg libraries: pip install torchcodec, and e.g. "
    "apt-get install libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4 libavdevice59 libavfilter8"
)


def _import_decoder() -> Any:
    try:
        from torchcodec.decoders import VideoDecoder
    except (ImportError, OSError, RuntimeError) as exc:  # OSError/RuntimeError: FFmpeg libraries missing
        raise ImportError(f"{_TORCHCODEC_HINT} ({type(exc).__name__}: {exc})") from exc
    return VideoDecoder


def torchcodec_available() -> bool:
    """Whether TorchCodec imports and can load its FFmpeg-linked core (decoding may still fail on a codec)."""
    try:
        _import_decoder()
        from torchcodec._core import ops  # tries to load the FFmpeg-linked core when imported
    except (ImportError, OSError, RuntimeError):
        return False
    return getattr(ops, "ffmpeg_major_version", None) is not None


class TorchCodecReader(FrameReader):
    """Frames of a video file decoded by TorchCodec.

    Args:
        path: the video file.
        device: ``"cpu"`` or ``"cuda"`` (NVDEC); frames are returned on the CPU either way.
        threads: FFmpeg decoding threads (``0``: FFmpeg's choice).
    """

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int = 1) -> None:
        decoder_cls = _import_decoder()
        self.source = os.fspath(path)
        if not os.path.isfile(self.source):
            raise FileNotFoundError(f"no such video file: {self.source}")
        try:
            self._decoder = decoder_cls(
                self.source, dimension_order="NHWC", seek_mode="exact", num_ffmpeg_threads=threads, device=device
            )
        except (RuntimeError, OSError, ValueError) as exc:
            if "libtorchcodec" in str(exc):  # the core library or the FFmpeg libraries it links did not load
                raise ImportError(f"{_TORCHCODEC_HINT} ({exc})") from exc
            raise ValueError(f"{self.source}: TorchCodec can't open it as a video ({exc})") from exc
        meta = self._decoder.metadata
        self.total_frames = int(meta.num_frames or 0)
        self.fps = float(meta.average_fps) if meta.average_fps else None
        if self.total_frames < 1:
            raise ValueError(f"{self.source}: no video frames")

    def _read_sorted(self, indices: list[int]) -> dict[int, np.ndarray]:
        try:
            batch = self._decoder.get_frames_at(indices).data  # (N, H, W, 3) uint8
        except (RuntimeError, IndexError) as exc:
            raise ValueError(f"{self.source}: TorchCodec failed to decode frames {indices[:8]}...: {exc}") from exc
        arr = batch.cpu().numpy()
        return {i: arr[k] for k, i in enumerate(indices)}

    def close(self) -> None:
        self._decoder = None
