"""The test views of many videos, decoded in DataLoader workers, one item per video, errors per item.

:class:`VideoViews` is a map-style :class:`torch.utils.data.Dataset` over video sources (files, raw-frame
folders, http(s) URLs). Item ``i`` is a :class:`ViewsItem` holding the ``(V, T, 3, S, S)`` network input of
video ``i`` under a :class:`~tsm_models.models.zoo.ClipProtocol` (``V = crops x clips``, crop-major), or the
error that stopped it: a bad video does not stop a DataLoader, it comes back as an item with ``error`` set.

>>> views = VideoViews(paths, protocol)
>>> for item in views.loader(num_workers=4):
...     if item.ok:
...         logits = model(item.views)  # (V, K)

:func:`load_views` is the same decoding for one video, in the calling process (the classifier uses it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..models.zoo import ClipProtocol
from .sampling import sample_indices
from .transforms import VideoTransform, create_transform
from .video import DEFAULT_FILENAME_TEMPLATES, FrameReader, open_video

__all__ = [
    "READ_ERRORS",
    "VideoViews",
    "ViewsItem",
    "frames_to_views",
    "load_frames",
    "load_views",
    "open_for",
    "source_name",
]

_logger = logging.getLogger(__name__)

# What a video that cannot be read raises (open_video maps decoder errors to ValueError); other errors are bugs
# and propagate.
READ_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError)


def source_name(video: Any) -> str:
    """A printable name of a video source: the path or URL, the reader's source, or ``<ndarray>``."""
    if isinstance(video, (str, os.PathLike)):
        return os.fspath(video)
    if isinstance(video, FrameReader):
        return video.source
    return f"<{type(video).__name__}>"


def open_for(video: Any, protocol: ClipProtocol) -> FrameReader:
    """:func:`open_video` with the protocol's raw-frame file names tried first."""
    tmpl = (protocol.filename_tmpl, *[t for t in DEFAULT_FILENAME_TEMPLATES if t != protocol.filename_tmpl])
    return open_video(video, filename_tmpl=tmpl, start_index=None)


def load_frames(video: Any, protocol: ClipProtocol) -> np.ndarray:
    """Decode the protocol's frames of ``video``: ``(views * T, H, W, 3)`` uint8, view-major."""
    reader = open_for(video, protocol)
    try:
        if reader.total_frames < protocol.num_frames:
            _logger.debug(
                "%s: %d frames, fewer than %d: frames repeat", reader.source, reader.total_frames, protocol.num_frames
            )
        return reader.read(sample_indices(protocol, reader.total_frames))
    finally:
        if reader is not video:  # close only what was opened here
            reader.close()


def frames_to_views(frames: np.ndarray | torch.Tensor, transform: VideoTransform, num_frames: int) -> torch.Tensor:
    """Decoded frames ``(clips * T, H, W, 3)`` -> network input ``(V, T, 3, S, S)``, ``V = crops x clips``."""
    x = transform(frames)  # (crops, clips * T, 3, S, S)
    return x.reshape(x.shape[0] * (x.shape[1] // num_frames), num_frames, *x.shape[2:])


def load_views(video: Any, protocol: ClipProtocol, transform: VideoTransform | None = None) -> torch.Tensor:
    """The network input of one video under ``protocol``: ``(V, T, 3, S, S)`` float."""
    transform = create_transform(protocol) if transform is None else transform
    return frames_to_views(load_frames(video, protocol), transform, protocol.num_frames)


@dataclass
class ViewsItem:
    """One video of a :class:`VideoViews`: its views ``(V, T, 3, S, S)``, or the ``error`` message."""

    index: int
    source: str
    views: torch.Tensor | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _first(batch: Any) -> Any:
    return batch  # batch_size=None: each item passes through unchanged (picklable for worker processes)


class VideoViews(Dataset):
    """Per-video test views for a DataLoader: item ``i`` is video ``i``'s :class:`ViewsItem`.

    Args:
        videos: video files, raw-frame folders or http(s) URLs (anything :func:`open_video` takes that can be
            sent to a worker process).
        protocol: sampling, crops and normalisation (a zoo entry's ``protocol``).
        transform: preprocessing; default: ``create_transform(protocol)``.

    A video that cannot be read (``ValueError``/``OSError`` from the decoder) gives an item with ``error`` set
    and ``views=None``; the loader goes on with the next one.
    """

    def __init__(self, videos: Sequence[Any], protocol: ClipProtocol, transform: VideoTransform | None = None) -> None:
        if not isinstance(protocol, ClipProtocol):
            raise TypeError(f"protocol must be a ClipProtocol, got {type(protocol).__name__}")
        self.videos = list(videos)
        self.protocol = protocol
        self.transform = create_transform(protocol) if transform is None else transform

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> ViewsItem:
        video = self.videos[index]
        name = source_name(video)
        try:
            views = load_views(video, self.protocol, self.transform)
        except Exception as exc:  # one video's failure, whatever it is (decoding, a bomb, memory), is its error
            message = str(exc) or type(exc).__name__
            return ViewsItem(index, name, None, message if name in message else f"{name}: {message}")
        return ViewsItem(index, name, views, None)

    def loader(self, num_workers: int = 0, prefetch_factor: int | None = None, **kwargs: Any) -> DataLoader:
        """A DataLoader yielding the items in order, decoded by ``num_workers`` processes (0: in this one)."""
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
        extra: dict[str, Any] = dict(kwargs)
        if num_workers > 0:
            extra.setdefault("prefetch_factor", prefetch_factor or 2)
        return DataLoader(self, batch_size=None, shuffle=False, num_workers=num_workers, collate_fn=_first, **extra)
