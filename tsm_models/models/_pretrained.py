"""Load pretrained weights into a TSM: ``create_model(name, pretrained=...)`` ends here.

``pretrained`` may be:

* ``False``: nothing is loaded;
* ``True``: the zoo checkpoint of the name's tag, looked up in this order: the local cache
  (:func:`~tsm_models.models._download.get_cache_dir`), the Hugging Face Hub repo ``entry.hf_hub_id``, then the
  original URL (download with progress, sha256-prefix check, conversion, stored in the cache as safetensors);
  or, for ``timm.create_model("hf-hub:..." | "local-dir:...", pretrained=True)``, that source;
* ``"imagenet"``: timm's ImageNet weights of the network the family wraps (``resnet50.tv_in1k``, the
  torchvision weights MMAction2 started from; the classifier is not loaded);
* a path: an MMAction2 ``.pth``, an original-TSM ``.pth``, a ``.safetensors`` file or a saved folder.

Every source goes through one pass: read -> convert to our keys -> check against the model (every key
placed, every shape right, the training config agreeing) -> strict load. The one exception to strictness is
the classifier: when the model's ``num_classes`` differs from the checkpoint's, it is left freshly initialised
and everything else must fit (fine-tuning, as in timm). A downloaded checkpoint is converted once and the
converted tensors are both cached and loaded.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from ._download import (
    DownloadError,
    download_url,
    get_cache_dir,
    save_safetensors_atomic,
    sha256_file,
    snapshot_folder,
    verify_safetensors,
)
from .checkpoint import Checkpoint, read_checkpoint
from .convert import check_config_text, check_direction, check_non_local, check_state_dict, rename_state_dict
from .shift import adapt_2d_state_dict
from .tsm import TSMConfig
from .zoo import ClipProtocol, ZooEntry

__all__ = [
    "checkpoint_num_classes",
    "convert_checkpoint",
    "load_checkpoint_into",
    "load_imagenet",
    "load_pretrained",
    "resolve_pretrained",
]

_logger = logging.getLogger(__name__)


def _head_keys(model: nn.Module) -> tuple[str, str]:
    """State-dict keys of the classifier (``fc.weight``, ``fc.bias`` for ResNets)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    name = cfg.get("classifier", "fc") if isinstance(cfg, dict) else "fc"
    return f"{name}.weight", f"{name}.bias"


def _depth(model: nn.Module) -> int | None:
    """ResNet depth (for the MMAction2 config check); ``None`` for other families."""
    if not all(hasattr(model, f"layer{i}") for i in range(1, 5)):
        return None
    blocks = [b for i in range(1, 5) for b in getattr(model, f"layer{i}")]
    per_block = 3 if any(hasattr(m, "conv3") for m in model.layer1.modules()) else 2
    return per_block * len(blocks) + 2


def _tuples(value: Any) -> Any:
    """JSON lists (e.g. ``non_local_blocks``) back to the tuples of :class:`TSMConfig`."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _check_saved_config(model: nn.Module, ckpt: Checkpoint) -> int | None:
    """Compare a saved folder's ``config.json`` with the model; return its ``num_classes``."""
    args = ckpt.config.get("model_args") or {}
    built = getattr(model, "tsm_config", None)
    wrong = [
        f"{k}={args[k]!r} (model: {getattr(built, k)!r})"
        for k in TSMConfig.ARCHITECTURE_FIELDS
        if built is not None and k in args and args[k] is not None and _tuples(args[k]) != getattr(built, k)
    ]
    if wrong:
        raise ValueError(f"{ckpt.path} was saved from a different architecture: " + ", ".join(wrong))
    classes = ckpt.config.get("num_classes")
    return int(classes) if isinstance(classes, int) else None


def convert_checkpoint(
    model: nn.Module, ckpt: Checkpoint, expected_classes: int | None = None
) -> dict[str, torch.Tensor]:
    """Convert ``ckpt`` to ``model``'s keys and check it; the classifier keeps the checkpoint's size.

    Args:
        model: the model the weights are for (its keys and shapes, apart from the classifier's rows).
        ckpt: from :func:`~tsm_models.models.checkpoint.read_checkpoint`.
        expected_classes: classifier rows the checkpoint must have (zoo record / saved config); ``None``
            accepts any.

    Returns:
        The converted state dict (our keys; every model key present, the classifier at its saved size).

    Raises:
        ValueError: unplaced, missing or mis-shaped keys (all listed), a classifier of the wrong size, or a
            training config (``meta['config']`` / ``config.json``) that contradicts the model.
    """
    saved_classes = _check_saved_config(model, ckpt)
    expected_classes = saved_classes if saved_classes is not None else expected_classes
    cfg = model.tsm_config  # type: ignore[attr-defined]
    family = getattr(model, "tsm_family", "") or None
    state_dict, unplaced, origin = rename_state_dict(ckpt.state_dict, ckpt.layout, family)
    if family is not None and getattr(model, "num_shifted", 0):
        check_direction(ckpt.layout, family, cfg.shift_direction)
    check_non_local(state_dict, cfg.non_local)
    head_w, head_b = _head_keys(model)
    fc = state_dict.get(head_w)
    ckpt_classes = int(fc.shape[0]) if fc is not None and fc.ndim == 2 else None
    if expected_classes is not None and ckpt_classes is not None and ckpt_classes != expected_classes:
        raise ValueError(
            f"{ckpt.path}: the classifier has {ckpt_classes} classes, expected {expected_classes} "
            "(wrong checkpoint for this model?)"
        )
    if ckpt.config_text is not None:
        expected = {k: getattr(cfg, k) for k in ("num_segments", "shift_div", "shift_place", "non_local")}
        check_config_text(ckpt.config_text, {**expected, "depth": _depth(model), "num_classes": ckpt_classes})
    target: dict[str, Any] = {k: v.shape for k, v in model.state_dict().items()}
    if ckpt_classes is not None and ckpt_classes != model.num_classes and head_w in target:
        target[head_w] = (ckpt_classes, *target[head_w][1:]) if model.num_classes else (ckpt_classes, fc.shape[1])
        target[head_b] = (ckpt_classes,)
    elif ckpt_classes is not None and not model.num_classes:  # a feature extractor (num_classes=0)
        target[head_w], target[head_b] = tuple(fc.shape), (ckpt_classes,)
    check_state_dict(state_dict, target, unplaced=unplaced, origin=origin)
    _check_values(state_dict, model.state_dict(), ckpt.path)
    return state_dict


def _check_values(state_dict: dict[str, torch.Tensor], own: dict[str, torch.Tensor], path: Any) -> None:
    """Refuse integer/bool tensors for float parameters (a cast would change them silently) and NaN/inf."""
    cast = [
        f"{k} ({v.dtype})"
        for k, v in state_dict.items()
        if k in own and own[k].is_floating_point() and not v.is_floating_point()
    ]
    if cast:
        raise ValueError(
            f"{path}: {len(cast)} tensors for float parameters are not floats: {', '.join(cast[:4])}"
            f"{', ...' if len(cast) > 4 else ''} (not a trained checkpoint of this model?)"
        )
    bad = [k for k, v in state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(
            f"{path}: {len(bad)} tensors hold NaN or inf values: {', '.join(bad[:4])}{', ...' if len(bad) > 4 else ''}"
            " (a diverged training run?); refusing to load weights that give NaN predictions"
        )


def checkpoint_num_classes(ckpt: Checkpoint, classifier: str = "fc") -> int | None:
    """Classifier rows of ``ckpt``: its saved ``config.json``'s ``num_classes``, else the shape of
    ``<classifier>.weight`` in our keys; ``None`` when it has no classifier."""
    classes = ckpt.config.get("num_classes")
    if isinstance(classes, int) and not isinstance(classes, bool):
        return classes
    state_dict, _, _ = rename_state_dict(ckpt.state_dict, ckpt.layout)
    weight = state_dict.get(f"{classifier}.weight")
    return int(weight.shape[0]) if weight is not None and weight.ndim == 2 else None


def _load_converted(model: nn.Module, state_dict: dict[str, torch.Tensor], what: str) -> None:
    """Strict load; the classifier is skipped (left fresh) when its size differs from the model's."""
    head = _head_keys(model)
    own = model.state_dict()
    drop = [k for k in head if k in state_dict and (k not in own or own[k].shape != state_dict[k].shape)]
    if drop:
        _logger.info("%s: classifier of another size, not loaded (the model keeps a fresh one)", what)
        state_dict = {k: v for k, v in state_dict.items() if k not in drop}
    missing, unexpected = model.load_state_dict(state_dict, strict=not drop)
    if unexpected or set(missing) - set(head):  # pragma: no cover - convert_checkpoint catches these first
        raise ValueError(f"unexpected load result: missing {missing}, unexpected {unexpected}")
    _logger.info("loaded %s (%d tensors)", what, len(state_dict))


def load_checkpoint_into(model: nn.Module, ckpt: Checkpoint, expected_classes: int | None = None) -> None:
    """Convert, check and strictly load ``ckpt`` into ``model`` (classifier dropped on a class change)."""
    _load_converted(model, convert_checkpoint(model, ckpt, expected_classes), f"{ckpt.path} ({ckpt.layout} layout)")


def _sha256_prefix(url: str, entry: ZooEntry) -> str | None:
    """The sha256 prefix in the file name (MMAction2 names carry one), else the record's (``None`` for the
    original TSM repo's files, whose downloads cannot be checked)."""
    found = re.search(r"-([0-9a-f]{8,64})\.pth(?:\.tar)?$", url.rsplit("/", 1)[-1])
    return found.group(1) if found else entry.sha256_prefix


def _cache_name(entry: ZooEntry, url: str) -> str:
    prefix = _sha256_prefix(url, entry)
    return f"{entry.name}-{prefix}.safetensors" if prefix else f"{entry.name}.safetensors"


def _from_url(model: nn.Module, entry: ZooEntry, url: str, dest: Path, progress: bool) -> dict[str, torch.Tensor]:
    """Download the original checkpoint, convert and check it once, cache the result; return it."""
    prefix = _sha256_prefix(url, entry)
    pth = dest.parent / url.rsplit("/", 1)[-1]
    if prefix is None:
        _logger.warning("%s carries no sha256 in its name: the download cannot be checked", url)
    elif pth.is_file() and not sha256_file(pth).startswith(prefix):
        _logger.warning("removing %s: its sha256 does not start with %s", pth, prefix)
        pth.unlink()
    if not pth.is_file():
        download_url(url, pth, sha256_prefix=prefix, progress=progress)
    try:
        try:
            state_dict = convert_checkpoint(model, read_checkpoint(pth), entry.num_classes)
        except ValueError as exc:
            raise ValueError(
                f"{url} does not match the zoo record of {entry.name}; nothing was stored: {exc}"
            ) from None
        meta = {"format": "pt", "source_url": url, "source_layout": "converted", "zoo_entry": entry.name}
        save_safetensors_atomic(state_dict, dest, meta)
    finally:
        pth.unlink(missing_ok=True)
    return state_dict


def resolve_pretrained(
    model: nn.Module,
    entry: ZooEntry,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    use_hub: bool = True,
    progress: bool = True,
) -> tuple[str, dict[str, torch.Tensor]]:
    """Find and convert the weights of ``entry``: local cache, then the Hub, then the original URL.

    Args:
        model: the model the weights are for (its shapes check the conversion).
        entry: the zoo record.
        cache_dir: cache folder (default: :func:`~tsm_models.models._download.get_cache_dir`).
        url: original checkpoint URL (default ``entry.url``; its file name carries the sha256 prefix).
        use_hub: try the Hugging Face Hub repo ``entry.hf_hub_id``.
        progress: show a progress bar while downloading.

    Returns:
        ``(where, state_dict)``: the source used and the checked weights in our keys.

    Raises:
        FileNotFoundError: nothing worked; the message lists what was tried and how to pass a local file.
        ValueError: a download failed its sha256 check, or a checkpoint does not match the record.
    """
    url = url or entry.url
    cached = get_cache_dir(cache_dir) / _cache_name(entry, url)
    tried = [f"local cache: {cached} does not exist"]
    if cached.is_file():
        if verify_safetensors(cached):
            return str(cached), convert_checkpoint(model, read_checkpoint(cached), entry.num_classes)
        _logger.warning("%s is damaged (digest mismatch or truncated): removing it and fetching it again", cached)
        cached.unlink(missing_ok=True)
        tried = [f"local cache: {cached} was damaged and removed"]
    if use_hub:
        try:
            folder = snapshot_folder(entry.hf_hub_id)
        except Exception as exc:  # any Hub failure (offline, missing repo, HTTP) is reported, then the URL is tried
            tried.append(f"Hugging Face Hub {entry.hf_hub_id}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        else:
            return str(folder), convert_checkpoint(model, read_checkpoint(folder), entry.num_classes)
    try:
        return url, _from_url(model, entry, url, cached, progress)
    except DownloadError as exc:
        tried.append(f"download {url}: {exc}")
    raise FileNotFoundError(
        f"could not get the pretrained weights of {entry.name}. Tried:\n  - "
        + "\n  - ".join(tried)
        + f"\nTo load a local copy instead, pass its path: create_model({entry.name!r}, pretrained='/path/to/"
        f"{entry.filename}') (the original .pth, a converted .safetensors or a saved folder), or place the "
        f"converted file at {cached}. Offline, set HF_HUB_OFFLINE=1 to skip the Hub's connection retries."
    )


def load_imagenet(model: nn.Module) -> None:
    """Load timm's ImageNet weights of ``model.base_model`` into the backbone (the classifier is not loaded)."""
    name = getattr(model, "base_model", "")
    if not name:
        raise ValueError("pretrained='imagenet' needs an architecture name such as 'tsm_r50' (its base network)")
    try:
        net = timm.create_model(name, pretrained=True)
    except Exception as exc:  # timm raises hub/HTTP/OS errors depending on what is missing
        raise FileNotFoundError(
            f"could not get timm's ImageNet weights {name!r} (timm looks in the Hugging Face Hub cache and then "
            f"online): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. Download them once "
            "with network access, or pass a local checkpoint path as pretrained=..."
        ) from None
    head = _head_keys(model)
    state_dict = {k: v for k, v in adapt_2d_state_dict(net.state_dict(), model).items() if k not in head}
    # non-local blocks are new (their init makes them identities, as MMAction2's): not in the 2D weights
    target = {k: v.shape for k, v in model.state_dict().items() if k not in head and ".non_local_block." not in k}
    check_state_dict(state_dict, target)
    model.load_state_dict(state_dict, strict=False)
    _logger.info("loaded timm ImageNet weights %s (classifier not loaded)", name)


def _take_config_labels(model: nn.Module, config: dict[str, Any]) -> None:
    """A saved folder's class names, multi-label flag and test protocol (``config.json``) go with its weights."""
    names = config.get("label_names") if config else None
    if isinstance(names, list) and len(names) == getattr(model, "num_classes", -1):
        model.label_names = [str(n) for n in names]
    if config and config.get("multi_label"):
        model.multi_label = True
    protocol = (config.get("tsm_models") or {}).get("protocol") if config else None
    if isinstance(protocol, dict):
        fields = {f.name for f in dataclasses.fields(ClipProtocol)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in protocol.items() if k in fields}
        model.clip_protocol = ClipProtocol(**values)


def load_pretrained(
    model: nn.Module,
    pretrained: Any,
    entry: ZooEntry | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    progress: bool = True,
) -> None:
    """Load the weights ``pretrained`` names into ``model`` (see the module docstring for the options).

    Args:
        model: a TSM of any family (``model.pretrained_cfg`` may name an ``hf-hub`` / ``local-dir`` source).
        pretrained: ``False``, ``True``, ``"imagenet"`` or a path.
        entry: the zoo record of the model (needed for ``True`` unless the cfg names a source).
        cache_dir, url, progress: see :func:`resolve_pretrained`.
    """
    if pretrained is False or pretrained is None:
        return
    if pretrained is True:
        cfg = getattr(model, "pretrained_cfg", None) or {}
        if cfg.get("source") == "hf-hub" and cfg.get("hf_hub_id"):
            ckpt = read_checkpoint(snapshot_folder(cfg["hf_hub_id"]))  # timm.create_model("hf-hub:org/name")
            load_checkpoint_into(model, ckpt, None)
            _take_config_labels(model, ckpt.config)
        elif cfg.get("source") == "local-dir" and cfg.get("file"):
            load_checkpoint_into(model, read_checkpoint(cfg["file"]), None)  # timm "local-dir:/path"
        elif entry is None:
            arch = cfg.get("architecture", "the architecture")
            tags = sorted(n for n in timm.list_models(f"{arch}.*", pretrained=True))
            raise ValueError(
                f"pretrained=True needs a checkpoint name (arch.tag); {arch!r} is an architecture. Its checkpoints: "
                f"{tags or 'none'}; or pass pretrained='imagenet' or a checkpoint path"
            )
        else:
            where, state_dict = resolve_pretrained(model, entry, cache_dir=cache_dir, url=url, progress=progress)
            _load_converted(model, state_dict, where)
    elif isinstance(pretrained, str) and pretrained == "imagenet":
        load_imagenet(model)
    elif isinstance(pretrained, (str, os.PathLike, Checkpoint)):
        ckpt = pretrained if isinstance(pretrained, Checkpoint) else read_checkpoint(pretrained)
        expected = entry.num_classes if entry is not None and ckpt.layout != "tsm_models" else None
        load_checkpoint_into(model, ckpt, expected)
        _take_config_labels(model, ckpt.config)
    else:
        raise TypeError(f"pretrained must be False, True, 'imagenet' or a path, got {type(pretrained).__name__}")
