"""Live classification: a camera, stream or file through a streaming (online) TSM, frame by frame.

>>> for change in run_live(model, "/dev/video0"):        # or 0, "rtsp://...", "http://.../cam.mjpg", "clip.mp4"
...     print(change)   # LabelChange(frame=..., time=..., label=..., probability=...)

Frames come from FFmpeg through PyAV: V4L2 devices (``0`` or ``/dev/videoN``), network streams (RTSP, HTTP,
...), files. Each processed frame goes through the model's test preprocessing (short-side resize, center crop,
normalisation) and one :meth:`~tsm_models.models.streaming.StreamingTSM.frame_logits` step.

Smoothing follows the original TSM online demo (mit-han-lab ``online_demo/main.py``): the class is the argmax
of the sum of the last ``smooth`` frame logits (12 there), and a new class is accepted only once the previous
output has held for two steps (its ``process_output`` history smoothing). The demo processes every other
camera frame (``every=2``).

Keeping up: with ``realtime`` (the default for cameras and RTSP/RTMP/UDP streams) a reader thread decodes
the source continuously and the model always takes the newest frame; frames it had no time for are dropped
(counted in :attr:`LiveStats.dropped`). Files and http(s) URLs are read in full by default; ``realtime=True``
paces them at their frame rate, as a camera would deliver them.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.transforms import VideoTransform
from ..data.video import _import_av
from ..inference import VideoClassifier

__all__ = ["LabelChange", "LiveStats", "Smoother", "iter_source", "open_source", "run_live"]

_logger = logging.getLogger(__name__)

_LIVE_SCHEMES = ("rtsp://", "rtmp://", "udp://", "rtp://", "srt://")


@dataclass(frozen=True)
class LabelChange:
    """The smoothed prediction switched to ``label`` at ``frame`` (index in the source) / ``time`` seconds."""

    frame: int
    time: float
    label: str
    probability: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "time": round(self.time, 3),
            "label": self.label,
            "probability": round(self.probability, 4),
        }


@dataclass
class LiveStats:
    """Counters of a :func:`run_live` run."""

    frames_read: int = 0
    processed: int = 0
    dropped: int = 0
    seconds: float = 0.0
    changes: list[LabelChange] = field(default_factory=list)

    @property
    def fps(self) -> float:
        """Frames the model processed per second of wall time."""
        return self.processed / self.seconds if self.seconds > 0 else 0.0


class Smoother:
    """The online demo's output smoothing: sum of the last ``window`` logits, then a two-step hold.

    ``update(logits (K,))`` returns the smoothed class index.
    """

    def __init__(self, window: int = 12, hold: bool = True) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"smoothing window must be an int >= 1, got {window!r}")
        self.logits: deque[torch.Tensor] = deque(maxlen=window)
        self.hold = hold
        self.history: list[int] = []

    def update(self, logits: torch.Tensor) -> int:
        self.logits.append(logits.detach().float().reshape(-1))
        index = int(torch.stack(tuple(self.logits)).sum(0).argmax())
        h = self.history
        if self.hold and len(h) >= 2 and index != h[-1] and h[-1] != h[-2]:
            index = h[-1]  # the last change is too fresh: keep it one more step
        h.append(index)
        del h[:-20]
        return index

    def probabilities(self) -> torch.Tensor:
        """Softmax of the mean of the logits in the window ``(K,)``."""
        return torch.stack(tuple(self.logits)).mean(0).softmax(-1)


def _device_path(source: str | int) -> str | None:
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return f"/dev/video{int(source)}"
    if isinstance(source, str) and re.fullmatch(r"/dev/video\d+", source):
        return source
    return None


def is_live(source: str | int) -> bool:
    """Cameras and streaming protocols (frames arrive in real time); files and http(s) URLs are not."""
    return _device_path(source) is not None or (isinstance(source, str) and source.lower().startswith(_LIVE_SCHEMES))


def open_source(source: str | int, timeout: float = 10.0) -> Any:
    """Open a camera (``0``, ``/dev/videoN``), a stream URL or a file with PyAV; returns the container.

    Raises:
        ValueError: the source cannot be opened (one line saying which and why).
    """
    av = _import_av()
    device = _device_path(source)
    name = device or os.fspath(source)
    if device is None and not isinstance(source, str):
        raise TypeError(f"source must be a camera index, a device path, a URL or a file, got {type(source).__name__}")
    if device is None and "://" not in name and not os.path.exists(name):
        raise FileNotFoundError(f"video source not found: {name}")
    try:
        if device is not None:
            if not os.path.exists(device):
                raise ValueError(f"cannot open camera {device}: no such device")
            container = av.open(device, format="v4l2", timeout=timeout)
        else:
            container = av.open(name, timeout=timeout, metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        what = "camera" if device else "video source"
        raise ValueError(f"cannot open {what} {name}: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise ValueError(f"{name}: no video stream")
    return container


def _frames(container: Any) -> Iterator[tuple[int, float, np.ndarray]]:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    rate = float(stream.average_rate or stream.guessed_rate or 25)
    for i, frame in enumerate(container.decode(stream)):
        t = float(frame.time) if frame.time is not None else i / rate
        yield i, t, frame.to_ndarray(format="rgb24")


def iter_source(
    source: str | int, realtime: bool | None = None, timeout: float = 10.0, stats: LiveStats | None = None
) -> Iterator[tuple[int, float, np.ndarray]]:
    """``(index, seconds, frame (H, W, 3) uint8)`` of a source, in order; with ``realtime`` only the newest
    frame is handed out each time the caller asks (the others are dropped and counted in ``stats``)."""
    stats = stats if stats is not None else LiveStats()
    container = open_source(source, timeout)
    live = is_live(source)
    realtime = live if realtime is None else realtime
    if not realtime:
        try:
            for item in _frames(container):
                stats.frames_read += 1
                yield item
        finally:
            container.close()
        return
    latest: list[tuple[int, float, np.ndarray]] = []
    lock = threading.Condition()
    done = threading.Event()
    failure: list[BaseException] = []

    def reader() -> None:
        start = time.perf_counter()
        t0: float | None = None
        try:
            for item in _frames(container):
                if done.is_set():
                    break
                if not live:  # pace a file like a camera: frame t is due at t seconds
                    t0 = item[1] if t0 is None else t0
                    delay = (item[1] - t0) - (time.perf_counter() - start)
                    if delay > 0:
                        time.sleep(delay)
                with lock:
                    stats.frames_read += 1
                    if latest:
                        stats.dropped += 1
                        latest.clear()
                    latest.append(item)
                    lock.notify()
        except BaseException as exc:  # handed to the consumer
            failure.append(exc)
        finally:
            done.set()
            with lock:
                lock.notify()

    thread = threading.Thread(target=reader, name="tsm-live-reader", daemon=True)
    thread.start()
    try:
        while True:
            with lock:
                while not latest and not done.is_set():
                    lock.wait(0.5)
                if not latest:
                    break
                item = latest.pop()
            yield item
        if failure:
            raise failure[0]
    finally:
        done.set()
        thread.join(timeout=5)
        container.close()


def frame_preprocess(transform: VideoTransform) -> Callable[[np.ndarray], torch.Tensor]:
    """``(H, W, 3)`` uint8 frame -> ``(1, 3, S, S)`` normalised input (one center crop)."""

    def run(frame: np.ndarray) -> torch.Tensor:
        return transform(frame[None])[0]  # (crops=1, T=1, 3, S, S) -> (1, 3, S, S)

    return run


def run_live(
    model: Any,
    source: str | int,
    labels: Sequence[str] | None = None,
    every: int = 1,
    smooth: int = 12,
    hold: bool = True,
    realtime: bool | None = None,
    max_frames: int | None = None,
    timeout: float = 10.0,
    on_frame: Callable[[int, np.ndarray, str, float], bool | None] | None = None,
    stats: LiveStats | None = None,
) -> Iterator[LabelChange]:
    """Classify a live source frame by frame; yields a :class:`LabelChange` whenever the smoothed label changes.

    Args:
        model: an online TSM (``shift_direction="online"``), or a ready ``StreamingTSM`` with a ``transform``.
        source: camera index / ``/dev/videoN``, stream URL or file.
        labels: class names (default: the zoo entry's, else indices).
        every: process every ``every``-th frame delivered (the demo: 2).
        smooth: logits summed for the decision (the demo: 12); 1 disables the averaging.
        hold: the demo's two-step hold before a new label is accepted.
        realtime: drop frames to keep up (default: for cameras and RTSP/RTMP/UDP streams).
        max_frames: stop after this many source frames.
        timeout: seconds to wait when opening and reading the source.
        on_frame: called with ``(index, frame, label, probability)`` after each processed frame (the display);
            returning ``False`` stops the run.
        stats: filled with the run's counters.
    """
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be an int >= 1, got {every!r}")
    clf = VideoClassifier(model, labels=labels)
    stream = model.stream()  # ValueError for a bi-directional model, with the reason
    preprocess = frame_preprocess(clf.transform)
    smoother = Smoother(smooth, hold)
    names = clf.labels
    stats = stats if stats is not None else LiveStats()
    device = clf.device
    current = -1
    start = time.perf_counter()
    try:
        for index, seconds, frame in iter_source(source, realtime, timeout, stats):
            if max_frames is not None and index >= max_frames:
                break
            if index % every:
                continue
            logits = stream.frame_logits(preprocess(frame).to(device))[0]
            best = smoother.update(logits[: clf.num_labels])
            stats.processed += 1
            prob = float(smoother.probabilities()[best])
            name = names[best] if best < len(names) else str(best)
            if best != current:
                current = best
                change = LabelChange(index, seconds, name, prob)
                stats.changes.append(change)
                yield change
            if on_frame is not None and on_frame(index, frame, name, prob) is False:
                break
    finally:
        stats.seconds = time.perf_counter() - start


def highgui() -> Any:
    """OpenCV with a GUI backend (for ``--show``), or ``ValueError`` saying what to install."""
    try:
        import cv2
    except ImportError as exc:
        raise ValueError("--show needs OpenCV with a GUI: pip install opencv-python") from exc
    info = cv2.getBuildInformation()
    match = re.search(r"GUI:\s*(\S+)", info)
    if match and match.group(1).upper() == "NONE":
        raise ValueError(
            "--show needs OpenCV with a GUI backend, but this OpenCV has none (opencv-python-headless?): "
            "pip install opencv-python"
        )
    return cv2


def show_window(title: str = "tsm-models live") -> Callable[[int, np.ndarray, str, float], bool]:
    """An ``on_frame`` callback drawing each frame and its label in an OpenCV window; ``q`` or Esc stops."""
    cv2 = highgui()
    cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def draw(_index: int, frame: np.ndarray, label: str, prob: float) -> bool:
        bgr = np.ascontiguousarray(frame[:, :, ::-1])
        cv2.rectangle(bgr, (0, 0), (bgr.shape[1], 30), (0, 0, 0), -1)
        cv2.putText(bgr, f"{label} ({prob:.2f})", (6, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
        cv2.imshow(title, bgr)
        key = cv2.waitKey(1) & 0xFF
        return key not in (ord("q"), 27)

    return draw
