"""Read checkpoint files safely and tell their format apart.

Formats (:func:`read_checkpoint`):

* MMAction2 ``.pth``: ``{"meta": {...}, "state_dict": {"backbone.*", "cls_head.*"}}``;
* original TSM ``.pth``: ``{"epoch", "arch", "state_dict": {"module.base_model.*", "module.new_fc.*"}, ...}``;
* the original online demo's ``mobilenetv2_jester_online.pth.tar``: a bare state dict (``features.*``,
  ``classifier.*``); the name's ``.tar`` is only a suffix, the file is a torch pickle;
* ``.safetensors`` (a converted file, our keys, or any of the layouts above);
* a directory saved by :func:`tsm_models.save_pretrained` (``config.json`` + ``model.safetensors``).

Pickled files, zip (torch >= 1.6) or legacy non-zip (the 2019 originals and the online demo), are read with
``torch.load(weights_only=True)`` and a short explicit allow-list of the plain
types MMAction2/mmengine and timm put into ``meta``; nothing ever falls back to unrestricted unpickling.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._download import CONFIG_NAME, WEIGHTS_NAME
from .convert import detect_layout

__all__ = ["Checkpoint", "read_checkpoint", "read_config", "torch_load_safe"]

_logger = logging.getLogger(__name__)
# Keys under which training code nests the weights, in the order they are tried (timm's order).
_STATE_DICT_KEYS = ("state_dict", "model", "module")
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class Checkpoint:
    """A checkpoint read from disk.

    Attributes:
        state_dict: the weights, keys as stored in the file.
        layout: key layout (``"mmaction2"``, ``"tsm"`` or ``"tsm_models"``).
        path: the file or directory read.
        meta: MMAction2 ``meta`` dict (may hold ``config``, the training config text), else empty.
        config: ``config.json`` of a saved directory, else empty.
    """

    state_dict: dict[str, torch.Tensor]
    layout: str
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def config_text(self) -> str | None:
        """The MMAction2 training config text from ``meta`` (``config``, or mmengine's ``cfg``), if any."""
        for key in ("config", "cfg"):
            value = self.meta.get(key)
            if isinstance(value, str) and value.strip():
                return value
        return None


def _safe_globals() -> list[Any]:
    allowed: list[Any] = [argparse.Namespace]  # timm training scripts store their args
    # numpy scalars/dtypes appear in mmengine meta (e.g. seeds, dataset_meta)
    allowed += [np.dtype, np.ndarray, *(type(np.dtype(code)) for code in "?bhilqBHILQefdFDU")]
    multiarray = getattr(np, "_core", None) or np.core
    allowed += [multiarray.multiarray.scalar, multiarray.multiarray._reconstruct]
    return allowed


def torch_load_safe(path: str | os.PathLike[str], map_location: Any = "cpu") -> Any:
    """``torch.load(path, map_location=map_location, weights_only=True)`` with a small explicit allow-list.

    Raises:
        ValueError: the file is not a PyTorch checkpoint, or its pickle refers to a global outside the
            allow-list (that global is named; it is never imported or called).
    """
    with open(path, "rb") as f:
        head = f.read(4)
    if not (head.startswith(_ZIP_MAGIC) or head.startswith(b"\x80")):
        raise ValueError(f"{path} is not a PyTorch checkpoint (expected a torch.save zip or pickle; starts {head!r})")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        # torch words a refused global several ways ("Unsupported global: GLOBAL x.y", "unsupported GLOBAL
        # x.y whose module x is blocked", "expected ... but got <class 'x.y'>"); its advice to set
        # weights_only=False is never relayed.
        found = re.search(r"GLOBAL ([\w.]+)|but got <class '([\w.]+)'>", text, flags=re.IGNORECASE)
        if found:
            raise ValueError(
                f"{path} was refused by safe loading (torch.load weights_only=True): its pickle calls "
                f"{found.group(1) or found.group(2)}, which is not on the allow-list; nothing in it was run. "
                "tsm_models never unpickles arbitrary code; if you trust the file, re-save its state dict "
                "(tensors only) and load that."
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        lines = [line for line in text.splitlines() if line.strip() and "weights_only" not in line]
        reason = detail.group(1).strip() if detail else (lines[0] if lines else "refused by safe loading")
        raise ValueError(f"{path} is not a valid PyTorch checkpoint ({reason})") from None
    except (RuntimeError, EOFError, UnicodeDecodeError, AttributeError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None


def _unwrap(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a checkpoint dict with a state dict")
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    for key in _STATE_DICT_KEYS:
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors or len(tensors) != len(obj):
        bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)][:5]
        raise ValueError(f"{path} has no state dict of tensors (expected 'state_dict': {{name: tensor}}; got {bad})")
    return tensors, meta


def read_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` of a saved directory (``{}`` if absent).

    Raises:
        ValueError: the file is not a JSON object.
    """
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(config).__name__}")
    return config


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a valid .safetensors file ({exc})") from None


def _check_saved_together(folder: Path, config: dict[str, Any], weights: Path) -> None:
    """A folder's ``config.json`` and ``model.safetensors`` must come from the same save (same save id)."""
    from safetensors import safe_open

    saved = config.get("tsm_models") if isinstance(config.get("tsm_models"), dict) else {}
    expected = saved.get("save_id")
    if not expected:
        return  # folders written before save ids, or by other tools
    with safe_open(str(weights), framework="pt") as f:
        found = (f.metadata() or {}).get("tsm_models_save_id")
    if found is not None and found != expected:  # weights without a save id were written by another tool
        raise ValueError(
            f"{folder}: {CONFIG_NAME} and {WEIGHTS_NAME} come from different saves (save id {expected} vs "
            f"{found}); an interrupted save or a file copied by hand? Save the model again"
        )


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint file or saved directory and detect its layout.

    Args:
        path: an MMAction2 or original-TSM ``.pth``, a ``.safetensors`` file, or a directory holding
            ``model.safetensors`` (and usually ``config.json``).

    Raises:
        FileNotFoundError: ``path`` (or ``model.safetensors`` in a directory) does not exist.
        ValueError: the file is not a checkpoint, is refused by safe loading, or has unknown keys.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not (path.is_dir() or path.is_file()):  # a FIFO or device would block or stream forever in open()
        raise ValueError(f"{path} is not a regular file or folder (a pipe or device?); expected a checkpoint file")
    config: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    if path.is_dir():
        config = read_config(path)
        weights = path / WEIGHTS_NAME
        if not weights.is_file():
            raise FileNotFoundError(f"{path} is a directory without {WEIGHTS_NAME} (expected a save_pretrained folder)")
        state_dict = _read_safetensors(weights)
        _check_saved_together(path, config, weights)
    elif path.suffix == ".safetensors":
        state_dict = _read_safetensors(path)
    else:
        state_dict, meta = _unwrap(torch_load_safe(path), path)
    layout = detect_layout(state_dict)
    _logger.debug("read %s: %d tensors, %s layout", path, len(state_dict), layout)
    return Checkpoint(state_dict=state_dict, layout=layout, path=path, meta=meta, config=config)
