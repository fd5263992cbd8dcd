"""Classify videos: sampling + decoding + preprocessing + model + view averaging + class names.

>>> model = tsm_models.create_model("tsm_r50_1x1x8_kinetics400", pretrained=True)
>>> tsm_models.predict(model, "video.mp4", topk=3)  # [(label, probability), ...], most likely first

Views follow the record's test protocol: ``num_clips`` clips in time x ``num_crops`` crops, each a
``(T, 3, S, S)`` input of its own; their outputs are combined as MMAction2's ``average_clips``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from .data.sampling import sample_indices
from .data.transforms import VideoTransform, create_transform
from .data.video import DEFAULT_FILENAME_TEMPLATES, FrameReader, open_video
from .labels import DATASETS, load_labels
from .models import create_model
from .models.zoo import ClipProtocol, ZooEntry

__all__ = ["Prediction", "VideoClassifier", "average_clips", "predict"]

_logger = logging.getLogger(__name__)

VideoSource = str | os.PathLike | np.ndarray | torch.Tensor | Sequence[Any] | FrameReader


def average_clips(scores: torch.Tensor, mode: str | None = "score") -> torch.Tensor:
    """MMAction2 ``average_clip``: combine per-view outputs ``(B, V, K)`` -> ``(B, K)``.

    Args:
        scores: logits of ``V`` views per video.
        mode: ``"score"`` mean of the logits, ``"prob"`` mean of the per-view softmax, ``None`` no averaging
            (returns ``scores`` unchanged).
    """
    if scores.ndim != 3:
        raise ValueError(f"expected per-view scores (B, V, K), got shape {tuple(scores.shape)}")
    if mode is None:
        return scores
    if mode == "score":
        return scores.mean(dim=1)
    if mode == "prob":
        return scores.softmax(dim=-1).mean(dim=1)
    raise ValueError(f"average_clips must be 'score', 'prob' or None, got {mode!r}")


@dataclass(frozen=True)
class Prediction:
    """Result for one video of :meth:`VideoClassifier.predict_many`: ``topk`` ``(label, probability)`` pairs,
    or the ``error`` that stopped it."""

    source: str
    topk: list[tuple[str, float]]
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class VideoClassifier:
    """A model with its test protocol, preprocessing and class names, for classifying many videos.

    Args:
        model: a :class:`~tsm_models.TSM` (any module mapping ``(B, T, 3, S, S)`` to ``(B, K)`` logits).
        labels: class names; default: the zoo record's packaged list, else ``"0".."K-1"``.
        protocol: test protocol; default: the zoo record's (``model.zoo_entry``), else one center-cropped
            clip of ``model.num_segments`` frames.
        device: where the model runs; default: the model's device.
        batch_size: views per forward pass (dense sampling has 10 views per video).
        num_labels: only the first ``num_labels`` classes are ranked (two sthv2 checkpoints have 339 logits
            for 174 classes); default: ``len(labels)``.

    Probabilities: with ``average_clips="score"`` the softmax of the view-averaged logits, with ``"prob"`` the
    mean of the per-view softmaxes; always over all ``K`` logits, as in MMAction2. A multi-label model
    (``model.multi_label``, trained with ``tsm-models train --multi-label``) gets independent sigmoid
    probabilities instead (of the averaged logits, or averaged per view with ``"prob"``): they do not sum to 1.
    """

    def __init__(
        self,
        model: nn.Module,
        labels: Sequence[str] | None = None,
        protocol: ClipProtocol | None = None,
        device: str | torch.device | None = None,
        batch_size: int = 16,
        num_labels: int | None = None,
    ) -> None:
        self.entry: ZooEntry | None = getattr(model, "zoo_entry", None)
        if protocol is None:
            if getattr(model, "clip_protocol", None) is not None:  # a trained folder's own test protocol
                protocol = model.clip_protocol
            elif self.entry is not None:
                protocol = self.entry.protocol
            else:
                protocol = ClipProtocol(num_frames=int(getattr(model, "num_segments", 8)))
        if not isinstance(protocol, ClipProtocol):
            raise TypeError(f"protocol must be a ClipProtocol, got {type(protocol).__name__}")
        self.protocol = protocol
        num_classes = getattr(model, "num_classes", None)
        # a zoo model given a new classifier (fine-tuning) keeps the protocol but not the class names
        entry_labels = self.entry is not None and num_classes in (None, self.entry.num_classes)
        if labels is None:
            if getattr(model, "label_names", None):  # class names learned with the weights (a fine-tuned model)
                labels = list(model.label_names)  # type: ignore[arg-type]
            elif entry_labels and self.entry.dataset in DATASETS:
                labels = load_labels(self.entry.dataset)
            elif num_classes:
                labels = [str(i) for i in range(num_classes)]
            else:
                raise ValueError("labels are needed for a model without num_classes")
        self.labels = list(labels)
        if num_labels is None:
            num_labels = min(self.entry.num_labels, len(self.labels)) if entry_labels else len(self.labels)
        self.num_labels = int(num_labels)
        if not 0 < self.num_labels <= len(self.labels):
            raise ValueError(f"num_labels must be in 1..{len(self.labels)} (the labels given), got {self.num_labels}")
        if num_classes and self.num_labels > num_classes:
            raise ValueError(f"{self.num_labels} labels for a model with {num_classes} outputs")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        if device is not None:
            model = model.to(device)
        self.model = model.eval()
        self.transform: VideoTransform = create_transform(self.protocol)

    @classmethod
    def from_pretrained(
        cls, name: str, pretrained: Any = True, device: str | torch.device | None = None, **kwargs: Any
    ) -> VideoClassifier:
        """Build zoo model ``name`` with its weights (``pretrained=True`` or a checkpoint path)."""
        return cls(create_model(name, pretrained=pretrained), device=device, **kwargs)

    @property
    def device(self) -> torch.device:
        param = next(self.model.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def load(self, video: VideoSource) -> np.ndarray:
        """Decode the protocol's frames of ``video``: ``(views * T, H, W, 3)`` uint8, view-major."""
        p = self.protocol
        tmpl = (p.filename_tmpl, *[t for t in DEFAULT_FILENAME_TEMPLATES if t != p.filename_tmpl])
        reader = open_video(video, filename_tmpl=tmpl, start_index=None)
        try:
            if reader.total_frames < p.num_frames:
                _logger.debug(
                    "%s: %d frames, fewer than %d: frames repeat", reader.source, reader.total_frames, p.num_frames
                )
            return reader.read(sample_indices(p, reader.total_frames))
        finally:
            if reader is not video:  # close only what was opened here
                reader.close()

    def preprocess(self, video: VideoSource) -> torch.Tensor:
        """Network input of ``video``: ``(V, T, 3, S, S)`` float, ``V = crops x clips`` (crop-major)."""
        return self._to_views(self.load(video))

    def _to_views(self, frames: np.ndarray) -> torch.Tensor:
        t = self.protocol.num_frames
        x = self.transform(frames)  # (crops, clips * T, 3, S, S)
        return x.reshape(x.shape[0] * (x.shape[1] // t), t, *x.shape[2:])

    @torch.inference_mode()
    def scores(self, views: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(K,)`` of one video from its views ``(V, T, 3, S, S)``."""
        device = self.device
        logits = torch.cat([self.model(chunk.to(device)).float() for chunk in views.split(self.batch_size)])  # (V, K)
        mode = self.protocol.average_clips
        if getattr(self.model, "multi_label", False):
            return logits.sigmoid().mean(0) if mode == "prob" else logits.mean(0).sigmoid()
        averaged = average_clips(logits.unsqueeze(0), mode)[0]
        return averaged if mode == "prob" else averaged.softmax(-1)

    def topk(self, probs: torch.Tensor, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most likely named classes of a probability vector ``(K,)``."""
        named = probs[: self.num_labels]
        values, indices = named.topk(min(int(k), named.numel()))
        return [(self.labels[i], float(v)) for v, i in zip(values.tolist(), indices.tolist(), strict=True)]

    def __call__(self, video: VideoSource, topk: int = 5) -> list[tuple[str, float]]:
        """Top-``topk`` ``(label, probability)`` pairs for one video, most likely first."""
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        return self.topk(self.scores(self.preprocess(video)), topk)

    def predict_many(self, videos: Iterable[VideoSource], topk: int = 5, prefetch: bool = True) -> Iterator[Prediction]:
        """Classify videos one by one, decoding the next video in a thread while the model runs.

        A video that cannot be read yields a :class:`Prediction` with its ``error`` (the run goes on);
        other errors propagate.
        """
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        items = list(videos)
        with ThreadPoolExecutor(max_workers=1) as pool:

            def submit(video: VideoSource) -> Future[torch.Tensor]:
                return pool.submit(self.preprocess, video)

            pending = submit(items[0]) if items and prefetch else None
            for i, video in enumerate(items):
                source = _source_name(video)
                try:
                    views = pending.result() if pending is not None else self.preprocess(video)
                    error = None
                except (ValueError, FileNotFoundError, OSError) as exc:
                    views, error = None, exc
                pending = submit(items[i + 1]) if prefetch and i + 1 < len(items) else None
                if error is not None:
                    yield Prediction(source, [], error)
                    continue
                yield Prediction(source, self.topk(self.scores(views), topk))

    def with_protocol(self, **changes: Any) -> VideoClassifier:
        """A copy with protocol fields changed, e.g. ``crop="three", crop_size=256, num_crops=3``."""
        clone = object.__new__(VideoClassifier)
        clone.__dict__.update(self.__dict__)
        clone.protocol = replace(self.protocol, **changes)
        clone.transform = create_transform(clone.protocol)
        return clone


def _source_name(video: VideoSource) -> str:
    if isinstance(video, (str, os.PathLike)):
        return os.fspath(video)
    if isinstance(video, FrameReader):
        return video.source
    return f"<{type(video).__name__}>"


def predict(
    model: nn.Module,
    video: VideoSource,
    topk: int = 5,
    labels: Sequence[str] | None = None,
    protocol: ClipProtocol | None = None,
    device: str | torch.device | None = None,
) -> list[tuple[str, float]]:
    """Classify one video with ``model`` and its zoo record's test protocol.

    Args:
        model: a TSM; zoo models (``create_model(zoo_name, ...)``) bring their protocol and class names.
        video: a video file, a raw-frame folder, or frames ``(T, H, W, 3)`` uint8 (array/tensor).
        topk: number of classes returned.
        labels: class names for models without a zoo record (default ``"0".."K-1"``).
        protocol: override the test protocol (sampling, crops, normalisation, view averaging).
        device: run the model there (moves the model).

    Returns:
        ``[(label, probability), ...]``, most likely first.
    """
    return VideoClassifier(model, labels=labels, protocol=protocol, device=device)(video, topk=topk)
