"""tsm_models: TSM (Temporal Shift Module) video models on timm networks, with every public TSM checkpoint.

>>> import tsm_models
>>> model = tsm_models.create_model("tsm_r50_1x1x8_kinetics400", pretrained=True)
>>> tsm_models.predict(model, "video.mp4", topk=5)  # [(label, probability), ...]
>>> logits = model(video)  # video: (B, T, 3, H, W) float, normalised RGB -> (B, num_classes)

Importing the package registers every architecture and ``arch.tag`` checkpoint with ``timm.create_model``.
The top level holds the names most users need; the rest lives in the subpackages:
:mod:`tsm_models.models` (the core), :mod:`tsm_models.data` (decoding, sampling, transforms, datasets),
:mod:`tsm_models.train` (loops, recipe, metrics, distributed), :mod:`tsm_models.tools` (benchmark, export).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from .data.transforms import create_transform
from .data.video import open_video
from .inference import VideoClassifier, predict
from .labels import load_labels
from .models import (
    TSM,
    ZOO,
    StreamingTSM,
    TemporalShift,
    TSMConfig,
    ZooEntry,
    convert_mmaction2_state_dict,
    convert_state_dict,
    convert_tsm_state_dict,
    create_model,
    from_pretrained,
    get_zoo_entry,
    is_model,
    list_models,
    push_to_hub,
    read_checkpoint,
    save_pretrained,
    temporal_shift,
)
from .version import __version__

__all__ = [
    "TSM",
    "ZOO",
    "StreamingTSM",
    "TSMConfig",
    "TemporalShift",
    "VideoClassifier",
    "ZooEntry",
    "__version__",
    "convert_mmaction2_state_dict",
    "convert_state_dict",
    "convert_tsm_state_dict",
    "create_model",
    "create_transform",
    "from_pretrained",
    "get_zoo_entry",
    "is_model",
    "list_models",
    "load_labels",
    "open_video",
    "predict",
    "push_to_hub",
    "read_checkpoint",
    "save_pretrained",
    "temporal_shift",
]

# Names the top level exported before the package was split into layers: they keep working for one release,
# with a DeprecationWarning naming their home. ``{old name: (module, name there)}``.
_DEPRECATED: dict[str, tuple[str, str]] = {
    "get_pretrained_cfg": ("tsm_models.models", "get_zoo_entry"),
    "get_cache_dir": ("tsm_models.models", "get_cache_dir"),
    "adapt_2d_state_dict": ("tsm_models.models", "adapt_2d_state_dict"),
    "insert_temporal_shift": ("tsm_models.models", "insert_temporal_shift"),
    "remove_temporal_shift": ("tsm_models.models", "remove_temporal_shift"),
    "shifted_modules": ("tsm_models.models", "shifted_modules"),
    "temporal_shift_inplace": ("tsm_models.models.shift", "temporal_shift_inplace"),
    "StreamingShift": ("tsm_models.models.streaming", "StreamingShift"),
    "StreamStep": ("tsm_models.models.streaming", "StreamStep"),
    "load_pretrained": ("tsm_models.models._pretrained", "load_pretrained"),
    "read_labels": ("tsm_models.labels", "read_labels"),
    "FrameReader": ("tsm_models.data", "FrameReader"),
    "VideoTransform": ("tsm_models.data", "VideoTransform"),
    "flip_label_map": ("tsm_models.data", "flip_label_map"),
    "dense_indices": ("tsm_models.data", "dense_indices"),
    "sample_frames": ("tsm_models.data", "sample_frames"),
    "sample_indices": ("tsm_models.data", "sample_indices"),
    "segment_indices": ("tsm_models.data", "segment_indices"),
    "VideoDataset": ("tsm_models.data", "VideoDataset"),
    "VideoRecord": ("tsm_models.data", "VideoRecord"),
    "create_loader": ("tsm_models.data", "create_loader"),
    "read_annotation_file": ("tsm_models.data", "read_annotation_file"),
    "scan_class_folders": ("tsm_models.data", "scan_class_folders"),
    "Prediction": ("tsm_models.inference", "Prediction"),
    "average_clips": ("tsm_models.inference", "average_clips"),
    "train_one_epoch": ("tsm_models.train", "train_one_epoch"),
    "evaluate": ("tsm_models.train", "evaluate"),
    "save_checkpoint": ("tsm_models.train", "save_train_state"),
    "load_checkpoint": ("tsm_models.train", "resume_train_state"),
    "create_optimizer": ("tsm_models.train", "create_optimizer"),
    "create_scheduler": ("tsm_models.train", "create_scheduler"),
    "param_groups": ("tsm_models.train", "param_groups"),
    "confusion_matrix": ("tsm_models.train", "confusion_matrix"),
    "mean_class_accuracy": ("tsm_models.train", "mean_class_accuracy"),
    "top_k_accuracy": ("tsm_models.train", "top_k_accuracy"),
}


def __getattr__(name: str) -> Any:
    """Forward the old top-level names to their new homes, with a ``DeprecationWarning`` (PEP 562)."""
    if name in _DEPRECATED:
        module, new = _DEPRECATED[name]
        warnings.warn(
            f"tsm_models.{name} is deprecated and will be removed in the next release; use {module}.{new}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), new)
    raise AttributeError(f"module 'tsm_models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_DEPRECATED])
