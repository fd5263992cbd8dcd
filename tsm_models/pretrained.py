"""Resolve and load pretrained weights into a TSM: ``create_model(name, pretrained=...)`` ends here.

``pretrained`` may be:

* ``False``: nothing is loaded;
* ``True``: the zoo checkpoint of the name, looked up in this order: the local cache
  (:func:`tsm_models.hub.get_cache_dir`), the Hugging Face Hub repo ``entry.hf_hub_id``, then the original
  MMAction2 URL (download with progress, sha256-prefix check, conversion, stored in the cache as safetensors);
* ``"imagenet"``: timm's ImageNet weights of the wrapped ResNet (``resnet50.tv_in1k``, the torchvision weights
  MMAction2 started from; the classifier is not loaded);
* a path: an MMAction2 ``.pth``, an original-TSM ``.pth``, a ``.safetensors`` file or a saved folder.

Loading is strict. The one exception is the classifier: when the model's ``num_classes`` differs from the
checkpoint's, ``fc`` is left freshly initialised and everything else must fit (fine-tuning, as in timm).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from timm.models.resnet import Bottleneck
from torch import nn

from .checkpoint import Checkpoint, read_checkpoint
from .convert import check_config_text, check_state_dict, rename_state_dict
from .hub import download_url, get_cache_dir, sha256_file, snapshot_folder
from .model import adapt_2d_state_dict
from .zoo import ZooEntry

__all__ = ["load_checkpoint_into", "load_imagenet", "load_pretrained", "resolve_pretrained"]

_logger = logging.getLogger(__name__)

_FC_KEYS = ("fc.weight", "fc.bias")
_TV_RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
_CHECKED_ARGS = ("num_segments", "shift_div", "shift_place", "shift_direction", "shift_every")


def _depth(model: nn.Module) -> int:
    blocks = [b for i in range(1, 5) for b in getattr(model, f"layer{i}")]
    per_block = 3 if any(isinstance(m, Bottleneck) for m in model.layer1.modules()) else 2
    return per_block * len(blocks) + 2


def _check_saved_config(model: nn.Module, ckpt: Checkpoint) -> int | None:
    """Compare a saved folder's ``config.json`` with the model; return its ``num_classes``."""
    args = ckpt.config.get("model_args") or {}
    wrong = [
        f"{k}={args[k]!r} (model: {getattr(model, k)!r})"
        for k in _CHECKED_ARGS
        if k in args and hasattr(model, k) and args[k] != getattr(model, k)
    ]
    if wrong:
        raise ValueError(f"{ckpt.path} was saved from a different architecture: " + ", ".join(wrong))
    classes = ckpt.config.get("num_classes")
    return int(classes) if isinstance(classes, int) else None


def load_checkpoint_into(model: nn.Module, ckpt: Checkpoint, expected_classes: int | None = None) -> None:
    """Convert ``ckpt`` to our keys and load it into ``model`` strictly (classifier dropped on a class change).

    Args:
        model: a :class:`~tsm_models.TSM`.
        ckpt: from :func:`~tsm_models.checkpoint.read_checkpoint`.
        expected_classes: classifier rows the checkpoint must have (the zoo record / saved config);
            ``None`` accepts any.

    Raises:
        ValueError: unplaced, missing or mis-shaped keys (all listed), a classifier of the wrong size, or a
            training config (``meta['config']`` / ``config.json``) that contradicts the model.
    """
    saved_classes = _check_saved_config(model, ckpt)
    expected_classes = saved_classes if saved_classes is not None else expected_classes
    state_dict, unplaced, origin = rename_state_dict(ckpt.state_dict, ckpt.layout)
    fc = state_dict.get("fc.weight")
    ckpt_classes = int(fc.shape[0]) if fc is not None and fc.ndim == 2 else None
    if expected_classes is not None and ckpt_classes is not None and ckpt_classes != expected_classes:
        raise ValueError(
            f"{ckpt.path}: the classifier has {ckpt_classes} classes, expected {expected_classes} "
            "(wrong checkpoint for this model?)"
        )
    if ckpt.config_text is not None:
        expected = {k: getattr(model, k, None) for k in ("num_segments", "shift_div", "shift_place")}
        check_config_text(ckpt.config_text, {**expected, "depth": _depth(model), "num_classes": ckpt_classes})
    target = {k: v.shape for k, v in model.state_dict().items()}
    drop_fc = ckpt_classes is not None and ckpt_classes != model.num_classes
    if drop_fc:
        _logger.info("checkpoint has %d classes, model %d: classifier not loaded", ckpt_classes, model.num_classes)
        state_dict = {k: v for k, v in state_dict.items() if k not in _FC_KEYS}
        target = {k: v for k, v in target.items() if k not in _FC_KEYS}
    check_state_dict(state_dict, target, unplaced=unplaced, origin=origin)
    missing, unexpected = model.load_state_dict(state_dict, strict=not drop_fc)
    if unexpected or set(missing) - set(_FC_KEYS):  # pragma: no cover - check_state_dict catches these first
        raise ValueError(f"unexpected load result: missing {missing}, unexpected {unexpected}")
    _logger.info("loaded %s (%s layout, %d tensors)", ckpt.path, ckpt.layout, len(state_dict))


def _sha256_prefix(url: str, entry: ZooEntry) -> str:
    found = re.search(r"-([0-9a-f]{8,64})\.pth$", url.rsplit("/", 1)[-1])
    return found.group(1) if found else entry.sha256_prefix


def _zoo_target(model: nn.Module, entry: ZooEntry) -> dict[str, Any]:
    target = {k: v.shape for k, v in model.state_dict().items() if k not in _FC_KEYS}
    target["fc.weight"] = (entry.num_classes, model.num_features)
    target["fc.bias"] = (entry.num_classes,)
    return target


def _convert_download(pth: Path, dest: Path, model: nn.Module, entry: ZooEntry, url: str) -> None:
    """Convert a verified original checkpoint to our keys and store it atomically as safetensors."""
    from .hub import save_safetensors_atomic

    ckpt = read_checkpoint(pth)
    if ckpt.config_text is not None:
        expected = {k: getattr(entry, k) for k in ("num_segments", "shift_div", "shift_place", "num_classes")}
        check_config_text(ckpt.config_text, {**expected, "depth": _depth(model)})
    state_dict, unplaced, origin = rename_state_dict(ckpt.state_dict, ckpt.layout)
    fc = state_dict.get("fc.weight")
    if fc is not None and fc.ndim == 2 and fc.shape[0] != entry.num_classes:
        raise ValueError(
            f"{url}: the classifier has {fc.shape[0]} classes, the zoo record of {entry.name} says "
            f"{entry.num_classes}; nothing was stored"
        )
    check_state_dict(state_dict, _zoo_target(model, entry), unplaced=unplaced, origin=origin)
    meta = {"format": "pt", "source_url": url, "source_layout": ckpt.layout, "zoo_entry": entry.name}
    save_safetensors_atomic(state_dict, dest, meta)


def _from_url(model: nn.Module, entry: ZooEntry, url: str, dest: Path, progress: bool) -> Path:
    prefix = _sha256_prefix(url, entry)
    pth = dest.parent / url.rsplit("/", 1)[-1]
    if pth.is_file() and not sha256_file(pth).startswith(prefix):
        _logger.warning("removing %s: its sha256 does not start with %s", pth, prefix)
        pth.unlink()
    if not pth.is_file():
        download_url(url, pth, sha256_prefix=prefix, progress=progress)
    try:
        _convert_download(pth, dest, model, entry, url)
    finally:
        pth.unlink(missing_ok=True)
    return dest


def resolve_pretrained(
    model: nn.Module,
    entry: ZooEntry,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    use_hub: bool = True,
    progress: bool = True,
) -> Path:
    """Find the converted weights of ``entry``: local cache, then the Hub, then the original URL.

    Args:
        model: the model the weights are for (its shapes check the conversion).
        entry: the zoo record.
        cache_dir: cache folder (default: :func:`tsm_models.hub.get_cache_dir`).
        url: original checkpoint URL (default ``entry.url``; its file name carries the sha256 prefix).
        use_hub: try the Hugging Face Hub repo ``entry.hf_hub_id``.
        progress: show a progress bar while downloading.

    Returns:
        A ``.safetensors`` file or a Hub snapshot folder.

    Raises:
        FileNotFoundError: nothing worked; the message lists what was tried and how to pass a local file.
        ValueError: a download failed its sha256 check, or a checkpoint does not match the record.
    """
    from .hub import DownloadError

    url = url or entry.url
    cached = get_cache_dir(cache_dir) / f"{entry.name}-{_sha256_prefix(url, entry)}.safetensors"
    if cached.is_file():
        return cached
    tried = [f"local cache: {cached} does not exist"]
    if use_hub:
        try:
            return snapshot_folder(entry.hf_hub_id)
        except Exception as exc:  # any Hub failure (offline, missing repo, HTTP) is reported, then the URL is tried
            tried.append(f"Hugging Face Hub {entry.hf_hub_id}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    try:
        return _from_url(model, entry, url, cached, progress)
    except DownloadError as exc:
        tried.append(f"download {url}: {exc}")
    raise FileNotFoundError(
        f"could not get the pretrained weights of {entry.name}. Tried:\n  - "
        + "\n  - ".join(tried)
        + f"\nTo load a local copy instead, pass its path: create_model({entry.name!r}, pretrained='/path/to/"
        f"{entry.filename}') (the original .pth, a converted .safetensors or a saved folder), or place the "
        f"converted file at {cached}. Offline, set HF_HUB_OFFLINE=1 to skip the Hub's connection retries."
    )


def load_imagenet(model: nn.Module, base_model: str) -> None:
    """Load timm's ImageNet weights of ``base_model`` into the backbone (the classifier is not loaded).

    Plain ResNets use the torchvision weights (``<base_model>.tv_in1k``) that MMAction2 initialised from;
    other bases use timm's default tag.
    """
    import timm

    if not base_model:
        raise ValueError("pretrained='imagenet' needs an architecture name such as 'tsm_r50' (its ResNet is known)")
    name = f"{base_model}.tv_in1k" if base_model in _TV_RESNETS else base_model
    try:
        resnet = timm.create_model(name, pretrained=True)
    except Exception as exc:  # timm raises hub/HTTP/OS errors depending on what is missing
        raise FileNotFoundError(
            f"could not get timm's ImageNet weights {name!r} (timm looks in the Hugging Face Hub cache and then "
            f"online): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. Download them once "
            "with network access, or pass a local checkpoint path as pretrained=..."
        ) from None
    state_dict = {k: v for k, v in adapt_2d_state_dict(resnet.state_dict(), model).items() if k not in _FC_KEYS}
    target = {k: v.shape for k, v in model.state_dict().items() if k not in _FC_KEYS}
    check_state_dict(state_dict, target)
    model.load_state_dict(state_dict, strict=False)
    _logger.info("loaded timm ImageNet weights %s (classifier not loaded)", name)


def load_pretrained(
    model: nn.Module,
    pretrained: Any,
    entry: ZooEntry | None = None,
    base_model: str = "",
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    url: str | None = None,
    progress: bool = True,
) -> None:
    """Load the weights ``pretrained`` names into ``model`` (see the module docstring for the options).

    Args:
        model: a :class:`~tsm_models.TSM`.
        pretrained: ``False``, ``True``, ``"imagenet"`` or a path.
        entry: the zoo record of the model (needed for ``True``).
        base_model: the timm ResNet the architecture wraps (needed for ``"imagenet"``).
        cache_dir, url, progress: see :func:`resolve_pretrained`.
    """
    if pretrained is False or pretrained is None:
        return
    if pretrained is True:
        cfg = getattr(model, "pretrained_cfg", None) or {}
        if cfg.get("source") == "hf-hub" and cfg.get("hf_hub_id"):
            source: Path = snapshot_folder(cfg["hf_hub_id"])  # timm.create_model("hf-hub:org/name", pretrained=True)
            entry = None
        elif cfg.get("source") == "local-dir" and cfg.get("file"):
            source, entry = Path(cfg["file"]), None  # timm.create_model("local-dir:/path", pretrained=True)
        elif entry is None:
            raise ValueError(
                "pretrained=True needs a zoo name (e.g. 'tsm_r50_1x1x8_kinetics400'); for an architecture name "
                "pass pretrained='imagenet' or a checkpoint path"
            )
        else:
            source = resolve_pretrained(model, entry, cache_dir=cache_dir, url=url, progress=progress)
        expected = entry.num_classes if entry is not None else None
        load_checkpoint_into(model, read_checkpoint(source), expected)
    elif isinstance(pretrained, str) and pretrained == "imagenet":
        load_imagenet(model, base_model)
    elif isinstance(pretrained, (str, os.PathLike)):
        ckpt = read_checkpoint(pretrained)
        expected = entry.num_classes if entry is not None and ckpt.layout != "tsm_models" else None
        load_checkpoint_into(model, ckpt, expected)
    else:
        raise ValueError(f"pretrained must be False, True, 'imagenet' or a path, got {pretrained!r}")
