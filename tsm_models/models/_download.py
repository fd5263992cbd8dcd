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
import json
import logging
import os
import time
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
    "DIGEST_KEY",
    "DownloadError",
    "download_deadline",
    "download_url",
    "get_cache_dir",
    "hub_download",
    "remove_stale_parts",
    "save_safetensors_atomic",
    "sha256_file",
    "snapshot_folder",
    "verify_safetensors",
]

_logger = logging.getLogger(__name__)

CACHE_ENV = "TSM_MODELS_CACHE"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
_CHUNK = 1 << 20
# sha256 of a converted file's tensor bytes, kept in its safetensors metadata and checked on every cache hit.
DIGEST_KEY = "tsm_models_sha256"
# A download must average at least this many bytes per second (after the first `timeout`) to finish.
MIN_DOWNLOAD_RATE = 50_000
_UNKNOWN_SIZE_DEADLINE = 3600.0
# Temporary files of runs that died (kill -9, power cut) are removed after this long.
STALE_PART_AGE = 86400.0


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

    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    data = save(tensors, metadata=metadata)
    header = int.from_bytes(data[:8], "little")
    digest = hashlib.sha256(memoryview(data)[8 + header :]).hexdigest()
    data = save(tensors, metadata={**metadata, DIGEST_KEY: digest})  # same tensor bytes, the digest in the header
    with atomic_write(path) as f:
        f.write(data)


def verify_safetensors(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a whole safetensors file whose tensor bytes match the digest in its metadata.

    Files without a digest (written by other tools) pass when their header and size are consistent.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            header_len = int.from_bytes(f.read(8), "little")
            if not 2 <= header_len <= size - 8:
                return False
            header = json.loads(f.read(header_len))
            ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
            if size != 8 + header_len + max(ends, default=0):
                return False
            expected = (header.get("__metadata__") or {}).get(DIGEST_KEY)
            if expected is None:
                return True
            digest = hashlib.sha256()
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)
            return digest.hexdigest() == expected
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return False


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
    deadline: float | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically, checking length and sha256 prefix.

    ``timeout`` bounds each read; ``deadline`` (seconds, default :func:`download_deadline` of the announced
    size) bounds the whole transfer, so a server trickling bytes cannot hold the caller for days. Temporary
    files older than a day (left by runs that were killed) are removed from ``dest``'s folder first.

    Raises:
        DownloadError: the server could not be reached, the transfer ended early or missed its deadline.
        ValueError: the file's sha256 does not start with ``sha256_prefix``.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    remove_stale_parts(dest.parent)
    digest = hashlib.sha256()
    received = 0
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_write(dest) as f:
            total = int(response.headers.get("Content-Length") or 0) or None
            limit = download_deadline(total, timeout) if deadline is None else float(deadline)
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                for chunk in iter(lambda: response.read1(_CHUNK), b""):  # read1: returns what has arrived
                    if time.monotonic() - start > limit:
                        raise DownloadError(
                            f"could not download {url}: not finished within the deadline of {limit:.0f} s "
                            f"(got {received} of {total or 'an unknown number of'} bytes; the server is too slow)"
                        )
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


def download_deadline(total_bytes: int | None, timeout: float = 30.0) -> float:
    """Seconds a download of ``total_bytes`` may take: ``timeout`` + the size at ``MIN_DOWNLOAD_RATE``
    (50 kB/s: 34 min for a 100 MB checkpoint); one hour when the server announces no size."""
    if not total_bytes:
        return max(_UNKNOWN_SIZE_DEADLINE, timeout)
    return float(timeout) + total_bytes / MIN_DOWNLOAD_RATE


def remove_stale_parts(folder: Path, max_age: float = STALE_PART_AGE) -> list[Path]:
    """Delete ``.*.part`` temporary files in ``folder`` older than ``max_age`` seconds; return them."""
    removed = []
    now = time.time()
    try:
        candidates = list(folder.glob(".*.part"))
    except OSError:
        return removed
    for part in candidates:
        try:
            if part.is_file() and now - part.stat().st_mtime > max_age:
                part.unlink()
                removed.append(part)
        except OSError:  # another process removed or replaced it, or the folder is read-only
            continue
    if removed:
        _logger.info("removed %d stale temporary file(s) of interrupted runs from %s", len(removed), folder)
    return removed


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
