"""timm registry entries for the TSM architectures and zoo checkpoints.

Importing :mod:`tsm_models` runs this module, after which ``timm.create_model`` knows every name of
:func:`tsm_models.list_models` and every MMAction2 config alias. Each entrypoint is generated from
:data:`ARCHS` and :data:`tsm_models.zoo.ZOO`; no fact is repeated here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from .model import RESNET_ARGS, TSM
from .zoo import ZOO, ZooEntry, aliases

__all__ = ["ARCHS", "ARCH_DEFAULTS", "create_arch", "create_zoo_model"]

# Architecture name -> timm ResNet it wraps.
ARCHS: dict[str, str] = {
    "tsm_r18": "resnet18",
    "tsm_r34": "resnet34",
    "tsm_r50": "resnet50",
    "tsm_r101": "resnet101",
    "tsm_r152": "resnet152",
    "tsm_r50d": "resnet50d",
    "tsm_r101d": "resnet101d",
}
# Defaults of every architecture entrypoint (MMAction2 TSM: 8 segments, residual shift, fold 1/8, dropout 0.5).
ARCH_DEFAULTS: dict[str, Any] = dict(
    num_segments=8, shift_div=8, shift_place="residual", shift_direction="bidirectional", dropout=0.5
)
# Settings a zoo checkpoint fixes; passing a different value raises.
_FIXED_BY_CHECKPOINT = ("num_segments", "shift_div", "shift_place", "shift_direction", "shift_every")
_MEAN_01 = (0.485, 0.456, 0.406)
_STD_01 = (0.229, 0.224, 0.225)


def _timm_cfg(**kwargs: Any) -> dict[str, Any]:
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


def _zoo_timm_cfg(entry: ZooEntry) -> dict[str, Any]:
    p = entry.protocol
    return _timm_cfg(
        url=entry.url,
        hf_hub_id=entry.hf_hub_id,
        num_classes=entry.num_classes,
        input_size=(3, p.crop_size, p.crop_size),
        crop_pct=p.crop_size / p.resize_short,
        mean=tuple(m / 255 for m in p.mean),
        std=tuple(s / 255 for s in p.std),
        origin_url=entry.url,
        description=f"TSM {entry.arch} trained on {entry.dataset} (MMAction2 {entry.config})",
        notes=entry.notes,
    )


default_cfgs = generate_default_cfgs(
    {
        **{arch: _timm_cfg() for arch in ARCHS},
        **{e.name: _zoo_timm_cfg(e) for e in ZOO.values()},
        **{alias: _zoo_timm_cfg(ZOO[name]) for alias, name in aliases().items()},
    }
)


def create_arch(variant: str, pretrained: Any = False, **kwargs: Any) -> TSM:
    """Build architecture ``variant`` (a key of :data:`ARCHS`) through timm's builder.

    ``pretrained`` may be ``False``, ``"imagenet"`` or a checkpoint path (see :func:`tsm_models.create_model`).
    """
    base = ARCHS[variant]
    for key in ("block", "layers"):
        if key in kwargs:
            raise ValueError(f"{variant} fixes {key!r}; build tsm_models.TSM(...) directly for another layout")
    cache_dir = kwargs.pop("cache_dir", None)
    model_kwargs = {**ARCH_DEFAULTS, **RESNET_ARGS[base], **kwargs}
    model = build_model_with_cfg(TSM, variant, pretrained=False, **model_kwargs)
    if pretrained:
        from .pretrained import load_pretrained

        load_pretrained(model, pretrained, base_model=base, cache_dir=cache_dir)
    return model


def create_zoo_model(entry: ZooEntry, pretrained: Any = False, variant: str | None = None, **kwargs: Any) -> TSM:
    """Build the architecture of a zoo checkpoint, checking ``kwargs`` against the record.

    ``num_classes`` (new classifier for fine-tuning) and ``dropout`` may differ from the record; the
    architecture settings the checkpoint needs may not.
    """
    for key in _FIXED_BY_CHECKPOINT:
        if key in kwargs and kwargs[key] != getattr(entry, key):
            raise ValueError(
                f"{entry.name} was trained with {key}={getattr(entry, key)!r}; got {key}={kwargs[key]!r}. "
                f"Use the architecture name {entry.arch!r} to build a different configuration."
            )
    base = ARCHS[entry.arch]
    if "block" in kwargs or "layers" in kwargs:
        raise ValueError(f"{entry.name} fixes the ResNet layout ({base}); block/layers cannot be passed")
    cache_dir = kwargs.pop("cache_dir", None)
    model_kwargs = {**entry.model_kwargs, **RESNET_ARGS[base], **kwargs}
    model = build_model_with_cfg(TSM, variant or entry.name, pretrained=False, **model_kwargs)
    model.zoo_entry = entry
    if pretrained:
        from .pretrained import load_pretrained

        load_pretrained(model, pretrained, entry=entry, base_model=base, cache_dir=cache_dir)
    return model


def _register(name: str, fn: Callable[..., TSM], doc: str) -> None:
    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = __name__
    fn.__doc__ = doc
    globals()[name] = fn
    register_model(fn)


def _arch_entrypoint(arch: str) -> Callable[..., TSM]:
    def fn(pretrained: Any = False, **kwargs: Any) -> TSM:
        return create_arch(arch, pretrained, **kwargs)

    return fn


def _zoo_entrypoint(entry: ZooEntry, variant: str) -> Callable[..., TSM]:
    def fn(pretrained: Any = False, **kwargs: Any) -> TSM:
        return create_zoo_model(entry, pretrained, variant=variant, **kwargs)

    return fn


for _arch, _base in ARCHS.items():
    _register(_arch, _arch_entrypoint(_arch), f"TSM on timm {_base} (random init unless pretrained=...).")
for _entry in ZOO.values():
    _register(_entry.name, _zoo_entrypoint(_entry, _entry.name), f"MMAction2 zoo checkpoint {_entry.config}.")
for _alias, _name in aliases().items():
    _register(_alias, _zoo_entrypoint(ZOO[_name], _alias), f"Alias of {_name} (MMAction2 config name).")
