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

from .data.transforms import VideoTransform, create_transform
from .data.video import FrameReader
from .data.views import VideoViews, frames_to_views, load_frames, source_name
from .labels import DATASETS, load_labels
from .models import create_model
from .models.backends import BACKENDS, prepare_backend
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
        batch_size: views per forward pass (a dense 10-clip x TenCrop protocol has 100 views per video).
        views: ``"all"`` (the protocol's clips x crops, as upstream) or ``"single"`` (1 clip, 1 center crop:
            :meth:`~tsm_models.ClipProtocol.single_view`, for quick use).
        num_labels: only the first ``num_labels`` classes are ranked (two sthv2 checkpoints have 339 logits
            for 174 classes); default: ``len(labels)``.
        backend: how the model runs on a CPU (``tsm_models.models.backends``): ``"eager"`` (the default: no
            start-up cost), ``"channels_last"``, ``"compile"`` (``torch.compile`` with freezing; tens of
            seconds of compilation) or ``"onnxruntime"`` (exported to ONNX and verified against PyTorch within
            1e-4 of the largest logit: the fastest fp32 path on the CPUs measured in BENCHMARKS.md; seconds of
            export). Worth it for many videos, not for one.
        int8: with ``backend="onnxruntime"``, run a statically quantised int8 graph (about 4x eager on a
            ResNet-50 with VNNI; approximate logits, the same top-5 on the clips measured); needs
            ``calibration``.
        calibration: a few real videos (anything :meth:`preprocess` takes) whose views set the int8
            activation ranges; use videos like the ones to classify.

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
        views: str = "all",
        backend: str = "eager",
        int8: bool = False,
        calibration: Sequence[VideoSource] | None = None,
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
        if views not in ("all", "single"):
            raise ValueError(f"views must be 'all' or 'single', got {views!r}")
        self.protocol = protocol.single_view() if views == "single" else protocol
        num_classes = getattr(model, "num_classes", None)
        # a zoo model given a new classifier (fine-tuning) keeps the protocol but not the class names
        entry_labels = self.entry is not None and num_classes in (None, self.entry.num_classes)
        # names given here or saved with the weights must cover the outputs (a zoo record's list may be
        # shorter: its num_labels says so)
        count_names = labels is not None or bool(getattr(model, "label_names", None))
        if labels is None:
            if getattr(model, "label_names", None):  # class names learned with the weights (a fine-tuned model)
                labels = list(model.label_names)  # type: ignore[arg-type]
            elif entry_labels and self.entry.label_set in DATASETS:
                labels = load_labels(self.entry.label_set)
            elif num_classes:
                labels = [str(i) for i in range(num_classes)]
            else:
                raise ValueError("labels are needed for a model without num_classes")
        self.labels = list(labels)
        if num_labels is None and count_names and num_classes and len(self.labels) < num_classes:
            raise ValueError(
                f"{len(self.labels)} labels for a model with {num_classes} outputs: the outputs beyond the names "
                f"would be dropped from the ranking; give {num_classes} names, or pass num_labels="
                f"{len(self.labels)} to rank only the first {len(self.labels)} outputs"
            )
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
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend != "eager" and self.device.type != "cpu":
            raise ValueError(f"backend={backend!r} is a CPU path; the model is on {self.device}")
        if int8 and not calibration:
            raise ValueError("int8=True needs calibration=[a few videos like the ones to classify]")
        self.backend, self.int8 = backend, bool(int8)
        calib = [self.preprocess(v) for v in calibration] if int8 and calibration else None
        # the model's input shape is fixed in an exported graph: read it off the transform
        self.runner: Any = prepare_backend(
            self.model, backend, input_shape=self.view_shape(), int8=int8, calibration=calib
        )

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

    def view_shape(self, frame_size: tuple[int, int] = (256, 340)) -> tuple[int, int, int, int]:
        """``(T, 3, S, S)`` of one view under the protocol (for a video of ``frame_size`` ``(H, W)``)."""
        p = self.protocol
        frames = np.zeros((p.num_frames * p.num_clips, *frame_size, 3), np.uint8)
        return tuple(self._to_views(frames).shape[1:])  # type: ignore[return-value]

    def load(self, video: VideoSource) -> np.ndarray:
        """Decode the protocol's frames of ``video``: ``(views * T, H, W, 3)`` uint8, view-major."""
        return load_frames(video, self.protocol)

    def preprocess(self, video: VideoSource) -> torch.Tensor:
        """Network input of ``video``: ``(V, T, 3, S, S)`` float, ``V = crops x clips`` (crop-major)."""
        frames = self.load(video)
        try:
            return self._to_views(frames)
        except ValueError as exc:  # e.g. a frame size the resize refuses: say which video
            if source_name(video) in str(exc):
                raise
            raise ValueError(f"{source_name(video)}: {exc}") from None

    def _to_views(self, frames: np.ndarray) -> torch.Tensor:
        return frames_to_views(frames, self.transform, self.protocol.num_frames)

    @torch.inference_mode()
    def run_views(self, views: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, K)`` float32 of views ``(N, T, 3, S, S)`` (any number of videos' views), through the
        backend, ``batch_size`` views per forward pass."""
        device = self.device if self.backend == "eager" else torch.device("cpu")
        return torch.cat([self.runner(chunk.to(device)).float().cpu() for chunk in views.split(self.batch_size)])

    def views_to_probs(self, logits: torch.Tensor, counts: Sequence[int]) -> list[torch.Tensor]:
        """Split per-view logits ``(sum(counts), K)`` into videos of ``counts`` views; each video's class
        probabilities ``(K,)`` (view averaging of the protocol)."""
        mode = self.protocol.average_clips
        multi_label = getattr(self.model, "multi_label", False)  # independent (sigmoid) probabilities
        out = []
        for chunk in logits.split(list(counts)):
            if multi_label:
                out.append(chunk.sigmoid().mean(0) if mode == "prob" else chunk.mean(0).sigmoid())
                continue
            averaged = average_clips(chunk.unsqueeze(0), mode)[0]
            out.append(averaged if mode == "prob" else averaged.softmax(-1))
        return out

    def scores(self, views: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(K,)`` of one video from its views ``(V, T, 3, S, S)``."""
        return self.views_to_probs(self.run_views(views), [views.shape[0]])[0]

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

    def predict_many(
        self,
        videos: Iterable[VideoSource],
        topk: int = 5,
        prefetch: bool = True,
        num_workers: int = 0,
        batch_videos: int = 1,
    ) -> Iterator[Prediction]:
        """Classify videos, in order, decoding ahead while the model runs.

        Args:
            videos: anything :meth:`preprocess` takes (file paths for ``num_workers > 0``).
            topk: classes per prediction.
            prefetch: with ``num_workers=0``, decode the next videos in a thread.
            num_workers: decode, sample and preprocess in this many DataLoader worker processes (the model
                runs here, meanwhile); 0: in this process.
            batch_videos: videos whose views go through the model together (a forward pass of
                ``batch_size`` views at most).

        Any error of one video (unreadable, damaged, too large, out of memory, non-finite outputs) yields a
        :class:`Prediction` with that ``error`` and the run goes on; only ``KeyboardInterrupt``-like
        exceptions stop it.
        """
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
        if not isinstance(batch_videos, int) or batch_videos < 1:
            raise ValueError(f"batch_videos must be an int >= 1, got {batch_videos!r}")
        items = list(videos)
        batch: list[tuple[str, torch.Tensor]] = []

        def score(group: list[tuple[str, torch.Tensor]]) -> list[Prediction]:
            logits = self.run_views(torch.cat([v for _, v in group]))
            probs = self.views_to_probs(logits, [len(v) for _, v in group])
            return [Prediction(src, self.topk(p, topk)) for (src, _), p in zip(group, probs, strict=True)]

        def flush() -> Iterator[Prediction]:
            if batch:
                try:
                    results = score(batch)
                except Exception as exc:  # e.g. an allocation failure or non-finite outputs: find the video
                    results = [Prediction(batch[0][0], [], exc)] if len(batch) == 1 else []
                    for item in batch if len(batch) > 1 else []:
                        try:
                            results += score([item])
                        except Exception as one:  # this video's error; the others keep their results
                            results.append(Prediction(item[0], [], one))
                yield from results
                batch.clear()

        for source, views, error in self._decoded(items, prefetch, num_workers, batch_videos):
            if error is not None:
                yield from flush()  # keep the output in input order
                yield Prediction(source, [], error)
                continue
            batch.append((source, views))
            if len(batch) >= batch_videos:
                yield from flush()
        yield from flush()

    def _decoded(
        self, items: list[VideoSource], prefetch: bool, num_workers: int, ahead: int
    ) -> Iterator[tuple[str, torch.Tensor | None, Exception | None]]:
        """``(source, views, error)`` per video, in order."""
        if num_workers > 0:
            # only what decoding needs goes to the workers (not the model or an onnxruntime session)
            views = VideoViews(items, self.protocol, self.transform)
            for item in views.loader(num_workers=num_workers, prefetch_factor=max(2, -(-(ahead + 1) // num_workers))):
                yield item.source, item.views, None if item.ok else ValueError(item.error)
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending: list[Future[torch.Tensor]] = []
            window = ahead + 1 if prefetch else 0
            for i, video in enumerate(items):
                while prefetch and len(pending) < window and i + len(pending) < len(items):
                    pending.append(pool.submit(self.preprocess, items[i + len(pending)]))
                try:
                    views = pending.pop(0).result() if prefetch else self.preprocess(video)
                    yield source_name(video), views, None
                except Exception as exc:  # one video's failure, whatever it is, is that video's error
                    yield source_name(video), None, exc

    def with_protocol(self, **changes: Any) -> VideoClassifier:
        """A copy with protocol fields changed, e.g. ``crop="three", crop_size=256, num_crops=3``."""
        clone = object.__new__(VideoClassifier)
        clone.__dict__.update(self.__dict__)
        clone.protocol = replace(self.protocol, **changes)
        clone.transform = create_transform(clone.protocol)
        if self.backend == "onnxruntime" and clone.view_shape() != self.view_shape():
            if self.int8:
                raise ValueError("an int8 classifier's views can't change shape: build a new one with calibration")
            clone.runner = prepare_backend(self.model, "onnxruntime", input_shape=clone.view_shape())
        return clone


def predict(
    model: nn.Module,
    video: VideoSource,
    topk: int = 5,
    labels: Sequence[str] | None = None,
    protocol: ClipProtocol | None = None,
    device: str | torch.device | None = None,
    views: str = "all",
    backend: str = "eager",
) -> list[tuple[str, float]]:
    """Classify one video with ``model`` and its zoo record's test protocol.

    Args:
        model: a TSM; zoo models (``create_model(zoo_name, ...)``) bring their protocol and class names.
        video: a video file, a raw-frame folder, or frames ``(T, H, W, 3)`` uint8 (array/tensor).
        topk: number of classes returned.
        labels: class names for models without a zoo record (default ``"0".."K-1"``).
        protocol: override the test protocol (sampling, crops, normalisation, view averaging).
        device: run the model there (moves the model).
        views: ``"all"``: the protocol's views (clips x crops, ``protocol.num_views``, e.g. 100 for a dense
            10-clip x TenCrop entry), combined as upstream; ``"single"``: 1 clip, 1 center crop (cheap).
        backend: see :class:`VideoClassifier` (``"onnxruntime"`` pays seconds of export: worth it for many
            videos through one :class:`VideoClassifier`, not for one call).

    Returns:
        ``[(label, probability), ...]``, most likely first.
    """
    return VideoClassifier(model, labels=labels, protocol=protocol, device=device, views=views, backend=backend)(
        video, topk=topk
    )
