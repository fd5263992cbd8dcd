"""What a training or evaluation run reads: the data splits, their classes and the clip protocols."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.dataset import VideoRecord, read_annotation_file, scan_class_folders
from ..labels import DATASETS, load_labels, read_labels
from ..models.zoo import ClipProtocol, ZooEntry
from .config import TrainConfig
from .recipes import _entry_dataset

_logger = logging.getLogger(__name__)


@dataclass
class _Split:
    records: list[VideoRecord]
    class_names: list[str] | None  # None: from the model or indices
    source: Path


def _read_split(
    path: Path,
    prefix: Path | None,
    class_names: Sequence[str] | None,
    num_classes: int | None,
    multi_label: bool,
) -> _Split:
    if path.is_file():
        records = read_annotation_file(path, prefix, num_classes=num_classes, multi_label=multi_label)
        return _Split(records, list(class_names) if class_names is not None else None, path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such annotation list or dataset folder")
    if multi_label:
        raise ValueError(
            f"{path}: multi-label training needs annotation lists ('path label label ...'), not a folder tree"
        )
    records, names = scan_class_folders(path, class_names=class_names)
    return _Split(records, names, path)


def _train_val_sources(cfg: TrainConfig) -> tuple[Path, Path | None]:
    data = cfg.data
    if data.is_dir() and (data / "train").is_dir():
        val = cfg.val_data if cfg.val_data is not None else (data / "val" if (data / "val").is_dir() else None)
        return data / "train", val
    return data, cfg.val_data


def _class_names_for(cfg: TrainConfig, split: _Split, entry: ZooEntry | None) -> list[str]:
    """Class names of the training data; checks there are at least two classes."""
    if split.class_names is not None:
        names = split.class_names
    elif cfg.labels is not None:
        names = read_labels(cfg.labels)
    else:
        k = cfg.num_classes
        if k is None:
            k = 1 + max(max(_labels_of(r)) if _labels_of(r) else 0 for r in split.records)
        dataset = _entry_dataset(entry)
        if entry is not None and k == entry.num_classes and dataset in DATASETS:
            names = load_labels(dataset)
            names += [f"unused_{i}" for i in range(len(names), k)]
        else:
            names = [str(i) for i in range(k)]
    if cfg.num_classes is not None and cfg.num_classes != len(names):
        raise ValueError(
            f"--num-classes {cfg.num_classes} but the data has {len(names)} classes ({split.source}); "
            "drop --num-classes or fix the labels"
        )
    if len(names) < 2:
        raise ValueError(
            f"{split.source}: {len(names)} class ({', '.join(names)}); a classifier needs at least 2 classes "
            "(one sub-folder per class, or labels 0..K-1 in the list)"
        )
    return list(names)


def _labels_of(record: VideoRecord) -> tuple[int, ...]:
    label = record.label
    return tuple(label) if isinstance(label, (tuple, list)) else (int(label),)


def _check_labels(split: _Split, num_classes: int) -> None:
    for r in split.records:
        bad = [c for c in _labels_of(r) if not 0 <= c < num_classes]
        if bad:
            raise ValueError(
                f"{split.source}: {r.path} has label {bad[0]}, beyond the {num_classes} classes of the run "
                f"(labels must be 0..{num_classes - 1})"
            )


def _protocol(
    cfg: TrainConfig, entry: ZooEntry | None, num_segments: int, saved: ClipProtocol | None = None
) -> ClipProtocol:
    if saved is not None:
        protocol = saved
    elif entry is not None:
        protocol = entry.protocol
    else:
        protocol = ClipProtocol(num_frames=num_segments, input_format="video")
    changes: dict[str, Any] = {}
    if cfg.short_side:
        changes["resize_short"] = cfg.short_side
    if cfg.crop_size:
        changes["crop_size"] = cfg.crop_size
    if changes.get("crop_size", protocol.crop_size) > changes.get("resize_short", protocol.resize_short):
        changes["resize_short"] = changes.get("crop_size", protocol.crop_size)
    return dataclasses.replace(protocol, **changes)


def _single_view(protocol: ClipProtocol) -> ClipProtocol:
    return dataclasses.replace(protocol, num_clips=1, crop="center", num_crops=1)
