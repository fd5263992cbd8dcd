"""One evaluation run from a typed config: what ``tsm-models evaluate`` executes (alone or under ``torchrun``)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..data.dataset import VideoDataset, create_loader, read_annotation_file, scan_class_folders
from ..labels import DATASETS, load_labels, read_labels
from ..models import create_model
from ..models.zoo import ZooEntry
from .config import TrainConfig
from .distributed import DistInfo, destroy_distributed, init_distributed, unwrap_model
from .loop import EvalResult, evaluate
from .recipes import _entry_dataset, lookup_entry
from .runtime import prepare_model
from .setup import _protocol, _single_view

_logger = logging.getLogger(__name__)


@dataclass
class EvalConfig:
    """An evaluation run (``tsm-models evaluate``): a list or folder, a model and its weights, the views."""

    data: Path
    model: str
    pretrained: bool | str = True  # True: the zoo weights; a path: a checkpoint file or saved folder
    data_prefix: Path | None = None
    labels: str | None = None
    views: str = "protocol"  # "protocol" | "single"
    average: str | None = None  # None: the protocol's
    batch_size: int = 4
    workers: int = 4
    amp: str | None = None
    device: str | None = None
    limit: int | None = None
    short_side: int | None = None
    crop_size: int | None = None
    out: Path | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        self.data = Path(self.data)
        if self.views not in ("protocol", "single"):
            raise ValueError(f"views must be 'protocol' or 'single', got {self.views!r}")
        if self.batch_size < 1 or self.workers < 0:
            raise ValueError(f"batch_size must be >= 1 and workers >= 0, got {self.batch_size}, {self.workers}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")


@dataclass
class EvalReport:
    """What :func:`run_evaluation` measured, the model's class names and the entry's published figures."""

    result: EvalResult
    class_names: list[str]
    multi_label: bool
    num_videos: int
    published: dict[str, float | None]
    comparable: bool

    def table(self, title: str) -> str:
        """The measured figures beside the published ones, as text lines."""
        m = self.result.metrics
        rows = [title, f"{'metric':<22}{'measured':>10}{'published':>12}{'original TSM':>15}"]

        def fmt(v: float | None) -> str:
            return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"

        if self.multi_label:
            rows.append(f"{'mAP':<22}{100 * m['mAP']:>10.2f}{'-':>12}{'-':>15}")
            rows.append(f"{'subset accuracy':<22}{100 * m['subset_accuracy']:>10.2f}{'-':>12}{'-':>15}")
        else:
            p = self.published
            for key, label in (("top1", "top-1 accuracy"), ("top5", "top-5 accuracy")):
                if key in m:
                    rows.append(
                        f"{label:<22}{100 * m[key]:>10.2f}{fmt(p.get(key)):>12}{fmt(p.get('reference_' + key)):>15}"
                    )
            rows.append(f"{'mean class accuracy':<22}{100 * m['mean_class_accuracy']:>10.2f}{'-':>12}{'-':>15}")
        return "\n".join(rows)


def model_class_names(model: nn.Module, entry: ZooEntry | None) -> list[str] | None:
    """Class names a model carries (a trained folder's ``label_names``), else its zoo entry's, else ``None``."""
    k = int(unwrap_model(model).num_classes)
    names = getattr(unwrap_model(model), "label_names", None)
    if names and len(names) == k:
        return list(names)
    dataset = _entry_dataset(entry)
    if entry is not None and k == entry.num_classes and dataset in DATASETS:
        names = load_labels(dataset)
        return names + [f"unused_{i}" for i in range(len(names), k)]
    return None


def is_multi_label(model: nn.Module) -> bool:
    """Whether a model was trained multi-label (``model.multi_label``, from its saved ``config.json``)."""
    return bool(getattr(unwrap_model(model), "multi_label", False))


def run_evaluation(cfg: EvalConfig) -> EvalReport:
    """Evaluate ``cfg.model`` on a list or folder with the entry's protocol (or one view); rank 0 saves the report."""
    info = init_distributed(cfg.device)
    try:
        return _run_evaluation(cfg, info)
    finally:
        destroy_distributed()


def _run_evaluation(cfg: EvalConfig, info: DistInfo) -> EvalReport:
    entry = lookup_entry(cfg.model)
    if cfg.pretrained is True and entry is None:
        raise ValueError(f"{cfg.model!r} is an architecture without zoo weights: pass --pretrained PATH")
    model = create_model(cfg.model, pretrained=cfg.pretrained)
    multi_label = is_multi_label(model)
    names = model_class_names(model, entry)
    if cfg.labels is not None:
        names = read_labels(cfg.labels)
    k = int(model.num_classes)
    if names is not None and len(names) != k:
        raise ValueError(f"{len(names)} class names for a model with {k} outputs")
    num_segments = int(getattr(model, "num_segments", None) or model.tsm_config.num_segments)
    saved = getattr(model, "clip_protocol", None)  # a folder trained here knows how it was validated
    protocol = _protocol(TrainConfig(cfg.data, cfg.model, Path("."), short_side=cfg.short_side,
                                     crop_size=cfg.crop_size), entry, num_segments, saved)  # fmt: skip
    if cfg.views == "single":
        protocol = _single_view(protocol)
    if cfg.data.is_file():
        records = read_annotation_file(cfg.data, cfg.data_prefix, num_classes=k, multi_label=multi_label)
    elif cfg.data.is_dir():
        if multi_label:
            raise ValueError(f"{cfg.data}: a multi-label model is evaluated on an annotation list, not a folder tree")
        found = sorted(p.name for p in cfg.data.iterdir() if p.is_dir() and not p.name.startswith("."))
        if names is not None and set(found) <= set(names):
            records, _ = scan_class_folders(cfg.data, class_names=names)
        elif names is not None and not all(n.isdigit() for n in names):
            unknown = sorted(set(found) - set(names))
            raise ValueError(f"{cfg.data}: class folders {unknown[:5]} are not among the model's {k} class names")
        else:
            records, folder_names = scan_class_folders(cfg.data)
            if len(folder_names) > k:
                raise ValueError(f"{cfg.data}: {len(folder_names)} class folders for a model with {k} outputs")
            names = folder_names + [str(i) for i in range(len(folder_names), k)]
    else:
        raise FileNotFoundError(f"{cfg.data}: no such annotation list or dataset folder")
    if cfg.limit:
        records = records[: cfg.limit]
    names = names if names is not None else [str(i) for i in range(k)]
    dataset = VideoDataset(
        records, protocol, class_names=names, num_classes=k, multi_label=multi_label, skip_errors=True
    )
    loader = create_loader(dataset, cfg.batch_size, train=False, num_workers=cfg.workers)
    model = prepare_model(model, info.device)
    average = cfg.average or protocol.average_clips
    _logger.info(
        "%s: %d videos, %d frames x %d view(s), %s averaging, %d px crops, %d process(es)",
        cfg.model,
        len(dataset),
        protocol.num_frames,
        protocol.num_clips * protocol.num_crops,
        average,
        protocol.crop_size,
        info.world_size,
    )
    result = evaluate(
        model,
        loader,
        device=info.device,
        amp=cfg.amp,
        average=average,
        topk=(1, min(5, k)),
        multi_label=multi_label,
        progress=cfg.progress,
    )
    if cfg.out is not None:
        result.save(cfg.out, class_names=names)
    metrics = getattr(entry, "metrics", None) if entry is not None else None
    published = {key: getattr(metrics, key, None) for key in ("top1", "top5", "reference_top1", "reference_top5")}
    trained_here = not isinstance(cfg.pretrained, bool)
    comparable = (
        entry is not None
        and not trained_here
        and cfg.views == "protocol"
        and not (cfg.limit or cfg.short_side or cfg.crop_size or cfg.average)
    )
    return EvalReport(result, names, multi_label, len(dataset), published, comparable)
