"""Timeline of a long video: the model's top classes in sliding windows, decoding each frame once.

>>> tl = tsm_models.timeline(model, "match.mp4", window=2.0, stride=1.0)
>>> tl[0].start, tl[0].end, tl[0].labels[:2]      # seconds, [(label, probability), ...]
>>> tl.save("timeline.json"); tl.plot("timeline.png")

Windows are ``window`` seconds long and start every ``stride`` seconds (at the video's nominal frame rate:
window ``k`` covers frames ``[k * s, k * s + w)`` with ``w = round(window * fps)``, ``s = round(stride * fps)``).
Inside each window the model's test sampling (its zoo entry's :class:`~tsm_models.models.zoo.ClipProtocol`:
frames, clips, crops) picks the frames, exactly as for a clip of ``w`` frames; the views are averaged as in
:func:`tsm_models.predict`. Windows that would run past the last frame are not made (a tail shorter than the
stride is not covered).

The video is decoded once, front to back; a frame is kept only while a window that samples it is still
incomplete, so memory holds a few windows' sampled frames whatever the video's length.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .._io import atomic_write
from ..data.sampling import sample_indices
from ..data.views import frames_to_views, open_for
from ..inference import VideoClassifier, average_clips

__all__ = ["Timeline", "TimelineWindow", "timeline"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimelineWindow:
    """One window of a :class:`Timeline`: ``start``/``end`` in seconds, the top-k ``(label, probability)``."""

    start: float
    end: float
    labels: list[tuple[str, float]]
    start_frame: int = 0
    end_frame: int = 0  # exclusive

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 4),
            "end": round(self.end, 4),
            "labels": [{"label": name, "probability": round(p, 6)} for name, p in self.labels],
        }


class Timeline(list):
    """The windows of :func:`timeline` (a ``list`` of :class:`TimelineWindow`, in time order) and their context.

    Attributes:
        source: the video.
        fps: frame rate the windows were cut at.
        total_frames: frames in the video; ``duration = total_frames / fps``.
        window, stride: seconds.
        class_names: the model's named classes.
        probabilities: ``(num_windows, num_classes)`` float array, every class's probability per window.
        frames_decoded: frames the decoder produced (each frame once; fewer when the last window ends early).
        max_frames_held: most decoded frames held in memory at once.
    """

    def __init__(self, windows: Sequence[TimelineWindow] = (), **attrs: Any) -> None:
        super().__init__(windows)
        self.source: str = attrs.get("source", "")
        self.fps: float = float(attrs.get("fps", 0.0))
        self.total_frames: int = int(attrs.get("total_frames", 0))
        self.window: float = float(attrs.get("window", 0.0))
        self.stride: float = float(attrs.get("stride", 0.0))
        self.class_names: list[str] = list(attrs.get("class_names", []))
        self.probabilities: np.ndarray = np.asarray(attrs.get("probabilities", np.zeros((0, 0))), dtype=np.float32)
        self.frames_decoded: int = int(attrs.get("frames_decoded", 0))
        self.max_frames_held: int = int(attrs.get("max_frames_held", 0))

    @property
    def duration(self) -> float:
        return self.total_frames / self.fps if self.fps else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "video": self.source,
            "fps": self.fps,
            "duration": round(self.duration, 4),
            "window": self.window,
            "stride": self.stride,
            "windows": [w.to_dict() for w in self],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    def to_csv(self) -> str:
        """One row per window and rank: ``start,end,rank,label,probability``."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["start", "end", "rank", "label", "probability"])
        for w in self:
            for rank, (name, p) in enumerate(w.labels, 1):
                writer.writerow([f"{w.start:.4f}", f"{w.end:.4f}", rank, name, f"{p:.6f}"])
        return buf.getvalue()

    def save(self, path: str | os.PathLike) -> None:
        """Write ``.json`` or ``.csv`` (by the suffix), atomically."""
        suffix = os.path.splitext(os.fspath(path))[1].lower()
        if suffix not in (".json", ".csv"):
            raise ValueError(f"timeline output must end in .json or .csv, got {os.fspath(path)!r}")
        text = self.to_json() if suffix == ".json" else self.to_csv()
        with atomic_write(path, "w", newline="") as f:
            f.write(text)

    def labels_at(self, frame_index: int) -> list[tuple[str, float]]:
        """The labels to show on frame ``frame_index``: those of the window whose centre is nearest."""
        if not self:
            return []
        centres = getattr(self, "_centres", None)
        if centres is None or len(centres) != len(self):
            centres = self._centres = np.array([(w.start_frame + w.end_frame - 1) / 2 for w in self])
        k = int(np.searchsorted(centres, frame_index))  # centres increase: the nearest is k - 1 or k
        if k == len(centres) or (k > 0 and frame_index - centres[k - 1] <= centres[k] - frame_index):
            k -= 1
        return self[k].labels

    def plot(self, path: str | os.PathLike | None = None, max_classes: int = 6, title: str | None = None) -> Any:
        """Draw the top classes over time (needs matplotlib); see :func:`tsm_models.apps.timeline.plot_timeline`."""
        return plot_timeline(self, path, max_classes=max_classes, title=title)


def _as_classifier(model: nn.Module | VideoClassifier, **kwargs: Any) -> VideoClassifier:
    if isinstance(model, VideoClassifier):
        return model
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module or a VideoClassifier, got {type(model).__name__}")
    return VideoClassifier(model, **{k: v for k, v in kwargs.items() if v is not None})


def _check_seconds(name: str, value: Any, flag: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{flag} must be a positive number of seconds, got {value}")
    return float(value)


def timeline(
    model: nn.Module | VideoClassifier,
    video: Any,
    window: float = 2.0,
    stride: float | None = None,
    topk: int = 5,
    fps: float | None = None,
    labels: Sequence[str] | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 16,
) -> Timeline:
    """Classify sliding windows of a video, decoding every frame once.

    Args:
        model: a TSM (its zoo entry gives the test protocol and class names) or a ready
            :class:`~tsm_models.VideoClassifier`.
        video: a video file, an http(s) URL, a raw-frame folder or frames ``(N, H, W, 3)`` uint8.
        window: window length in seconds.
        stride: seconds between window starts (default ``window / 2``).
        topk: labels kept per window.
        fps: frame rate of sources without one (raw frames, arrays); ignored when the video declares one.
        labels: class names for models without a zoo record.
        device: run the model there.
        batch_size: views per forward pass.

    Returns:
        A :class:`Timeline`: the windows in time order, each ``{start, end, labels}`` in seconds.

    Raises:
        ValueError: a window longer than the video, a zero or negative stride, unreadable video.
    """
    window = _check_seconds("window", window, "window")
    stride = window / 2 if stride is None else _check_seconds("stride", stride, "stride")
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise ValueError(f"topk must be an int >= 1, got {topk!r}")
    clf = _as_classifier(model, labels=labels, device=device, batch_size=batch_size)
    protocol = clf.protocol
    reader = open_for(video, protocol)
    try:
        rate = reader.fps or fps
        if not rate or rate <= 0:
            raise ValueError(f"{reader.source}: the video has no frame rate; pass fps= (e.g. fps=30)")
        rate = float(rate)
        n = reader.total_frames
        w = max(1, round(window * rate))
        s = round(stride * rate)
        if s < 1:
            raise ValueError(f"stride {stride} s is less than one frame at {rate:g} fps; use a longer stride")
        if w > n:
            raise ValueError(
                f"{reader.source}: a window of {window:g} s ({w} frames at {rate:g} fps) is longer than the video "
                f"({n / rate:.2f} s, {n} frames); use a shorter window"
            )
        starts = list(range(0, n - w + 1, s))
        offsets = sample_indices(protocol, w)  # the entry's sampling of a w-frame clip, 0-based
        windows_idx = [offsets + a for a in starts]
        uses: dict[int, int] = {}
        for idx in windows_idx:
            for j in np.unique(idx).tolist():
                uses[j] = uses.get(j, 0) + 1
        ends = [int(idx.max()) for idx in windows_idx]
        buffer: dict[int, np.ndarray] = {}
        probs: list[torch.Tensor] = []
        pending: list[torch.Tensor] = []
        held = decoded = 0
        k = 0
        for i, frame in enumerate(reader.iter_frames()):
            decoded += 1
            if i in uses:
                buffer[i] = frame
                held = max(held, len(buffer))
            while k < len(windows_idx) and ends[k] <= i:
                idx = windows_idx[k]
                pending.append(
                    frames_to_views(np.stack([buffer[j] for j in idx.tolist()]), clf.transform, protocol.num_frames)
                )
                for j in np.unique(idx).tolist():
                    uses[j] -= 1
                    if uses[j] == 0:
                        del buffer[j], uses[j]
                k += 1
                if sum(v.shape[0] for v in pending) >= clf.batch_size:
                    probs.extend(_score(clf, pending))
                    pending = []
            if k == len(windows_idx):
                break
        if pending:
            probs.extend(_score(clf, pending))
        if k < len(windows_idx):
            raise ValueError(f"{reader.source}: the stream ended after {decoded} of {n} frames")
        total = n
        source = reader.source
    finally:
        if reader is not video:
            reader.close()
    table = torch.stack(probs)[:, : clf.num_labels].numpy() if probs else np.zeros((0, clf.num_labels), np.float32)
    windows = [
        TimelineWindow(a / rate, (a + w) / rate, clf.topk(p, topk), a, a + w)
        for a, p in zip(starts, probs, strict=True)
    ]
    _logger.debug("%s: %d windows, %d frames decoded, at most %d held", source, len(windows), decoded, held)
    return Timeline(
        windows,
        source=source,
        fps=rate,
        total_frames=total,
        window=window,
        stride=stride,
        class_names=clf.labels[: clf.num_labels],
        probabilities=table,
        frames_decoded=decoded,
        max_frames_held=held,
    )


@torch.inference_mode()
def _score(clf: VideoClassifier, views: list[torch.Tensor]) -> list[torch.Tensor]:
    """Class probabilities ``(K,)`` of each window from its views ``(V, T, 3, S, S)`` (one batched pass)."""
    counts = [v.shape[0] for v in views]
    batch = torch.cat(views)
    device = clf.device
    logits = torch.cat([clf.model(chunk.to(device)).float().cpu() for chunk in batch.split(clf.batch_size)])
    mode = clf.protocol.average_clips
    out = []
    for part in logits.split(counts):
        averaged = average_clips(part.unsqueeze(0), mode)[0]
        out.append(averaged if mode == "prob" else averaged.softmax(-1))
    return out


def _import_pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib; install it with: pip install 'tsm-models[plot]'") from exc
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _clock(seconds: float, _pos: Any = None) -> str:
    """Tick label: ``m:ss`` (``h:mm:ss`` past an hour), with tenths when the ticks are closer than a second."""
    seconds = max(0.0, float(seconds))
    whole = abs(seconds - round(seconds)) < 1e-6
    m, s = divmod(round(seconds) if whole else seconds, 60)
    sec = f"{int(s):02d}" if whole else f"{s:04.1f}"
    return f"{int(m)}:{sec}" if m < 60 else f"{int(m // 60)}:{int(m % 60):02d}:{sec}"


def plot_timeline(
    tl: Timeline, path: str | os.PathLike | None = None, max_classes: int = 6, title: str | None = None
) -> Any:
    """Plot a :class:`Timeline`: a band of the top class per window above the probability of the leading classes.

    The classes drawn are those most often first (ties: the highest peak), at most ``max_classes``. With
    ``path`` the figure is written there (PNG/SVG/PDF by suffix, atomically) and closed; without it the
    matplotlib figure is returned.
    """
    plt = _import_pyplot()
    from matplotlib.patches import Patch

    probs = tl.probabilities
    if probs.size == 0:
        raise ValueError("the timeline has no windows to plot")
    top1 = probs.argmax(1)
    counts = np.bincount(top1, minlength=probs.shape[1])
    order = sorted(range(probs.shape[1]), key=lambda c: (-counts[c], -probs[:, c].max()))
    chosen = [c for c in order if counts[c] > 0][:max_classes]
    for c in order:  # fill up with the strongest runners-up
        if len(chosen) >= min(max_classes, probs.shape[1]):
            break
        if c not in chosen:
            chosen.append(c)
    cmap = plt.get_cmap("tab10" if len(chosen) <= 10 else "tab20")
    colour = {c: cmap(i % cmap.N) for i, c in enumerate(chosen)}
    other = (0.8, 0.8, 0.8, 1.0)
    centres = np.array([(w.start + w.end) / 2 for w in tl])
    half = (tl.stride / 2) if len(tl) > 1 else (tl[0].end - tl[0].start) / 2

    fig, (band, ax) = plt.subplots(
        2, 1, sharex=True, figsize=(10, 4.2), gridspec_kw={"height_ratios": [1, 5], "hspace": 0.06}
    )
    for t, c in zip(centres, top1, strict=True):
        band.axvspan(t - half, t + half, color=colour.get(int(c), other), lw=0)
    band.set_yticks([])
    band.tick_params(bottom=False, labelbottom=False)
    band.set_ylabel("top 1", rotation=0, ha="right", va="center", fontsize=9)
    for spine in band.spines.values():
        spine.set_visible(False)
    for c in chosen:
        ax.plot(centres, probs[:, c], color=colour[c], lw=1.8, label=tl.class_names[c])
        ax.fill_between(centres, 0, probs[:, c], color=colour[c], alpha=0.08, lw=0)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, max(tl.duration, centres[-1] + half))
    ax.set_ylabel("probability")
    ax.set_xlabel("time (min:s)")
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, steps=[1, 2, 5, 6, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(_clock))
    ax.grid(True, axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    handles, names = ax.get_legend_handles_labels()
    if any(int(c) not in colour for c in top1):
        handles.append(Patch(color=other))
        names.append("other")
    ax.legend(handles, names, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    name = os.path.basename(tl.source) or tl.source
    band.set_title(
        title or f"{name}: {len(tl)} windows of {tl.window:g} s every {tl.stride:g} s", fontsize=10, loc="left"
    )
    if path is None:
        return fig
    try:
        suffix = os.path.splitext(os.fspath(path))[1].lower().lstrip(".") or "png"
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format=suffix, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    return None
