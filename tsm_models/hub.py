"""Weights on disk and online: the cache, verified downloads, and the Hugging Face Hub format.

* Cache: ``cache_dir`` argument > ``$TSM_MODELS_CACHE`` > ``$XDG_CACHE_HOME/tsm_models`` > ``~/.cache/tsm_models``.
  Only complete, verified files ever appear there: every write goes to a temporary file in the same
  folder and is moved into place with :func:`os.replace`.
* Downloads (:func:`download_url`) show a tqdm progress bar, check the length and the sha256 prefix.
* Hub (:func:`hub_download`): ``huggingface_hub.hf_hub_download``, so its cache (``HF_HUB_CACHE``) and
  offline mode (``HF_HUB_OFFLINE=1``) apply.
* Distribution format (:func:`save_pretrained`, :func:`from_pretrained`, :func:`push_to_hub`): a folder with
  ``model.safetensors``, a timm-style ``config.json`` (``architecture``, ``num_classes``, ``model_args``,
  ``pretrained_cfg``, ``label_names``, plus a ``tsm_models`` block with the zoo record) and a ``README.md``
  model card (:mod:`tsm_models.model_card`).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ._io import atomic_write
from .checkpoint import CONFIG_NAME, WEIGHTS_NAME, read_config
from .labels import DATASETS, load_labels
from .model_card import model_card
from .version import __version__
from .zoo import ZOO, ZooEntry, resolve_alias

if TYPE_CHECKING:
    from .model import TSM

__all__ = [
    "CACHE_ENV",
    "DownloadError",
    "atomic_write",
    "download_url",
    "from_pretrained",
    "get_cache_dir",
    "hub_download",
    "model_config",
    "push_to_hub",
    "save_pretrained",
    "save_safetensors_atomic",
    "sha256_file",
    "snapshot_folder",
]

_logger = logging.getLogger(__name__)

CACHE_ENV = "TSM_MODELS_CACHE"
_CHUNK = 1 << 20
_MODEL_ARGS = ("num_classes", "num_segments", "shift_div", "shift_place", "shift_direction", "shift_every")
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+(@[\w./-]+)?$")


class DownloadError(OSError):
    """A download failed or came back incomplete (network trouble; nothing was stored)."""


def get_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Folder of converted zoo weights: ``cache_dir``, ``$TSM_MODELS_CACHE``, or ``~/.cache/tsm_models``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "tsm_models"


def save_safetensors_atomic(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write ``tensors`` (moved to CPU, contiguous) as safetensors at ``path``, atomically."""
    from safetensors.torch import save

    data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=metadata)
    with atomic_write(path) as f:
        f.write(data)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_url(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256_prefix: str | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download ``url`` to ``dest`` atomically, checking length and sha256 prefix.

    Raises:
        DownloadError: the server could not be reached or the transfer ended early.
        ValueError: the file's sha256 does not start with ``sha256_prefix``.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_write(dest) as f:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    f.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if total is not None and received != total:
                raise DownloadError(f"incomplete download of {url}: got {received} of {total} bytes")
            if sha256_prefix and not digest.hexdigest().startswith(sha256_prefix.lower()):
                raise ValueError(
                    f"sha256 mismatch for {url}: expected a hash starting with {sha256_prefix}, got "
                    f"{digest.hexdigest()[:16]}...; the download was discarded"
                )
    except http.client.IncompleteRead as exc:
        raise DownloadError(
            f"incomplete download of {url}: got {received + len(exc.partial)} bytes, then the connection closed"
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"could not download {url}: {reason}") from None
    _logger.info("downloaded %s (%d bytes, sha256 %s...)", url, received, digest.hexdigest()[:8])
    return dest


def hub_download(repo_id: str, filename: str, *, revision: str | None = None) -> Path:
    """``huggingface_hub.hf_hub_download`` (its cache, ``HF_HUB_OFFLINE`` and token apply)."""
    from huggingface_hub import hf_hub_download

    return Path(
        hf_hub_download(repo_id, filename, revision=revision, library_name="tsm_models", library_version=__version__)
    )


# ---------------------------------------------------------------------------------------------------------
# config.json


def _architecture(model: TSM) -> str:
    from .registry import ARCHS

    entry = getattr(model, "zoo_entry", None)
    if entry is not None:
        return entry.name
    name = resolve_alias(str((getattr(model, "pretrained_cfg", None) or {}).get("architecture", "")))
    if name in ARCHS or name in ZOO:
        return name
    raise ValueError(
        "save_pretrained needs a model built by tsm_models.create_model (its architecture name is recorded so "
        "from_pretrained can rebuild it); this model has no registered architecture"
    )


def model_config(model: TSM) -> dict[str, Any]:
    """The ``config.json`` dict for ``model`` (timm schema: ``timm.create_model('hf-hub:...')`` can read it)."""
    entry: ZooEntry | None = getattr(model, "zoo_entry", None)
    cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    keep = ("input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std", "first_conv", "classifier")
    pretrained_cfg = {k: cfg[k] for k in keep if k in cfg}
    pretrained_cfg.update(license=entry.license if entry else cfg.get("license", "apache-2.0"))
    model_args = {k: getattr(model, k) for k in _MODEL_ARGS}
    model_args["dropout"] = float(model.drop_rate)
    config: dict[str, Any] = {
        "architecture": _architecture(model),
        "num_classes": model.num_classes,
        "num_features": model.num_features,
        "global_pool": "avg",
        "model_args": model_args,
        "pretrained_cfg": pretrained_cfg,
        "tsm_models": {"version": __version__, "zoo_entry": entry.to_dict() if entry else None},
    }
    if entry is not None and entry.dataset in DATASETS and model.num_classes == entry.num_classes:
        config["label_names"] = load_labels(entry.dataset)
    return config


# ---------------------------------------------------------------------------------------------------------
# save / load / push


def save_pretrained(model: TSM, save_directory: str | os.PathLike[str], *, card: bool = True) -> Path:
    """Write ``model.safetensors``, ``config.json`` and (``card=True``) ``README.md`` into ``save_directory``.

    Each file is written atomically. Returns the folder.
    """
    out = Path(save_directory).expanduser()
    config = model_config(model)
    save_safetensors_atomic(model.state_dict(), out / WEIGHTS_NAME, {"format": "pt", "tsm_models": __version__})
    with atomic_write(out / CONFIG_NAME, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    if card:
        with atomic_write(out / "README.md", "w") as f:
            f.write(model_card(model, config))
    _logger.info("saved %s to %s", config["architecture"], out)
    return out


def snapshot_folder(repo: str) -> Path:
    """Local snapshot folder of Hub repo ``org/name[@revision]`` holding ``config.json`` + ``model.safetensors``."""
    repo_id, _, revision = repo.partition("@")
    config = hub_download(repo_id, CONFIG_NAME, revision=revision or None)
    weights = hub_download(repo_id, WEIGHTS_NAME, revision=revision or None)
    if config.parent != weights.parent:  # pragma: no cover - same snapshot by construction
        raise ValueError(f"{repo}: config.json and model.safetensors come from different snapshots")
    return weights.parent


def from_pretrained(name_or_path: str | os.PathLike[str], **kwargs: Any) -> TSM:
    """Load a model saved by :func:`save_pretrained`, from a folder or a Hub repo (``org/name[@revision]``).

    Loading is strict (every tensor must fit); ``num_classes=`` different from the saved model keeps the
    backbone and starts a new classifier. The model is returned in eval mode.

    Raises:
        FileNotFoundError: neither a folder nor a reachable/cached Hub repo.
        ValueError: the folder's config or weights do not describe a tsm_models model.
    """
    from .factory import create_model

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
    model = create_model(config["architecture"], pretrained=folder, **{**config["model_args"], **kwargs})
    return model.eval()


def push_to_hub(
    model: TSM,
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
