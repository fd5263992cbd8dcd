"""Video datasets: MMAction2 annotation lists and folder-per-class trees, sampled and transformed like the zoo.

Annotation lists (MMAction2 formats, one video per line, fields separated by whitespace, ``#`` comments and
blank lines ignored):

* videos: ``path label`` (e.g. ``abseiling/xyz.mp4 0``);
* raw frames: ``dir total_frames label`` (e.g. ``abseiling/xyz 300 0``), a folder of ``img_00001.jpg``...
* multi-label (MMAction2 ``multi_class=True``, ``multi_label=True`` here): ``path label [label ...]`` or
  ``dir total_frames label [label ...]``; items then carry multi-hot ``(K,)`` float targets.

Relative paths are taken from ``data_prefix`` (default: the list's folder). A folder-per-class tree
``root/<class>/<video>`` gives class indices in sorted class-name order.

Items are ``(video, label)``: training video ``(T, 3, S, S)`` (one random clip, augmented), test video
``(V, T, 3, S, S)`` with ``V = crops x clips`` views of the zoo protocol. Each item's randomness is seeded from
``(seed, epoch, index)``, so results do not depend on the number of DataLoader workers or on the process, and
a resumed run (:meth:`VideoDataset.set_epoch`) reproduces the original one.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..models.zoo import ClipProtocol, ZooEntry
from .sampler import ShardSampler, train_sampler
from .sampling import sample_indices
from .transforms import VideoTransform, create_transform
from .video import open_video

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoDataset",
    "VideoRecord",
    "create_loader",
    "read_annotation_file",
    "scan_class_folders",
]

_logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".gif")


@dataclass(frozen=True)
class VideoRecord:
    """One video of a dataset: ``path`` (file or frame folder), class ``label`` (a tuple of class indices for
    a multi-label video), and for raw frames the ``total_frames`` given by the annotation list (``None``:
    counted when the video is opened)."""

    path: str
    label: int | tuple[int, ...]
    total_frames: int | None = None


def _parse_int(value: str, what: str, where: str, line: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{where}: {what} must be an integer, got {value!r} in line {line!r}") from None
    if number < 0:
        raise ValueError(f"{where}: {what} must be >= 0, got {number} in line {line!r}")
    return number


@contextlib.contextmanager
def _text_lines(path: Path) -> Iterator[Iterator[str]]:
    """The lines of a UTF-8 text file (a leading BOM dropped); a line that is not UTF-8 is a ``ValueError``
    naming ``file:line`` (a Latin-1 list would otherwise fail with a bare ``UnicodeDecodeError``)."""
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]

    def lines() -> Iterator[str]:
        for lineno, raw in enumerate(data.splitlines(keepends=True), start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(
                    f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                    "save the list as UTF-8, e.g. iconv -f latin1 -t utf-8"
                ) from None

    yield lines()


def read_annotation_file(
    ann_file: str | os.PathLike[str],
    data_prefix: str | os.PathLike[str] | None = None,
    raw_frames: bool | None = None,
    num_classes: int | None = None,
    multi_label: bool = False,
) -> list[VideoRecord]:
    """Parse an MMAction2 annotation list.

    Args:
        ann_file: the list (``path label`` per video, or ``dir total_frames label`` per raw-frame folder).
        data_prefix: folder that relative paths start from; ``None`` = the list's folder.
        raw_frames: ``True`` for ``dir total_frames label`` lines, ``False`` for ``path label``; ``None``
            decides from the first line (3 fields = raw frames).
        num_classes: when given, labels must be below it.
        multi_label: lines may list several labels (``path label [label ...]``, ``dir total_frames label
            [label ...]``); records then hold label tuples. Raw-frame lines are told apart by their path being a
            folder (or ``raw_frames=True``).

    Returns:
        The records, in file order.

    Raises:
        FileNotFoundError: the list does not exist.
        ValueError: a malformed line, reported as ``file:line: what was expected``.
    """
    ann_file = Path(ann_file)
    if not ann_file.is_file():
        raise FileNotFoundError(f"annotation file not found: {ann_file}")
    prefix = Path(data_prefix) if data_prefix is not None else ann_file.parent
    records: list[VideoRecord] = []
    with _text_lines(ann_file) as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{ann_file}:{lineno}"
            fields = line.split()
            if multi_label:
                records.append(_multi_label_record(fields, prefix, raw_frames, num_classes, where, line))
                continue
            if raw_frames is None:
                raw_frames = len(fields) == 3 and not (prefix / fields[0]).is_file()
            expected = 3 if raw_frames else 2
            if len(fields) != expected:
                form = "'dir total_frames label'" if raw_frames else "'path label'"
                several = len(fields) > expected and all(v.isdigit() for v in fields[1:])
                hint = (
                    "; it lists several labels: pass --multi-label (multi_label=True) for multi-label data"
                    if several
                    else " (paths with spaces are not supported)"
                )
                raise ValueError(
                    f"{where}: expected {expected} fields {form} separated by whitespace, got {len(fields)} "
                    f"in line {line!r}{hint}"
                )
            label = _parse_int(fields[-1], "label", where, line)
            if num_classes is not None and label >= num_classes:
                raise ValueError(f"{where}: label {label} is out of range for {num_classes} classes")
            total = None
            if raw_frames:
                total = _parse_int(fields[1], "total_frames", where, line)
                if total == 0:
                    raise ValueError(f"{where}: total_frames must be >= 1, got 0 in line {line!r}")
            records.append(VideoRecord(str(prefix / fields[0]), label, total))
    if not records:
        raise ValueError(f"{ann_file}: no videos listed (expected lines 'path label' or 'dir total_frames label')")
    return records


def _multi_label_record(
    fields: list[str], prefix: Path, raw_frames: bool | None, num_classes: int | None, where: str, line: str
) -> VideoRecord:
    path = prefix / fields[0]
    frames = raw_frames if raw_frames is not None else path.is_dir()
    first = 2 if frames else 1
    if len(fields) <= first:
        form = "'dir total_frames label [label ...]'" if frames else "'path label [label ...]'"
        raise ValueError(f"{where}: expected {form}, got {len(fields)} fields in line {line!r}")
    labels = tuple(_parse_int(v, "label", where, line) for v in fields[first:])
    for label in labels:
        if num_classes is not None and label >= num_classes:
            raise ValueError(f"{where}: label {label} is out of range for {num_classes} classes")
    total = None
    if frames:
        total = _parse_int(fields[1], "total_frames", where, line)
        if total == 0:
            raise ValueError(f"{where}: total_frames must be >= 1, got 0 in line {line!r}")
    return VideoRecord(str(path), tuple(sorted(set(labels))), total)


def scan_class_folders(
    root: str | os.PathLike[str],
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
    class_names: Sequence[str] | None = None,
) -> tuple[list[VideoRecord], list[str]]:
    """Index a folder-per-class tree ``root/<class>/<video file>``.

    Args:
        root: the tree.
        extensions: video file suffixes to take (case-insensitive); other files are ignored.
        class_names: fix the class order (e.g. the training set's for a validation tree); ``None`` = the
            sorted names of the sub-folders of ``root``.

    Returns:
        ``(records, class_names)``; records sorted by class, then file name.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = list(class_names) if class_names is not None else found
    if not names:
        raise ValueError(f"{root}: no class folders; expected {root}/<class name>/<video files>")
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise ValueError(f"{root}: class folders {unknown} are not among the {len(names)} given class names")
    exts = tuple(e.lower() for e in extensions)
    records: list[VideoRecord] = []
    for index, name in enumerate(names):
        folder = root / name
        if not folder.is_dir():
            continue
        files = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts and not p.name.startswith(".")
        )
        if not files:
            _logger.warning("%s: no videos with extensions %s", folder, ", ".join(exts))
        records += [VideoRecord(str(p), index) for p in files]
    if not records:
        raise ValueError(f"{root}: no video files with extensions {', '.join(exts)} in its class folders")
    return records, names


class VideoDataset(Dataset):
    """Videos sampled and preprocessed with a zoo protocol (MMAction2 ``VideoDataset`` / ``RawframeDataset``).

    Args:
        records: the videos (:func:`read_annotation_file`, :func:`scan_class_folders`).
        protocol: frame sampling, resize/crop sizes, normalisation and raw-frame naming: a
            :class:`~tsm_models.ZooEntry` or :class:`~tsm_models.zoo.ClipProtocol`. For a different input size
            pass ``dataclasses.replace(entry.protocol, resize_short=..., crop_size=...)``.
        train: random sampling and augmentation (one clip ``(T, 3, S, S)``) instead of the test views.
        transform: override the preprocessing (a :class:`~tsm_models.transforms.VideoTransform`); ``None`` =
            :func:`~tsm_models.create_transform` of ``protocol`` (training: multi-scale crop and, with ``flip``,
            horizontal flips).
        flip: training flips; ``None`` = the zoo recipe's choice when ``protocol`` is a ZooEntry, else no flips.
        seed: base seed of the per-item randomness.
        class_names: names of the label indices (kept for reports).
        num_classes: ``K``; default ``len(class_names)``, else ``max label + 1``.
        multi_label: records hold label tuples; items carry multi-hot float ``(K,)`` targets (needs ``K``).

    Raw-frame folders are read with ``protocol.filename_tmpl`` and ``protocol.start_index`` when
    ``protocol.input_format == "rawframes"`` (else the reader tries the common layouts); a record's
    ``total_frames`` from the annotation list takes precedence over the files counted, as in MMAction2.
        With ``skip_errors=True`` (evaluation), items are ``(video, label, error)``: a video that cannot be read
    or preprocessed gives a zero input, the label ``-1`` (multi-label: a row of ``-1``) and its error message,
    so one bad file never aborts a run; :func:`tsm_models.train.evaluate` drops such rows and lists them.
    """

    ann_file: Path | None = None  # the annotation list the records come from (from_annotation_file)
    _data_prefix: str | os.PathLike[str] | None = None

    def __init__(
        self,
        records: Sequence[VideoRecord],
        protocol: ZooEntry | ClipProtocol,
        train: bool = False,
        transform: VideoTransform | None = None,
        flip: bool | None = None,
        seed: int = 0,
        class_names: Sequence[str] | None = None,
        num_classes: int | None = None,
        multi_label: bool = False,
        skip_errors: bool = False,
    ) -> None:
        if not records:
            raise ValueError("VideoDataset needs at least one video record")
        if multi_label and num_classes is None and class_names is None:
            raise ValueError("a multi-label VideoDataset needs num_classes (or class_names)")
        self.records = list(records)
        self.protocol = protocol.protocol if isinstance(protocol, ZooEntry) else protocol
        if not isinstance(self.protocol, ClipProtocol):
            raise ValueError(f"protocol must be a ZooEntry or ClipProtocol, got {type(protocol).__name__}")
        self.train = train
        if transform is None:
            transform = create_transform(protocol, train=train, flip=flip if train else None)
        self.transform = transform
        self.seed = int(seed)
        self.epoch = 0
        self.class_names = list(class_names) if class_names is not None else None
        self.multi_label = bool(multi_label)
        self.skip_errors = bool(skip_errors)
        self._num_classes = int(num_classes) if num_classes is not None else None
        if not self.multi_label and any(isinstance(r.label, tuple) for r in self.records):
            raise ValueError("records hold several labels per video: pass multi_label=True")

    @classmethod
    def from_annotation_file(
        cls,
        ann_file: str | os.PathLike[str],
        protocol: ZooEntry | ClipProtocol,
        data_prefix: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> VideoDataset:
        """Dataset of an MMAction2 list (raw frames when the lines have 3 fields); ``kwargs`` as the class."""
        p = protocol.protocol if isinstance(protocol, ZooEntry) else protocol
        num_classes = protocol.num_classes if isinstance(protocol, ZooEntry) else None
        records = read_annotation_file(ann_file, data_prefix, num_classes=num_classes)
        if records[0].total_frames is not None and p.input_format != "rawframes":
            _logger.info("%s lists raw-frame folders; reading them as frame folders", ann_file)
        dataset = cls(records, protocol, **kwargs)
        dataset.ann_file, dataset._data_prefix = Path(ann_file), data_prefix
        return dataset

    def check_labels(self, num_classes: int) -> None:
        """Raise ``ValueError`` for a label ``>= num_classes``, naming the annotation file and line when known
        (the training loop calls this: a label beyond the classifier otherwise fails inside the loss)."""
        bad = next((r for r in self.records if isinstance(r.label, int) and r.label >= num_classes), None)
        if bad is None:
            return
        if self.ann_file is not None:
            read_annotation_file(self.ann_file, self._data_prefix, num_classes=num_classes)  # raises file:line
        raise ValueError(f"{bad.path}: label {bad.label} is out of range for a model with {num_classes} classes")

    @classmethod
    def from_folder(
        cls,
        root: str | os.PathLike[str],
        protocol: ZooEntry | ClipProtocol,
        class_names: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> VideoDataset:
        """Dataset of a ``root/<class>/<video>`` tree; ``class_names`` fixes the class order."""
        records, names = scan_class_folders(root, class_names=class_names)
        return cls(records, protocol, class_names=names, **kwargs)

    @property
    def num_classes(self) -> int:
        """``num_classes`` given, else the number of class names, else ``max label + 1``."""
        if self._num_classes is not None:
            return self._num_classes
        if self.class_names is not None:
            return len(self.class_names)
        return max(max(_as_tuple(r.label)) for r in self.records) + 1

    @property
    def labels(self) -> list[int] | list[tuple[int, ...]]:
        return [r.label for r in self.records]

    def set_epoch(self, epoch: int) -> None:
        """Select the random draws of ``epoch`` (call before iterating a training loader each epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def _open(self, record: VideoRecord) -> Any:
        p = self.protocol
        if os.path.isdir(record.path) and p.input_format == "rawframes":
            return open_video(record.path, p.filename_tmpl, p.start_index)
        return open_video(record.path)

    def _target(self, label: int | tuple[int, ...]) -> int | torch.Tensor:
        if not self.multi_label:
            return int(label)  # type: ignore[arg-type]
        target = torch.zeros(self.num_classes, dtype=torch.float32)
        target[list(_as_tuple(label))] = 1.0
        return target

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        if not self.skip_errors:
            return self._item(index)
        try:
            return (*self._item(index), "")
        except Exception as exc:  # one video's failure, whatever it is, is that video's error
            message = str(exc) if self.records[index].path in str(exc) else f"{self.records[index].path}: {exc}"
            return self._placeholder(), self._failed_target(), message or type(exc).__name__

    def _placeholder(self) -> torch.Tensor:
        """A zero input standing in for a video that could not be read (its row is dropped from the metrics)."""
        p = self.protocol
        if self.train:
            return torch.zeros(p.num_frames, 3, p.crop_size, p.crop_size)
        return torch.zeros(p.num_views, p.num_frames, 3, p.crop_size, p.crop_size)

    def _failed_target(self) -> int | torch.Tensor:
        return torch.full((self.num_classes,), -1.0) if self.multi_label else -1

    def _item(self, index: int) -> tuple[torch.Tensor, int | torch.Tensor]:
        record = self.records[index]
        seed_seq = np.random.SeedSequence([self.seed, self.epoch, index])
        np_rng = np.random.default_rng(seed_seq)
        with self._open(record) as reader:
            total = record.total_frames or reader.total_frames
            if total < 1:
                raise ValueError(f"{record.path}: no frames to sample")
            indices = sample_indices(self.protocol, total, train=self.train, rng=np_rng)
            if reader.total_frames and int(indices.max()) >= reader.total_frames:
                raise ValueError(
                    f"{record.path}: the annotation says {total} frames but only {reader.total_frames} could be read"
                )
            frames = reader.read(indices)
        transform = self.transform
        if self.train:
            transform = dataclasses.replace(transform, rng=np.random.default_rng(seed_seq.spawn(1)[0]))
        x, label = transform.with_label(frames, record.label)
        if self.train:
            return x[0], self._target(label)
        t = self.protocol.num_frames
        # (crops, clips * T, 3, S, S) -> (crops * clips, T, 3, S, S), crop-major as in MMAction2
        return x.reshape(x.shape[0] * (x.shape[1] // t), t, *x.shape[2:]), self._target(label)


def _as_tuple(label: int | tuple[int, ...]) -> tuple[int, ...]:
    return label if isinstance(label, tuple) else (int(label),)


def create_loader(
    dataset: Dataset,
    batch_size: int,
    train: bool,
    num_workers: int = 0,
    seed: int = 0,
    drop_last: bool | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader for this process: shuffled :func:`~tsm_models.data.sampler.train_sampler` for training,
    an unpadded :class:`~tsm_models.data.sampler.ShardSampler` for evaluation.

    ``batch_size`` is per process. Training drops the last incomplete batch by default (MMAction2 keeps it:
    pass ``drop_last=False`` for that). Call ``loader.sampler.set_epoch(epoch)`` (training) and
    ``dataset.set_epoch(epoch)`` each epoch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers!r}")
    if train:
        sampler: Any = train_sampler(dataset, seed=seed, shuffle=True)
        drop_last = True if drop_last is None else drop_last
    else:
        sampler = ShardSampler(len(dataset))  # type: ignore[arg-type]
        drop_last = False
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=bool(drop_last),
        pin_memory=pin_memory,
        persistent_workers=False,
    )
