"""Weights on disk and online: the cache, verified downloads and Hub snapshots (a leaf: imports nothing above it).

* Cache: ``cache_dir`` argument > ``$TSM_MODELS_CACHE`` > ``$XDG_CACHE_HOME/tsm_models`` > ``~/.cache/tsm_models``.
  Only complete, verified files ever appear there: every write goes to a temporary file in the same
  folder and is moved into place with :func:`os.replace`.
* Downloads (:func:`download_url`) show a tqdm progress bar, check the length and the sha256 prefix.
* Hub (:func:`hub_download`): ``huggingface_hub.hf_hub_download``, so its cache (``HF_HUB_CACHE``) and
  offline mode (``HF_HUB_OFFLINE=1``) apply.
* Snapshots (:func:`snapshot_folder`): the ``config.json`` + ``model.safetensors`` of a Hub repo, as a folder.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

import torch

from .._io import atomic_write
from ..version import __version__

__all__ = [
    "CACHE_ENV",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "DownloadError",
    "download_url",
    "get_cache_dir",
    "hub_download",
    "save_safetensors_atomic",
    "sha256_file",
    "snapshot_folder",
]

_logger = logging.getLogger(__name__)

CACHE_ENV = "TSM_MODELS_CACHE"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
_CHUNK = 1 << 20


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


def snapshot_folder(repo: str) -> Path:
    """Local snapshot folder of Hub repo ``org/name[@revision]`` holding ``config.json`` + ``model.safetensors``."""
    repo_id, _, revision = repo.partition("@")
    config = hub_download(repo_id, CONFIG_NAME, revision=revision or None)
    weights = hub_download(repo_id, WEIGHTS_NAME, revision=revision or None)
    if config.parent != weights.parent:  # pragma: no cover - same snapshot by construction
        raise ValueError(f"{repo}: config.json and model.safetensors come from different snapshots")
    return weights.parent
