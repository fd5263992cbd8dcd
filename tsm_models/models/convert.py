"""Convert MMAction2 and original-TSM checkpoints to this library's state-dict keys (pure dict -> dict).

Our keys are timm ResNet keys with ``.net`` inserted where :class:`~tsm_models.shift.TemporalShift` wraps a
module: ``layer1.0.conv1.net.weight`` (residual shift), ``layer1.0.net.conv1.weight`` (in-place shift),
``layer1.1.conv1.weight`` (unshifted block, e.g. ResNet-101 odd blocks), ``fc.weight``.

Source layouts (``research/mmaction2_tsm.md`` §2 and §8):

* ``"mmaction2"``: MMAction2 0.x (from July 2020) and 1.x, ``backbone.*`` with ConvModule names
  (``conv1.conv``, ``conv1.bn``, ``layerX.Y.conv1.conv.net.weight``, ``downsample.conv/bn``) and
  ``cls_head.fc_cls.*``; also the older torchvision-style names under ``backbone.`` (``bn1``,
  ``downsample.0/1``, ``conv1.net.weight``). ``data_preprocessor.*`` (1.x, no weights) is ignored.
* ``"tsm"``: the original TSM repository (``module.base_model.*``, ``module.new_fc.*``).
* ``"tsm_models"``: already in our layout (converted ``.safetensors`` / saved directories).

The converters are strict: :func:`check_state_dict` raises a ``ValueError`` listing every source key that
found no place, every target key left empty and every shape mismatch.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import torch

__all__ = [
    "LAYOUTS",
    "check_config_text",
    "check_state_dict",
    "convert_mmaction2_state_dict",
    "convert_state_dict",
    "convert_tsm_state_dict",
    "detect_layout",
    "parse_config_text",
    "rename_state_dict",
]

_logger = logging.getLogger(__name__)

LAYOUTS: tuple[str, ...] = ("mmaction2", "tsm", "tsm_models")
_IGNORED_PREFIXES = ("data_preprocessor.",)
_MAX_LISTED = 12

# Stem: ConvModule (``conv1.conv`` / ``conv1.bn``) or torchvision (``conv1`` / ``bn1``) names.
_STEM_RULES = (
    (re.compile(r"^conv1\.conv\.(weight)$"), r"conv1.\1"),
    (re.compile(r"^conv1\.bn\.(.+)$"), r"bn1.\1"),
    (re.compile(r"^(conv1\.weight|bn1\..+)$"), r"\1"),
)
# Inside a block (after ``layerX.Y.`` and an optional in-place ``net.``).
_BLOCK_RULES = (
    (re.compile(r"^conv(\d)\.conv\.((?:net\.)?weight)$"), r"conv\1.\2"),
    (re.compile(r"^conv(\d)\.bn\.(.+)$"), r"bn\1.\2"),
    (re.compile(r"^downsample\.conv\.(weight)$"), r"downsample.0.\1"),
    (re.compile(r"^downsample\.bn\.(.+)$"), r"downsample.1.\1"),
    (re.compile(r"^(conv\d\.(?:net\.)?weight|bn\d\..+|downsample\.[01]\..+)$"), r"\1"),
)
_BLOCK_PREFIX = re.compile(r"^(layer[1-4]\.\d+\.)(net\.)?(.+)$")


def _rename_backbone_key(key: str) -> str | None:
    """MMAction2/torchvision ResNet key (without ``backbone.``) -> our key, or ``None`` if unknown."""
    for pattern, repl in _STEM_RULES:
        if pattern.match(key):
            return pattern.sub(repl, key)
    m = _BLOCK_PREFIX.match(key)
    if m is None:
        return None
    prefix, inplace, rest = m.group(1), m.group(2) or "", m.group(3)
    for pattern, repl in _BLOCK_RULES:
        if pattern.match(rest):
            return prefix + inplace + pattern.sub(repl, rest)
    return None


def _rename_all(
    state_dict: Mapping[str, torch.Tensor], rename: Any
) -> tuple[dict[str, torch.Tensor], list[str], dict[str, str]]:
    out: dict[str, torch.Tensor] = {}
    unplaced: list[str] = []
    origin: dict[str, str] = {}
    for key, value in state_dict.items():
        if key.startswith(_IGNORED_PREFIXES):
            continue
        new = rename(key)
        if new is None:
            unplaced.append(key)
        elif new in out:
            raise ValueError(f"checkpoint keys {origin[new]!r} and {key!r} both map to {new!r}")
        else:
            out[new] = value
            origin[new] = key
    return out, unplaced, origin


def _mmaction2_key(key: str) -> str | None:
    if key.startswith("backbone."):
        return _rename_backbone_key(key[len("backbone.") :])
    m = re.match(r"^cls_head\.fc_cls\.(weight|bias)$", key)
    return f"fc.{m.group(1)}" if m else None


def _tsm_key(key: str) -> str | None:
    key = key.removeprefix("module.")
    m = re.match(r"^(?:new_fc|base_model\.fc)\.(weight|bias)$", key)
    if m:
        return f"fc.{m.group(1)}"
    if key.startswith("base_model."):
        return _rename_backbone_key(key[len("base_model.") :])
    return None


def _own_key(key: str) -> str | None:
    m = re.match(r"^fc\.(weight|bias)$", key)
    return key if m else _rename_backbone_key(key)


_RENAMERS = {"mmaction2": _mmaction2_key, "tsm": _tsm_key, "tsm_models": _own_key}


def detect_layout(state_dict: Mapping[str, Any]) -> str:
    """Name the key layout of ``state_dict``: ``"mmaction2"``, ``"tsm"`` or ``"tsm_models"``.

    Raises:
        ValueError: if the keys look like none of them (e.g. an empty dict or another model's weights).
    """
    keys = [k for k in state_dict if not k.startswith(_IGNORED_PREFIXES)]
    if not keys:
        raise ValueError("the state dict holds no weights (expected ResNet/TSM parameters)")
    if any(k.startswith(("backbone.", "cls_head.")) for k in keys):
        return "mmaction2"
    if any(k.startswith(("module.base_model.", "base_model.", "module.new_fc.", "new_fc.")) for k in keys):
        return "tsm"
    if any(k.startswith(("conv1.", "layer1.")) for k in keys):
        return "tsm_models"
    raise ValueError(
        "unrecognised checkpoint keys (expected MMAction2 'backbone.*'/'cls_head.*', original TSM "
        f"'module.base_model.*'/'module.new_fc.*' or tsm_models 'conv1.*'/'layer1.*'); first keys: {keys[:5]}"
    )


def _listed(keys: list[str]) -> str:
    shown = ", ".join(sorted(keys)[:_MAX_LISTED])
    more = f", ... ({len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
    return f"[{shown}{more}]"


def check_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    target: Mapping[str, torch.Tensor | torch.Size | tuple[int, ...]],
    *,
    unplaced: list[str] | None = None,
    origin: Mapping[str, str] | None = None,
) -> None:
    """Raise a ``ValueError`` unless ``state_dict`` fills ``target`` exactly (same keys, same shapes).

    Args:
        state_dict: converted weights (our keys).
        target: the model's state dict (or key -> shape).
        unplaced: source keys no rule could rename (reported together with the rest).
        origin: converted key -> source key, to name the source key in shape errors.
    """
    problems: list[str] = []
    if unplaced:
        problems.append(f"{len(unplaced)} checkpoint key(s) have no place in the model: {_listed(unplaced)}")
    extra = [k for k in state_dict if k not in target]
    if extra:
        shown = [f"{origin[k]} -> {k}" if origin and origin[k] != k else k for k in extra]
        problems.append(f"{len(extra)} converted key(s) are not in the model: {_listed(shown)}")
    missing = [k for k in target if k not in state_dict]
    if missing:
        problems.append(f"{len(missing)} model key(s) are missing from the checkpoint: {_listed(missing)}")
    if extra and missing and {_strip_net(k) for k in extra} & {_strip_net(k) for k in missing}:
        problems.append(
            "the keys differ by '.net': the checkpoint shifts other blocks than the model "
            "(check shift_place and shift_every, e.g. ResNet-101 shifts every 2nd block)"
        )
    for key, value in state_dict.items():
        if key in target:
            want = tuple(target[key].shape if isinstance(target[key], torch.Tensor) else target[key])
            if tuple(value.shape) != want:
                src = origin.get(key, key) if origin else key
                problems.append(f"shape of {src!r}: checkpoint {tuple(value.shape)}, model {want}")
    if problems:
        raise ValueError("checkpoint does not match the model:\n  " + "\n  ".join(problems))


def _strip_net(key: str) -> str:
    return key.replace(".net.", ".")


def rename_state_dict(
    state_dict: Mapping[str, torch.Tensor], layout: str | None = None
) -> tuple[dict[str, torch.Tensor], list[str], dict[str, str]]:
    """Rename keys without checking them against a model.

    Returns:
        ``(renamed, unplaced, origin)``: the renamed dict (our keys), the source keys no rule could place,
        and ``{our key: source key}``.
    """
    layout = layout or detect_layout(state_dict)
    if layout not in _RENAMERS:
        raise ValueError(f"unknown checkpoint layout {layout!r}; expected one of {LAYOUTS}")
    return _rename_all(state_dict, _RENAMERS[layout])


def convert_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    layout: str | None = None,
    target: Mapping[str, Any] | None = None,
) -> dict[str, torch.Tensor]:
    """Rename a checkpoint's state dict to our keys; check it against ``target`` when given.

    Args:
        state_dict: the raw state dict (``checkpoint["state_dict"]`` for MMAction2 / TSM files).
        layout: one of :data:`LAYOUTS`; detected from the keys when ``None``.
        target: the model's state dict (or key -> shape); when given, every source key must find a place,
            every target key must be filled and all shapes must agree.

    Returns:
        A new dict with our keys (tensors are not copied).

    Raises:
        ValueError: unknown layout, unplaced keys, missing keys or wrong shapes (all listed in one message).
    """
    layout = layout or detect_layout(state_dict)
    out, unplaced, origin = rename_state_dict(state_dict, layout)
    if target is not None:
        check_state_dict(out, target, unplaced=unplaced, origin=origin)
    elif unplaced:
        raise ValueError(f"{len(unplaced)} {layout} checkpoint key(s) could not be converted: {_listed(unplaced)}")
    return out


def convert_mmaction2_state_dict(
    state_dict: Mapping[str, torch.Tensor], target: Mapping[str, Any] | None = None
) -> dict[str, torch.Tensor]:
    """MMAction2 (0.x ConvModule, older torchvision-style, or 1.x) state dict -> our keys.

    See :func:`convert_state_dict` for ``target`` and the errors raised.
    """
    return convert_state_dict(state_dict, "mmaction2", target)


def convert_tsm_state_dict(
    state_dict: Mapping[str, torch.Tensor], target: Mapping[str, Any] | None = None
) -> dict[str, torch.Tensor]:
    """Original TSM repository state dict (``module.base_model.*``, ``module.new_fc.*``) -> our keys."""
    return convert_state_dict(state_dict, "tsm", target)


# ---------------------------------------------------------------------------------------------------------
# meta['config']: the training config text MMAction2 stores in its checkpoints.

_INT_FIELDS = ("num_segments", "num_classes", "depth", "shift_div")
_SHIFT_PLACES = {"blockres": "residual", "block": "inplace"}


def parse_config_text(text: str) -> dict[str, Any]:
    """Architecture facts found in an MMAction2 config text (``checkpoint["meta"]["config"]``).

    Returns a dict with any of ``num_segments``, ``num_classes``, ``depth``, ``shift_div`` (ints) and
    ``shift_place`` (``"residual"``/``"inplace"``). A field written with two different values is left out
    (ambiguous); MMAction2's defaults are not filled in here.
    """
    facts: dict[str, Any] = {}
    for name in _INT_FIELDS:
        values = {int(v) for v in re.findall(rf"\b{name}\s*=\s*(\d+)", text)}
        if len(values) == 1:
            facts[name] = values.pop()
    places = set(re.findall(r"\bshift_place\s*=\s*['\"](\w+)['\"]", text))
    if len(places) == 1:
        place = places.pop()
        facts["shift_place"] = _SHIFT_PLACES.get(place, place)
    return facts


def check_config_text(text: str, expected: Mapping[str, Any]) -> None:
    """Raise a ``ValueError`` if the checkpoint's config text contradicts ``expected``.

    Args:
        text: MMAction2 config text.
        expected: the model's settings, any of ``num_segments``, ``num_classes``, ``depth``, ``shift_div``,
            ``shift_place``. MMAction2 ResNetTSM defaults (8 segments, shift_div 8, ``blockres``) apply when
            the config does not set a field, as they did in training.
    """
    facts = parse_config_text(text)
    if "backbone" in text or "ResNetTSM" in text:
        facts.setdefault("num_segments", 8)
        facts.setdefault("shift_div", 8)
        facts.setdefault("shift_place", "residual")
    wrong = [
        f"{k}={facts[k]!r} (model: {expected[k]!r})"
        for k in expected
        if k in facts and expected[k] is not None and facts[k] != expected[k]
    ]
    if wrong:
        raise ValueError(
            "the checkpoint's training config (meta['config']) does not match the model: " + ", ".join(wrong)
        )
    _logger.debug("checkpoint config agrees with the model on %s", sorted(set(facts) & set(expected)))
