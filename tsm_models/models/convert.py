"""Convert MMAction2 and original-TSM checkpoints to this library's state-dict keys (pure dict -> dict).

Our keys are timm ResNet keys with ``.net`` inserted where :class:`~tsm_models.shift.TemporalShift` wraps a
module: ``layer1.0.conv1.net.weight`` (residual shift), ``layer1.0.net.conv1.weight`` (in-place shift),
``layer1.1.conv1.weight`` (unshifted block, e.g. ResNet-101 odd blocks), ``fc.weight``.

Source layouts (``research/mmaction2_tsm.md`` §2 and §8):

* ``"mmaction2"``: MMAction2 0.x (from July 2020) and 1.x, ``backbone.*`` with ConvModule names
  (``conv1.conv``, ``conv1.bn``, ``layerX.Y.conv1.conv.net.weight``, ``downsample.conv/bn``) and
  ``cls_head.fc_cls.*``; also the older torchvision-style names under ``backbone.`` (``bn1``,
  ``downsample.0/1``, ``conv1.net.weight``). ``data_preprocessor.*`` (1.x, no weights) is ignored.
* ``"tsm"``: the original TSM repository (``module.base_model.*``, ``module.new_fc.*``; also
  ``base_model.classifier.*`` for the fc, which its ``test_models.py`` renames too).
* ``"tsm_online"``: the original repo's online demo (``mobilenetv2_jester_online.pth.tar``): a bare
  MobileNetV2 state dict (``features.*``, ``classifier.*``, no ``.net``; its shifted blocks are fixed).
* ``"tsm_models"``: already in our layout (converted ``.safetensors`` / saved directories).

Families (:data:`FAMILIES`, told apart by the keys, :func:`detect_family`): ``"resnet"`` (TSM-ResNet, with or
without non-local blocks), ``"mobilenetv2"`` (timm ``mobilenetv2_100`` keys: ``conv_stem``, ``blocks.S.B.
{conv_pw[.net],bn1,conv_dw,bn2,conv_pwl,bn3}``, ``conv_head``, ``bn2``, ``classifier``) and ``"mobileone"``
(timm ``mobileone_s4``: ``stem.*``, ``stages.S.B.net.{conv_kxk.0,conv_scale}.{conv,bn}``, ``.identity``,
``.attn.fc1/fc2``, ``.reparam_conv``, ``head.fc``). Non-local blocks: MMAction2 ``layerX.Y.block.*`` +
``layerX.Y.non_local_block.{g.0.conv,theta.conv,phi.0.conv,conv_out.conv,conv_out.bn}``, original
``layerX.Y.block.*`` + ``layerX.Y.nl.{g.0,theta,phi.0,W.0,W.1}`` -> ours ``layerX.Y.block.*`` +
``layerX.Y.non_local_block.{g,theta,phi,conv_out,bn}``. The original's ``W.0`` conv has a bias that
MMAction2's ``conv_out`` lacks; it is folded exactly into the BN that follows (``running_mean -= bias``: the
same outputs in eval, and in training the batch mean removes it anyway).

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
    "FAMILIES",
    "check_direction",
    "check_non_local",
    "check_state_dict",
    "convert_mmaction2_state_dict",
    "convert_state_dict",
    "convert_tsm_state_dict",
    "detect_family",
    "detect_layout",
    "parse_config_text",
    "rename_state_dict",
]

_logger = logging.getLogger(__name__)

LAYOUTS: tuple[str, ...] = ("mmaction2", "tsm", "tsm_online", "tsm_models")
FAMILIES: tuple[str, ...] = ("resnet", "mobilenetv2", "mobileone")
FAMILY_NAMES = {
    "resnet": "a TSM-ResNet (tsm_r18 ... tsm_r101d)",
    "mobilenetv2": "a TSM-MobileNetV2 (tsm_mobilenetv2)",
    "mobileone": "a TSM-MobileOne (tsm_mobileone_s4)",
}
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
_BLOCK_PREFIX = re.compile(r"^(layer[1-4]\.\d+\.)(block\.)?(net\.)?(.+)$")
# Non-local blocks (after the ``layerX.Y.`` prefix): MMAction2 / mmcv names, the original repo's, ours.
_NL_PREFIX = re.compile(r"^(layer[1-4]\.\d+\.)(non_local_block|nl)\.(.+)$")
_NL_RULES = (
    (re.compile(r"^g\.0\.conv\.(weight|bias)$"), r"g.\1"),
    (re.compile(r"^(theta)\.conv\.(weight|bias)$"), r"\1.\2"),
    (re.compile(r"^phi\.0\.conv\.(weight|bias)$"), r"phi.\1"),
    (re.compile(r"^conv_out\.conv\.weight$"), r"conv_out.weight"),
    (re.compile(r"^conv_out\.bn\.(.+)$"), r"bn.\1"),
    # the original repo (ops/non_local.py)
    (re.compile(r"^g\.0\.(weight|bias)$"), r"g.\1"),
    (re.compile(r"^theta\.(weight|bias)$"), r"theta.\1"),
    (re.compile(r"^phi\.0\.(weight|bias)$"), r"phi.\1"),
    (re.compile(r"^W\.0\.(weight|bias)$"), r"conv_out.\1"),  # the bias is folded by _fold_non_local_bias
    (re.compile(r"^W\.1\.(.+)$"), r"bn.\1"),
)
_NL_OWN = re.compile(r"^(?:g|theta|phi)\.(?:weight|bias)$|^conv_out\.weight$|^bn\..+$")


def _rename_backbone_key(key: str) -> str | None:
    """MMAction2/torchvision ResNet key (without ``backbone.``) -> our key, or ``None`` if unknown."""
    for pattern, repl in _STEM_RULES:
        if pattern.match(key):
            return pattern.sub(repl, key)
    m = _NL_PREFIX.match(key)
    if m is not None:
        prefix, rest = m.group(1), m.group(3)
        if m.group(2) == "non_local_block" and _NL_OWN.match(rest):
            return key
        for pattern, repl in _NL_RULES:
            if pattern.match(rest):
                return f"{prefix}non_local_block." + pattern.sub(repl, rest)
        return None
    m = _BLOCK_PREFIX.match(key)
    if m is None:
        return None
    prefix, wrapped, inplace, rest = m.group(1), m.group(2) or "", m.group(3) or "", m.group(4)
    for pattern, repl in _BLOCK_RULES:
        if pattern.match(rest):
            return prefix + wrapped + inplace + pattern.sub(repl, rest)
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


# --- MobileNetV2: MMAction2 MobileNetV2TSM, original archs/mobilenet_v2.py (+ online demo) -> timm EfficientNet

_MBV2_COUNTS = (1, 2, 3, 4, 3, 3, 1)  # blocks per timm stage (= MMAction2 layer1..7)
_MBV2_INDEX = [(s, b) for s, n in enumerate(_MBV2_COUNTS) for b in range(n)]  # global block -> (stage, block)
_MBV2_SKIP = {(1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3), (4, 1), (4, 2), (5, 1), (5, 2)}  # shifted blocks
# (stage 0 = the t=1 DepthwiseSeparableConv, others InvertedResidual): MMAction2 ConvModule index -> names
_MBV2_MMA = (
    {0: ("conv_dw", "bn1"), 1: ("conv_pw", "bn2")},
    {0: ("conv_pw", "bn1"), 1: ("conv_dw", "bn2"), 2: ("conv_pwl", "bn3")},
)
# original Sequential index -> timm name
_MBV2_TSM = (
    {0: "conv_dw", 1: "bn1", 3: "conv_pw", 4: "bn2"},
    {0: "conv_pw", 1: "bn1", 3: "conv_dw", 4: "bn2", 6: "conv_pwl", 7: "bn3"},
)
_BN_PARAM = r"(weight|bias|running_mean|running_var|num_batches_tracked)"


def _mbv2_mma_key(key: str) -> str | None:
    fixed = {
        "conv1.conv.weight": "conv_stem.weight",
        "conv2.conv.weight": "conv_head.weight",
        "cls_head.fc_cls.weight": "classifier.weight",
        "cls_head.fc_cls.bias": "classifier.bias",
    }
    if key.startswith("cls_head."):
        return fixed.get(key)
    if not key.startswith("backbone."):
        return None
    key = key[len("backbone.") :]
    if key in fixed:
        return fixed[key]
    m = re.match(rf"^conv([12])\.bn\.{_BN_PARAM}$", key)
    if m:
        return f"{'bn1' if m.group(1) == '1' else 'bn2'}.{m.group(2)}"
    m = re.match(r"^layer([1-7])\.(\d+)\.conv\.(\d)\.(net\.)?(conv|bn)\.(.+)$", key)
    if m is None:
        return None
    stage, block, idx, net, kind, param = (
        int(m.group(1)) - 1,
        m.group(2),
        int(m.group(3)),
        m.group(4),
        m.group(5),
        m.group(6),
    )
    names = _MBV2_MMA[min(stage, 1)].get(idx)
    if names is None:
        return None
    if kind == "conv":
        return f"blocks.{stage}.{block}.{names[0]}.{'net.' if net else ''}{param}" if param == "weight" else None
    return f"blocks.{stage}.{block}.{names[1]}.{param}" if re.fullmatch(_BN_PARAM, param) else None


def _mbv2_features_key(key: str, online: bool) -> str | None:
    """``features.*`` of archs/mobilenet_v2.py (``online``: the demo's, whose shifted convs lack ``.net``)."""
    m = re.match(r"^features\.(0|18)\.([01])\.(.+)$", key)
    if m:
        conv, bn = ("conv_stem", "bn1") if m.group(1) == "0" else ("conv_head", "bn2")
        return f"{conv}.{m.group(3)}" if m.group(2) == "0" else f"{bn}.{m.group(3)}"
    m = re.match(r"^features\.(\d+)\.conv\.(\d)\.(net\.)?(.+)$", key)
    if m is None or not 1 <= int(m.group(1)) <= len(_MBV2_INDEX):
        return None
    stage, block = _MBV2_INDEX[int(m.group(1)) - 1]
    name = _MBV2_TSM[min(stage, 1)].get(int(m.group(2)))
    if name is None:
        return None
    net = "net." if m.group(3) or (online and name == "conv_pw" and (stage, block) in _MBV2_SKIP) else ""
    return f"blocks.{stage}.{block}.{name}.{net}{m.group(4)}"


def _mbv2_tsm_key(key: str) -> str | None:
    key = key.removeprefix("module.")
    m = re.match(r"^(?:new_fc|base_model\.classifier)\.(weight|bias)$", key)
    if m:
        return f"classifier.{m.group(1)}"
    return _mbv2_features_key(key[len("base_model.") :], online=False) if key.startswith("base_model.") else None


def _mbv2_online_key(key: str) -> str | None:
    m = re.match(r"^classifier\.(weight|bias)$", key)
    return key if m else _mbv2_features_key(key, online=True)


_MBV2_OWN = re.compile(r"^(conv_stem|bn1|conv_head|bn2|classifier)\.|^blocks\.\d\.\d+\.")


def _mbv2_own_key(key: str) -> str | None:
    return key if _MBV2_OWN.match(key) else None


# --- MobileOne: MMAction2 MobileOneTSM (mmpretrain names) -> timm ByobNet

_MOBILEONE_RULES = (
    (re.compile(r"^branch_conv_list\.(\d+)\.conv\.weight$"), r"conv_kxk.\1.conv.weight"),
    (re.compile(r"^branch_conv_list\.(\d+)\.norm\.(.+)$"), r"conv_kxk.\1.bn.\2"),
    (re.compile(r"^branch_scale\.conv\.weight$"), r"conv_scale.conv.weight"),
    (re.compile(r"^branch_scale\.norm\.(.+)$"), r"conv_scale.bn.\1"),
    (re.compile(r"^branch_norm\.(.+)$"), r"identity.\1"),
    (re.compile(r"^se\.conv([12])\.conv\.(weight|bias)$"), r"attn.fc\1.\2"),
    (re.compile(r"^branch_reparam\.(weight|bias)$"), r"reparam_conv.\1"),
)


def _mobileone_mma_key(key: str) -> str | None:
    m = re.match(r"^cls_head\.fc_cls\.(weight|bias)$", key)
    if m:
        return f"head.fc.{m.group(1)}"
    m = re.match(r"^backbone\.(?:stage0\.net\.|stage([1-4])\.(\d+)\.net\.)(.+)$", key)
    if m is None:
        return None
    prefix = "stem." if m.group(1) is None else f"stages.{int(m.group(1)) - 1}.{m.group(2)}.net."
    for pattern, repl in _MOBILEONE_RULES:
        if pattern.match(m.group(3)):
            return prefix + pattern.sub(repl, m.group(3))
    return None


_MOBILEONE_OWN = re.compile(r"^(stem|head\.fc)\.|^stages\.\d\.\d+\.net\.")


def _mobileone_own_key(key: str) -> str | None:
    return key if _MOBILEONE_OWN.match(key) else None


_RENAMERS: dict[tuple[str, str], Any] = {
    ("mmaction2", "resnet"): _mmaction2_key,
    ("tsm", "resnet"): _tsm_key,
    ("tsm_models", "resnet"): _own_key,
    ("mmaction2", "mobilenetv2"): _mbv2_mma_key,
    ("tsm", "mobilenetv2"): _mbv2_tsm_key,
    ("tsm_online", "mobilenetv2"): _mbv2_online_key,
    ("tsm_models", "mobilenetv2"): _mbv2_own_key,
    ("mmaction2", "mobileone"): _mobileone_mma_key,
    ("tsm_models", "mobileone"): _mobileone_own_key,
}

# What each layout's keys start with (for detection and for the error message that lists what was tried).
_LAYOUT_SIGNS: dict[str, tuple[str, ...]] = {
    "mmaction2": ("backbone.", "cls_head."),
    "tsm": ("module.base_model.", "base_model.", "module.new_fc.", "new_fc."),
    "tsm_online": ("features.",),
    "tsm_models": ("conv1.", "layer1.", "conv_stem.", "blocks.", "stem.", "stages."),
}


def detect_layout(state_dict: Mapping[str, Any]) -> str:
    """Name the key layout of ``state_dict``: one of :data:`LAYOUTS`.

    Raises:
        ValueError: if the keys look like none of them (e.g. an empty dict or another model's weights); the
            message lists every layout tried and the keys it looks for.
    """
    keys = [k for k in state_dict if not k.startswith(_IGNORED_PREFIXES)]
    if not keys:
        raise ValueError("the state dict holds no weights (expected TSM parameters)")
    for layout, signs in _LAYOUT_SIGNS.items():
        if layout == "tsm_online":
            if any(k.startswith(signs) for k in keys) and all(k.startswith(("features.", "classifier.")) for k in keys):
                return layout
        elif any(k.startswith(signs) for k in keys):
            return layout
    tried = "; ".join(
        f"{name} ({', '.join(repr(s + '*') for s in signs)}{', classifier.* only' if name == 'tsm_online' else ''})"
        for name, signs in _LAYOUT_SIGNS.items()
    )
    raise ValueError(f"unrecognised checkpoint keys; tried the layouts {tried}; first keys: {keys[:5]}")


def detect_family(state_dict: Mapping[str, Any], layout: str | None = None) -> str:
    """Name the model family of a checkpoint's keys: ``"resnet"``, ``"mobilenetv2"`` or ``"mobileone"``."""
    layout = layout or detect_layout(state_dict)
    keys = [k for k in state_dict if not k.startswith(_IGNORED_PREFIXES)]
    if layout == "tsm_online":
        return "mobilenetv2"
    if layout == "mmaction2":
        if any(k.startswith("backbone.stage") for k in keys):
            return "mobileone"
        if any(re.match(r"^backbone\.(layer\d\.\d+\.conv\.\d|conv2\.conv)", k) for k in keys):
            return "mobilenetv2"
        return "resnet"
    if layout == "tsm":
        return "mobilenetv2" if any("base_model.features." in k for k in keys) else "resnet"
    if any(k.startswith(("conv_stem.", "blocks.")) for k in keys):
        return "mobilenetv2"
    if any(k.startswith(("stem.", "stages.")) for k in keys):
        return "mobileone"
    return "resnet"


def _fold_non_local_bias(out: dict[str, torch.Tensor], origin: dict[str, str]) -> None:
    """Fold the original repo's ``nl.W.0.bias`` into the BN after it: ``running_mean -= bias`` (exact)."""
    for key in [k for k in out if k.endswith(".non_local_block.conv_out.bias")]:
        mean_key = key[: -len("conv_out.bias")] + "bn.running_mean"
        bias = out.pop(key)
        src = origin.pop(key)
        if mean_key in out:
            out[mean_key] = out[mean_key] - bias.to(out[mean_key].dtype)
            origin[mean_key] = f"{origin[mean_key]} - {src}"
        else:
            out[key] = bias  # left for check_state_dict to report
            origin[key] = src


def check_direction(layout: str, family: str, shift_direction: str) -> None:
    """Raise a ``ValueError`` when the file's layout tells a shift direction other than the model's.

    MMAction2 and the original repo's offline training only make bi-directional shifts; the online demo's
    file (``"tsm_online"``) is uni-directional. Our own files carry their direction in ``config.json``.
    """
    if layout == "tsm_online" and shift_direction != "online":
        raise ValueError(
            "this is the original online demo's checkpoint (bare features.*/classifier.*): its shifts are "
            f"uni-directional, the model was built with shift_direction={shift_direction!r}; build it with "
            "shift_direction='online', e.g. create_model('tsm_mobilenetv2', num_classes=27, shift_direction='online')"
        )
    if layout in ("mmaction2", "tsm") and shift_direction == "online":
        raise ValueError(
            f"this {layout} checkpoint was trained with the bi-directional shift (the only one MMAction2 and the "
            "original repo's offline training make); the model was built with shift_direction='online'. Build it "
            "with shift_direction='bidirectional' (the default)."
        )


def check_non_local(state_dict: Mapping[str, torch.Tensor], non_local: str | None) -> None:
    """Raise a ``ValueError`` when the converted checkpoint's non-local blocks do not fit the model's setting.

    ``gaussian`` blocks have no ``theta``/``phi`` convs, the other two modes do; ``embedded_gaussian`` and
    ``dot_product`` have the same tensors (MMAction2 records the mode in ``meta`` config text, checked by
    :func:`check_config_text`).
    """
    blocks = sorted({k.split(".non_local_block.")[0] for k in state_dict if ".non_local_block." in k})
    if not blocks and non_local is None:
        return
    if not blocks:
        raise ValueError(
            f"the model has non-local blocks (non_local={non_local!r}) but the checkpoint has none; build it with "
            "non_local=None"
        )
    has_theta = any(".non_local_block.theta." in k for k in state_dict)
    modes = "'embedded_gaussian' or 'dot_product'" if has_theta else "'gaussian'"
    if non_local is None:
        raise ValueError(
            f"the checkpoint has non-local blocks after {', '.join(blocks)}; build the model with non_local={modes}"
        )
    if has_theta == (non_local == "gaussian"):
        raise ValueError(
            f"the checkpoint's non-local blocks are mode {modes} ({'with' if has_theta else 'without'} theta/phi "
            f"convs), the model has non_local={non_local!r}; build it with non_local={modes}"
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
    state_dict: Mapping[str, torch.Tensor], layout: str | None = None, family: str | None = None
) -> tuple[dict[str, torch.Tensor], list[str], dict[str, str]]:
    """Rename keys without checking them against a model.

    Args:
        state_dict: the raw state dict.
        layout: one of :data:`LAYOUTS` (detected when ``None``).
        family: the model family the weights are for (one of :data:`FAMILIES`); when given, a checkpoint of
            another family is refused with a ``ValueError`` naming both.

    Returns:
        ``(renamed, unplaced, origin)``: the renamed dict (our keys), the source keys no rule could place,
        and ``{our key: source key}``.
    """
    layout = layout or detect_layout(state_dict)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown checkpoint layout {layout!r}; expected one of {LAYOUTS}")
    found = detect_family(state_dict, layout)
    if family is not None and family != found:
        raise ValueError(
            f"this {layout} checkpoint holds {FAMILY_NAMES[found]}, but the model is "
            f"{FAMILY_NAMES.get(family, family)}; "
            f"expected {FAMILY_NAMES.get(family, family)} weights (or build the matching architecture)"
        )
    renamer = _RENAMERS.get((layout, found))
    if renamer is None:
        raise ValueError(f"no converter for {FAMILY_NAMES[found]} in the {layout} layout")
    out, unplaced, origin = _rename_all(state_dict, renamer)
    _fold_non_local_bias(out, origin)
    return out, unplaced, origin


def convert_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    layout: str | None = None,
    target: Mapping[str, Any] | None = None,
    family: str | None = None,
) -> dict[str, torch.Tensor]:
    """Rename a checkpoint's state dict to our keys; check it against ``target`` when given.

    Args:
        state_dict: the raw state dict (``checkpoint["state_dict"]`` for MMAction2 / TSM files).
        layout: one of :data:`LAYOUTS`; detected from the keys when ``None``.
        target: the model's state dict (or key -> shape); when given, every source key must find a place,
            every target key must be filled and all shapes must agree.
        family: the model family (:data:`FAMILIES`) the weights are for; another family's file is refused.

    Returns:
        A new dict with our keys (tensors are not copied).

    Raises:
        ValueError: unknown layout, unplaced keys, missing keys or wrong shapes (all listed in one message).
    """
    layout = layout or detect_layout(state_dict)
    out, unplaced, origin = rename_state_dict(state_dict, layout, family)
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

    Returns a dict with any of ``num_segments``, ``num_classes``, ``depth``, ``shift_div`` (ints),
    ``shift_place`` (``"residual"``/``"inplace"``) and ``non_local`` (the ``non_local_cfg`` mode). A field
    written with two different values is left out (ambiguous); MMAction2's defaults are not filled in here.
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
    # non_local_cfg=dict(..., mode='gaussian') of the non-local configs
    modes = set(re.findall(r"non_local_cfg\s*=\s*dict\([^)]*?\bmode\s*=\s*['\"](\w+)['\"]", text, re.S))
    if len(modes) == 1:
        facts["non_local"] = modes.pop()
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
        # MobileOneTSM shifts whole blocks (in place); ResNetTSM and MobileNetV2TSM the residual branch
        facts.setdefault("shift_place", "inplace" if "MobileOneTSM" in text else "residual")
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
