"""``create_model``, ``list_models`` and ``get_pretrained_cfg``: the front door of the library."""

from __future__ import annotations

import difflib
from typing import Any

import timm
from torch import nn

from . import registry
from .zoo import ZOO, ZooEntry, aliases, filter_names, resolve_alias

__all__ = ["create_model", "get_pretrained_cfg", "is_model", "list_models"]


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Names that :func:`create_model` accepts, sorted.

    Args:
        pattern: shell-style filter, e.g. ``"*sthv2*"``.
        pretrained: only zoo checkpoints (names with weights) when ``True``; else architectures too.
            MMAction2 config aliases are accepted everywhere but not listed.
    """
    names = list(ZOO) if pretrained else [*registry.ARCHS, *ZOO]
    return sorted(filter_names(names, pattern))


def is_model(name: str) -> bool:
    """Whether ``name`` is an architecture, zoo name or alias of this library."""
    return resolve_alias(name) in ZOO or name in registry.ARCHS


def _unknown(name: str, candidates: list[str]) -> ValueError:
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    hint = f" Closest matches: {', '.join(close)}." if close else ""
    return ValueError(f"unknown model name {name!r}.{hint} See tsm_models.list_models() for all names.")


def get_pretrained_cfg(name: str) -> ZooEntry:
    """The zoo record of a checkpoint name or MMAction2 config alias.

    Raises:
        ValueError: for architecture names (they have no zoo record) and unknown names.
    """
    entry = ZOO.get(resolve_alias(name))
    if entry is not None:
        return entry
    if name in registry.ARCHS:
        options = [e.name for e in ZOO.values() if e.arch == name]
        raise ValueError(
            f"{name!r} is an architecture without a zoo record; zoo checkpoints of it: {options or 'none'}"
        )
    raise _unknown(name, [*ZOO, *aliases()])


def create_model(model_name: str, pretrained: Any = False, **kwargs: Any) -> nn.Module:
    """Create a TSM by architecture or zoo name.

    Args:
        model_name: an architecture (``"tsm_r50"``), a zoo checkpoint (``"tsm_r50_1x1x8_kinetics400"``) or
            its MMAction2 config name (``"tsm_r50_1x1x8_50e_kinetics400_rgb"``).
        pretrained: ``False`` (random init), ``True`` (the zoo checkpoint), ``"imagenet"`` (timm's ImageNet
            ResNet for architecture names) or a path to a checkpoint file or saved directory.
        **kwargs: architecture settings (``num_segments``, ``num_classes``, ``shift_div``, ``shift_place``,
            ``shift_direction``, ``shift_every``, ``dropout``) or any timm ResNet / ``timm.create_model``
            argument. For zoo names, the settings the checkpoint needs cannot be changed (``ValueError``);
            ``num_classes`` can (a new classifier, for fine-tuning).

    Returns:
        A :class:`tsm_models.TSM` taking ``(B, T, 3, H, W)`` video and returning ``(B, num_classes)`` logits.
    """
    if not isinstance(model_name, str):
        raise ValueError(f"model_name must be a str, got {type(model_name).__name__}")
    if not is_model(model_name):
        raise _unknown(model_name, [*registry.ARCHS, *ZOO, *aliases()])
    return timm.create_model(model_name, pretrained=pretrained, **kwargs)
