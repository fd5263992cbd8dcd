"""Model -> files: the Hugging Face Hub distribution format (``save_pretrained``, ``push_to_hub``).

A saved folder holds ``model.safetensors``, a timm-style ``config.json`` and a ``README.md`` model card.
``config.json`` has timm's keys (``architecture`` = the entrypoint, ``num_classes``, ``num_features``,
``model_args``, ``pretrained_cfg`` with the checkpoint ``tag``), so ``timm.create_model("hf-hub:org/name",
pretrained=True)`` can rebuild the model, plus ``label_names`` and a ``tsm_models`` block with the zoo record.
Files -> model is :func:`tsm_models.from_pretrained` (the factory's job, as in timm). Functions here take the
model as an argument and import nothing above this module's layer.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from .._io import atomic_write
from ..labels import DATASETS, load_labels
from ..version import __version__
from ._download import CONFIG_NAME, WEIGHTS_NAME, save_safetensors_atomic
from ._model_card import model_card

__all__ = ["model_config", "push_to_hub", "save_pretrained"]

_logger = logging.getLogger(__name__)
_PRETRAINED_CFG_KEYS = (
    "tag",
    "input_size",
    "interpolation",
    "crop_pct",
    "crop_mode",
    "mean",
    "std",
    "first_conv",
    "classifier",
)


def _architecture(model: nn.Module) -> str:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    arch = cfg.get("architecture") if isinstance(cfg, dict) else None
    if not arch or not hasattr(model, "tsm_config"):
        raise ValueError(
            "save_pretrained needs a model built by tsm_models.create_model (its architecture name is recorded so "
            "from_pretrained can rebuild it); this model has no registered architecture"
        )
    return str(arch)


def model_config(model: nn.Module) -> dict[str, Any]:
    """The ``config.json`` dict for ``model`` (timm schema: ``timm.create_model('hf-hub:...')`` can read it)."""
    entry = getattr(model, "zoo_entry", None)
    cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    pretrained_cfg = {k: cfg[k] for k in _PRETRAINED_CFG_KEYS if cfg.get(k) not in (None, "")}
    pretrained_cfg["license"] = entry.license if entry is not None else cfg.get("license", "apache-2.0")
    model_args = {"num_classes": model.num_classes, **model.tsm_config.to_dict()}
    config: dict[str, Any] = {
        "architecture": _architecture(model),
        "num_classes": model.num_classes,
        "num_features": model.num_features,
        "global_pool": "avg",
        "model_args": model_args,
        "pretrained_cfg": pretrained_cfg,
        "tsm_models": {"version": __version__, "zoo_entry": entry.to_dict() if entry is not None else None},
    }
    names = getattr(model, "label_names", None)
    if names is None and entry is not None and entry.dataset in DATASETS and model.num_classes == entry.num_classes:
        names = load_labels(entry.dataset)
    if names is not None:
        config["label_names"] = list(names)
    if getattr(model, "multi_label", False):
        config["multi_label"] = True  # independent sigmoid probabilities (trained with BCE)
    protocol = getattr(model, "clip_protocol", None)
    if protocol is not None:  # the test protocol of a trained model (frames, resize, crop, views)
        config["tsm_models"]["protocol"] = dataclasses.asdict(protocol)
    return config


def save_pretrained(model: nn.Module, save_directory: str | os.PathLike[str], *, card: bool = True) -> Path:
    """Write ``model.safetensors``, ``config.json`` and (``card=True``) ``README.md`` into ``save_directory``.

    Each file is written atomically. Returns the folder.
    """
    out = Path(save_directory).expanduser()
    config = model_config(model)
    save_safetensors_atomic(model.state_dict(), out / WEIGHTS_NAME, {"format": "pt", "tsm_models": __version__})
    with atomic_write(out / CONFIG_NAME, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    if card:
        with atomic_write(out / "README.md", "w") as f:
            f.write(model_card(model, config))
    _logger.info("saved %s to %s", config["architecture"], out)
    return out


def push_to_hub(
    model: nn.Module,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    revision: str | None = None,
    commit_message: str = "Upload tsm_models weights",
) -> str:
    """Save ``model`` (weights, config, card) and upload it to the Hub repo ``repo_id`` in one commit.

    Returns:
        The URL of the commit.
    """
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp)
        info = api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message, revision=revision)
    return str(getattr(info, "commit_url", info))
