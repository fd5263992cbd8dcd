"""The front door: ``create_model``, ``list_models``, ``is_model``, ``get_zoo_entry``, ``from_pretrained``.

Names: architectures (``tsm_r50``), checkpoints as timm's ``arch.tag`` (``tsm_r50.mm0_8f_340x256_k400``) and
their aliases (``tsm_r50_1x1x8_kinetics400``, upstream config names and file stems), which only this factory
resolves; ``timm.create_model`` knows the architectures and ``arch.tag`` names, and ``hf-hub:`` /
``local-dir:`` sources, as for any timm model.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import warnings
from pathlib import Path
from typing import Any

import timm
from torch import nn

from ._builder import PretrainedSpec
from ._download import CONFIG_NAME, snapshot_folder
from .checkpoint import read_config
from .tsm import TSMConfig
from .zoo import ZOO, ZooEntry, aliases, resolve_alias

__all__ = ["create_model", "from_pretrained", "get_pretrained_cfg", "get_zoo_entry", "is_model", "list_models"]

_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+(@[\w./-]+)?$")
_SOURCES = ("hf-hub:", "local-dir:")


def _architectures() -> list[str]:
    """Every TSM architecture registered with timm (the ``tsm_*`` entrypoints of this package's families)."""
    return timm.list_models("tsm_*")


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Names that :func:`create_model` accepts, sorted, as ``timm.list_models`` gives them.

    Args:
        pattern: shell-style filter (case-insensitive), e.g. ``"*sthv2*"``.
        pretrained: checkpoints (``arch.tag`` names) instead of architectures.
            Aliases (older names, upstream config names, file stems) are accepted everywhere but not listed.
    """
    names = list(ZOO) if pretrained else _architectures()
    return sorted(n for n in names if fnmatch.fnmatch(n.lower(), pattern.lower()))


def is_model(name: str) -> bool:
    """Whether ``name`` is an architecture, an ``arch.tag`` checkpoint or an alias of one."""
    return isinstance(name, str) and (resolve_alias(name) in ZOO or name in _architectures())


def _unknown(name: str, candidates: list[str]) -> ValueError:
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    hint = f" Closest matches: {', '.join(close)}." if close else ""
    return ValueError(f"unknown model name {name!r}.{hint} See tsm_models.list_models() for all names.")


def get_zoo_entry(name: str) -> ZooEntry:
    """The zoo record of a checkpoint: ``arch.tag`` or an alias (older name, upstream config name, file stem).

    Raises:
        TypeError: ``name`` is not a str.
        ValueError: an architecture name (it has no single record: its checkpoints are listed) or an unknown name.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    entry = ZOO.get(resolve_alias(name))
    if entry is not None:
        return entry
    if name in _architectures():
        options = [e.name for e in ZOO.values() if e.arch == name]
        raise ValueError(f"{name!r} is an architecture without a zoo record; its checkpoints: {options or 'none'}")
    raise _unknown(name, [*ZOO, *aliases()])


def get_pretrained_cfg(name: str) -> ZooEntry:
    """Deprecated alias of :func:`get_zoo_entry` (in timm, ``get_pretrained_cfg`` returns a timm cfg)."""
    warnings.warn(
        "tsm_models.get_pretrained_cfg is deprecated; use tsm_models.get_zoo_entry (same result)",
        DeprecationWarning,
        stacklevel=2,
    )
    return get_zoo_entry(name)


def create_model(model_name: str, pretrained: PretrainedSpec = False, **kwargs: Any) -> nn.Module:
    """Create a TSM by architecture or checkpoint name.

    Args:
        model_name: an architecture (``"tsm_r50"``), a checkpoint (``"tsm_r50.mm0_8f_340x256_k400"``), an alias
            of one (``"tsm_r50_1x1x8_kinetics400"``, an upstream config name or file stem), or timm's
            ``"hf-hub:org/name"`` / ``"local-dir:/path"``.
        pretrained: ``False`` (random init), ``True`` (the checkpoint of the name), ``"imagenet"`` (timm's
            ImageNet weights of the base network) or a path to a checkpoint file or saved directory.
        **kwargs: :class:`~tsm_models.TSMConfig` settings (``num_segments``, ``shift_div``, ``shift_place``,
            ``shift_direction``, ``shift_every``, ``dropout``), ``num_classes``, ``cache_dir``, or any timm
            argument (``features_only``, ``drop_path_rate``, ...). For checkpoint names, the settings the
            checkpoint needs cannot be changed (``ValueError``); ``num_classes`` can (a new classifier).
            With ``pretrained`` a folder saved by :func:`~tsm_models.save_pretrained`, its ``config.json``
            ``model_args`` are the defaults (so ``create_model("tsm_r18", pretrained=trained_folder)`` rebuilds
            the trained model: its frames per clip and classes).

    Returns:
        A TSM taking ``(B, T, 3, H, W)`` video and returning ``(B, num_classes)`` logits (a timm feature
        wrapper taking ``(B * T, 3, H, W)`` frames with ``features_only=True``).

    Raises:
        TypeError: ``model_name`` is not a str, or an argument of the wrong type.
        ValueError: an unknown name (with the closest matches) or a setting the checkpoint does not allow.
    """
    if not isinstance(model_name, str):
        raise TypeError(f"model_name must be a str, got {type(model_name).__name__}")
    if not model_name.startswith(_SOURCES):
        name = resolve_alias(model_name)
        if not is_model(name):
            raise _unknown(model_name, [*_architectures(), *ZOO, *aliases()])
        model_name = name
    if isinstance(pretrained, (str, os.PathLike)) and (Path(pretrained) / CONFIG_NAME).is_file():
        saved = read_config(Path(pretrained)).get("model_args")
        if isinstance(saved, dict):
            kwargs = {**saved, **kwargs}
    return timm.create_model(model_name, pretrained=pretrained, **kwargs)


def from_pretrained(name_or_path: str | os.PathLike[str], **kwargs: Any) -> nn.Module:
    """Load a model saved by :func:`tsm_models.save_pretrained`, from a folder or a Hub repo ``org/name[@rev]``.

    Loading is strict (every tensor must fit); ``num_classes=`` different from the saved model keeps the
    backbone and starts a new classifier. Only the saved ``architecture``, checkpoint ``tag`` and the known
    model arguments are taken from ``config.json``. The model is returned in eval mode.

    Raises:
        FileNotFoundError: neither a folder nor a reachable/cached Hub repo.
        ValueError: the folder's config or weights do not describe a tsm_models model.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        folder = path
    elif isinstance(name_or_path, str) and _REPO_ID.match(name_or_path) and not path.exists():
        folder = snapshot_folder(name_or_path)
    else:
        raise FileNotFoundError(
            f"{name_or_path} is neither a folder saved by save_pretrained nor a Hub repo id 'org/name'"
            " (for a checkpoint file use tsm_models.create_model(name, pretrained=path))"
        )
    config = read_config(folder)
    if "architecture" not in config or not isinstance(config.get("model_args"), dict):
        raise ValueError(f"{folder / CONFIG_NAME} lacks 'architecture'/'model_args' (not a tsm_models folder)")
    name = str(config["architecture"])
    tag = (config.get("pretrained_cfg") or {}).get("tag")
    if tag and "." not in name:
        name = f"{name}.{tag}"
    args = config["model_args"]
    known = {"num_classes", *TSMConfig.field_names()}
    unknown = sorted(set(args) - known)
    if unknown:  # e.g. timm's checkpoint_path would load other weights than the folder's
        raise ValueError(
            f"{folder / CONFIG_NAME}: model_args holds unknown keys {unknown}; a saved config may only set "
            f"{sorted(known)}"
        )
    model = create_model(name, pretrained=folder, **{**args, **kwargs})
    return model.eval()
