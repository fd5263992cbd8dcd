"""Model -> files: the Hugging Face Hub distribution format (``save_pretrained``, ``push_to_hub``).

A saved folder holds ``model.safetensors``, a timm-style ``config.json`` and a ``README.md`` model card.
``config.json`` has timm's keys (``architecture`` = the entrypoint, ``num_classes``, ``num_features``,
``model_args``, ``pretrained_cfg`` with the checkpoint ``tag``), so ``timm.create_model("hf-hub:org/name",
pretrained=True)`` can rebuild the model, plus ``label_names`` and a ``tsm_models`` block with the zoo record.
Files -> model is :func:`tsm_models.from_pretrained` (the factory's job, as in timm). Functions here take the
model as an argument and import nothing above this module's layer.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from torch import nn

from .._io import atomic_write
from ..labels import DATASETS, load_labels
from ..version import __version__
from ._download import CONFIG_NAME, WEIGHTS_NAME, save_safetensors_atomic
from ._model_card import model_card

__all__ = ["SAVE_ID_KEY", "model_config", "push_to_hub", "save_pretrained"]

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
    if names is None and entry is not None and entry.label_set in DATASETS and model.num_classes == entry.num_classes:
        names = load_labels(entry.label_set)
    if names is not None:
        config["label_names"] = list(names)
    if getattr(model, "multi_label", False):
        config["multi_label"] = True  # independent sigmoid probabilities (trained with BCE)
    protocol = getattr(model, "clip_protocol", None)
    if protocol is not None:  # the test protocol of a trained model (frames, resize, crop, views)
        config["tsm_models"]["protocol"] = dataclasses.asdict(protocol)
    return config


SAVE_ID_KEY = "tsm_models_save_id"  # in model.safetensors metadata and config.json["tsm_models"]["save_id"]
_SAVED_FILES = frozenset({WEIGHTS_NAME, CONFIG_NAME, "README.md"})


def save_pretrained(
    model: nn.Module, save_directory: str | os.PathLike[str], *, card: bool = True, overwrite: bool = False
) -> Path:
    """Write ``model.safetensors``, ``config.json`` and (``card=True``) ``README.md`` into ``save_directory``.

    The folder is written as a whole: the files go into a temporary folder beside it, which then takes its
    place, so an interrupted save leaves the previous folder as it was. The weights and the config carry the
    same save id, and loading refuses a folder whose two files come from different saves.

    Args:
        overwrite: replace a folder holding other files than a previous save (a hand-written ``README.md``,
            the ``config.json`` of something else); without it such a folder is refused.

    Raises:
        FileExistsError: the folder holds other files and ``overwrite`` is false (nothing is written).

    Returns the folder.
    """
    out = Path(save_directory).expanduser()
    config = model_config(model)
    foreign = _foreign_files(out)
    if foreign and not overwrite:
        raise FileExistsError(
            f"{out} holds files that are not a tsm_models save ({', '.join(foreign[:5])}"
            f"{', ...' if len(foreign) > 5 else ''}); nothing was written. Save to another folder, or pass "
            "overwrite=True (CLI: --overwrite) to replace them"
        )
    save_id = uuid.uuid4().hex
    config["tsm_models"]["save_id"] = save_id
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    try:
        meta = {"format": "pt", "tsm_models": __version__, SAVE_ID_KEY: save_id}
        save_safetensors_atomic(model.state_dict(), tmp / WEIGHTS_NAME, meta)
        with atomic_write(tmp / CONFIG_NAME, "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        if card:
            with atomic_write(tmp / "README.md", "w") as f:
                f.write(model_card(model, config))
        _move_into_place(tmp, out, keep_others=bool(foreign))
    except OSError as exc:
        if exc.filename is None:  # e.g. ENOSPC from a write: say where
            exc.filename = str(out)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _logger.info("saved %s to %s", config["architecture"], out)
    return out


def _foreign_files(folder: Path) -> list[str]:
    """Names in ``folder`` that a save would lose and that are not a previous tsm_models save."""
    if not folder.exists():
        return []
    if not folder.is_dir():
        return [folder.name]
    names = sorted(p.name for p in folder.iterdir())
    ours = False
    with contextlib.suppress(OSError, ValueError, TypeError):  # unreadable or not JSON: not ours
        ours = "tsm_models" in json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    return [n for n in names if not (ours and n in _SAVED_FILES)]


def _move_into_place(tmp: Path, out: Path, keep_others: bool) -> None:
    """Make the finished folder ``tmp`` appear at ``out`` in one step where the system allows it."""
    if not out.exists():
        os.replace(tmp, out)
        return
    if keep_others:  # overwrite=True into a folder with other files: replace our files only, weights last
        for name in (CONFIG_NAME, "README.md", WEIGHTS_NAME):
            if (tmp / name).exists():
                os.replace(tmp / name, out / name)
        return
    if not _exchange(tmp, out):  # no atomic exchange here: move the old folder aside for a moment
        old = tmp.with_name(tmp.name + ".old")
        os.replace(out, old)
        os.replace(tmp, out)
        tmp = old
    shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous save


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` where unsupported."""
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


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
