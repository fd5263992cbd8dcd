"""Build a TSM of any family: zoo record -> settings check -> timm's ``build_model_with_cfg`` -> weights.

Every family's entrypoints end in :func:`build_tsm`. The weights are loaded inside the constructor timm
calls, i.e. *before* timm wraps the model for ``features_only=True``, so a feature backbone gets the same
weights as the classifier.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

from timm.models import build_model_with_cfg, resolve_pretrained_cfg
from torch import nn

from ._pretrained import load_pretrained
from .tsm import TSMConfig
from .zoo import ZOO, ZooEntry

__all__ = ["PretrainedSpec", "build_tsm", "timm_cfg", "zoo_timm_cfgs"]

_logger = logging.getLogger(__name__)

# What ``pretrained=`` accepts: False / None, True (the checkpoint of the tag), "imagenet", or a path.
PretrainedSpec: TypeAlias = bool | str | os.PathLike[str] | None

_MEAN_01 = (0.485, 0.456, 0.406)
_STD_01 = (0.229, 0.224, 0.225)


def timm_cfg(**kwargs: Any) -> dict[str, Any]:
    """A timm pretrained cfg with the TSM defaults (224 px, ImageNet mean/std, classifier ``fc``)."""
    cfg = dict(
        url="",
        num_classes=400,
        input_size=(3, 224, 224),
        pool_size=(7, 7),
        crop_pct=0.875,
        interpolation="bilinear",
        mean=_MEAN_01,
        std=_STD_01,
        first_conv="conv1",
        classifier="fc",
        license="apache-2.0",
        paper_ids="arXiv:1811.08383",
    )
    cfg.update(kwargs)
    return cfg


def _zoo_cfg(entry: ZooEntry, **family: Any) -> dict[str, Any]:
    p = entry.protocol
    return timm_cfg(
        url=entry.url,
        hf_hub_id=entry.hf_hub_id,
        num_classes=entry.num_classes,
        input_size=(3, p.crop_size, p.crop_size),
        crop_pct=p.crop_size / p.resize_short,
        mean=tuple(m / 255 for m in p.mean),
        std=tuple(s / 255 for s in p.std),
        origin_url=entry.url,
        description=f"TSM {entry.arch} trained on {entry.dataset} ({entry.source} {entry.config})",
        notes=entry.notes,
        license=entry.license,
        **family,
    )


def zoo_timm_cfgs(archs: Iterable[str], **family: Any) -> dict[str, dict[str, Any]]:
    """timm pretrained cfgs ``{arch.tag: cfg}`` of every zoo entry whose architecture is in ``archs``.

    ``family`` overrides cfg fields for the whole family (e.g. ``classifier="classifier"``).
    """
    archs = set(archs)
    return {e.name: _zoo_cfg(e, **family) for e in ZOO.values() if e.arch in archs}


def _check_fixed(model: nn.Module, entry: ZooEntry, requested: dict[str, Any]) -> None:
    built = model.tsm_config  # type: ignore[attr-defined]
    for key, value in requested.items():
        if value != getattr(built, key):
            raise ValueError(
                f"{entry.name} was trained with {key}={getattr(built, key)!r}; got {key}={value!r}. "
                f"Use the architecture name {entry.arch!r} to build a different configuration."
            )


def build_tsm(
    model_cls: Callable[..., nn.Module],
    variant: str,
    pretrained: PretrainedSpec = False,
    *,
    base_model: str = "",
    pretrained_cfg: Any = None,
    pretrained_cfg_overlay: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build architecture ``variant`` of a family, with the checkpoint its tag names (if any).

    Args:
        model_cls: the family class (e.g. :class:`tsm_models.TSM`).
        variant: the architecture name (timm entrypoint), e.g. ``"tsm_r50"``.
        pretrained: ``False``, ``True`` (the tag's checkpoint; or the ``hf-hub:`` / ``local-dir:`` source
            timm resolved), ``"imagenet"`` (timm's ImageNet weights of ``base_model``) or a checkpoint path.
        base_model: the timm model (with tag) the family wraps, for ``pretrained="imagenet"``.
        pretrained_cfg, pretrained_cfg_overlay: as timm passes them (a tag, a dict, or ``None``).
        cache_dir: folder of converted zoo weights (default :func:`tsm_models.models._download.get_cache_dir`).
        **kwargs: :class:`~tsm_models.TSMConfig` settings and family/timm constructor arguments. A zoo tag
            fixes its :attr:`TSMConfig.ARCHITECTURE_FIELDS` (another value raises ``ValueError``); ``num_classes``
            may differ (a new classifier, for fine-tuning).
    """
    cfg = resolve_pretrained_cfg(variant, pretrained_cfg=pretrained_cfg, pretrained_cfg_overlay=pretrained_cfg_overlay)
    entry = ZOO.get(f"{variant}.{cfg.tag}") if cfg.tag else None
    requested: dict[str, Any] = {}
    if entry is not None:
        requested = {k: kwargs.pop(k) for k in TSMConfig.ARCHITECTURE_FIELDS if k in kwargs}
        kwargs = {**entry.model_args, **kwargs}
    cfg_dict = cfg.to_dict()

    def construct(**model_kwargs: Any) -> nn.Module:
        model = model_cls(**model_kwargs)
        model.zoo_entry = entry  # type: ignore[assignment]
        model.base_model = base_model  # type: ignore[assignment]
        model.pretrained_cfg = cfg_dict  # timm sets it again after construction; the loader reads it now
        if entry is not None:
            _check_fixed(model, entry, requested)
        load_pretrained(model, pretrained, entry=entry, cache_dir=cache_dir)
        return model

    return build_model_with_cfg(construct, variant, pretrained=False, pretrained_cfg=cfg_dict, **kwargs)
