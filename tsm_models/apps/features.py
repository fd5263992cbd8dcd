"""Features of a dataset to disk: one ``.safetensors`` per video and an ``index.jsonl``, resumable.

>>> report = tsm_models.extract_features(model, "videos/", "features/", pool="avg", workers=4)
>>> report.failed                      # [(video, error), ...]: unreadable videos, listed, never fatal
>>> safetensors.torch.load_file("features/videos__a.mp4.safetensors")["features"].shape   # (C,)

Per video the features are taken from the network's last feature maps ``(V, T, C, h, w)``
(:meth:`forward_features` of the ``V`` views of ``T`` frames):

* ``pool="avg"``: the clip feature ``(C,)``, the model's pre-logits (global pool, mean over frames) averaged
  over the views; ``model.fc`` of it gives the logits.
* ``pool="frame"``: per-frame pooled features ``(T, C)`` (``(V, T, C)`` with several views).
* ``pool="none"``: the maps ``(T, C, h, w)`` (``(V, T, C, h, w)`` with several views).

``views="single"``: one center-cropped clip of the entry's ``num_frames`` uniformly sampled frames;
``views="protocol"``: the zoo entry's full test views (clips x crops).

Resuming: a video is done once its file is written (atomically) and its line is in ``index.jsonl``; a rerun
into the same folder skips done videos, so a killed run loses at most the videos in flight. Videos that
cannot be read are listed in ``failed.jsonl`` (and in the returned report) and do not stop the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from .._io import atomic_write
from ..data.video import DEFAULT_FILENAME_TEMPLATES
from ..data.views import VideoViews
from ..inference import VideoClassifier
from ._outputs import is_url

__all__ = [
    "POOLS",
    "VIDEO_EXTENSIONS",
    "FeatureReport",
    "extract_features",
    "feature_file_name",
    "list_videos",
    "load_index",
]

_logger = logging.getLogger(__name__)

POOLS = ("avg", "frame", "none")
VIEWS = ("single", "protocol")
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".flv", ".mpg", ".mpeg", ".wmv", ".3gp", ".ogv", ".ts"}
)
INDEX = "index.jsonl"
FAILED = "failed.jsonl"


@dataclass
class FeatureReport:
    """What :func:`extract_features` did: files written now, videos skipped as already done, failures."""

    out_dir: Path
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _is_frame_folder(path: Path) -> bool:
    return any((path / t.format(s)).is_file() for t in DEFAULT_FILENAME_TEMPLATES for s in (0, 1))


def list_videos(list_or_folder: str | os.PathLike, root: str | os.PathLike | None = None) -> list[str]:
    """The videos of a folder (recursively: video files and raw-frame folders) or of a list file.

    A list file has one video per line (path or http(s) URL); MMAction2 annotation lines (``path label`` or
    ``folder total_frames label``) are accepted, the trailing numbers are dropped. Relative paths are taken from
    ``root`` (default: the list file's folder). Blank lines and lines starting with ``#`` are skipped.
    """
    src = Path(list_or_folder)
    if src.is_dir():
        if _is_frame_folder(src):
            return [os.fspath(src)]
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames.sort()
            here = Path(dirpath)
            for d in list(dirnames):
                if _is_frame_folder(here / d):
                    found.append(os.fspath(here / d))
                    dirnames.remove(d)
            found.extend(os.fspath(here / f) for f in sorted(filenames) if Path(f).suffix.lower() in VIDEO_EXTENSIONS)
        return sorted(found)
    if not src.is_file():
        raise FileNotFoundError(f"no such video list or folder: {os.fspath(src)}")
    base = Path(root) if root is not None else src.parent
    videos = []
    for number, raw in enumerate(src.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if is_url(line):
            videos.append(line.split()[0])
            continue
        parts = line.split()
        while len(parts) > 1 and parts[-1].lstrip("-").isdigit():
            parts.pop()
        path = Path(" ".join(parts))
        if path.suffix.lower() not in VIDEO_EXTENSIONS and not path.suffix and not (base / path).exists():
            _logger.debug("%s:%d: %s is neither a video file nor a folder (yet)", src, number, path)
        videos.append(os.fspath(path if path.is_absolute() else base / path))
    return videos


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def feature_file_name(video: str, base: str | os.PathLike | None) -> str:
    """File name of a video's features: its path relative to ``base`` with ``/`` -> ``__``, + ``.safetensors``."""
    if is_url(video):
        tail = os.path.basename(urlparse(video).path) or "video"
        return f"{tail}-{_short_hash(video)}.safetensors"
    path = os.path.abspath(video)
    if base is not None:
        rel = os.path.relpath(path, os.path.abspath(base))
        if not rel.startswith(os.pardir) and rel != os.curdir:
            return rel.replace(os.sep, "__") + ".safetensors"
    return f"{os.path.basename(path.rstrip(os.sep))}-{_short_hash(path)}.safetensors"


def _read_index(path: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill
            continue
        if isinstance(entry, dict) and "video" in entry and "file" in entry:
            done[entry["video"]] = entry
    return done


def _pool_features(model: nn.Module, views: torch.Tensor, pool: str, batch_size: int) -> torch.Tensor:
    """``(V, T, 3, S, S)`` views -> the video's features (see the module docs for the shapes)."""
    outs = []
    for chunk in views.split(batch_size):
        feats = model.forward_features(chunk)  # (v, T, C, h, w)
        if pool == "avg":
            outs.append(model.forward_head(feats, pre_logits=True).float())  # (v, C)
        elif pool == "frame":
            frames = feats.flatten(0, 1)
            head = getattr(model, "forward_frame_head", None)
            pooled = head(frames, pre_logits=True) if head is not None else model.global_pool(frames)
            outs.append(pooled.flatten(1).unflatten(0, feats.shape[:2]).float())  # (v, T, C)
        else:
            outs.append(feats.float())
    x = torch.cat(outs)
    if pool == "avg":
        return x.mean(0)
    return x[0] if x.shape[0] == 1 else x


def extract_features(
    model: nn.Module | VideoClassifier,
    videos: str | os.PathLike | Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    pool: str = "avg",
    views: str = "single",
    workers: int = 0,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    root: str | os.PathLike | None = None,
    progress: bool = True,
    model_name: str | None = None,
) -> FeatureReport:
    """Write the features of every video to ``out_dir`` (one ``.safetensors`` each + ``index.jsonl``).

    Args:
        model: a TSM (its zoo entry gives the test protocol) or a :class:`~tsm_models.VideoClassifier`.
        videos: a folder (searched recursively), a list file, or the videos themselves (paths or URLs).
        out_dir: output folder; videos already in its ``index.jsonl`` (with their file) are skipped.
        pool: ``"avg"`` ``(C,)``, ``"frame"`` ``(T, C)`` or ``"none"`` ``(T, C, h, w)`` per video.
        views: ``"single"`` (one center clip) or ``"protocol"`` (the entry's test views).
        workers: DataLoader worker processes decoding videos (0: decode in this process).
        batch_size: views per forward pass.
        device: run the model there.
        root: base folder of relative paths in a list file, and of the feature file names.
        progress: show a progress bar on stderr.
        model_name: recorded in each file's metadata (default: the zoo entry's name).

    Returns:
        A :class:`FeatureReport` (``failed``: the unreadable videos with their errors).
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)}, got {pool!r}")
    if views not in VIEWS:
        raise ValueError(f"views must be one of {', '.join(VIEWS)}, got {views!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an int >= 0, got {workers!r}")
    clf = model if isinstance(model, VideoClassifier) else VideoClassifier(model, device=device, batch_size=batch_size)
    net = clf.model
    if isinstance(videos, (str, os.PathLike)):
        base = Path(root) if root is not None else (Path(videos) if Path(videos).is_dir() else Path(videos).parent)
        items = list_videos(videos, root)
    else:
        items = [os.fspath(v) for v in videos]
        base = Path(root) if root is not None else None
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {os.fspath(out)!r} is a file; expected a folder")
    out.mkdir(parents=True, exist_ok=True)
    protocol = clf.protocol
    if views == "single":
        protocol = replace(protocol, sampling="uniform", num_clips=1, crop="center", num_crops=1)
    index_path = out / INDEX
    done = {v: e for v, e in _read_index(index_path).items() if (out / e["file"]).is_file()}
    report = FeatureReport(out)
    todo = []
    names: dict[str, str] = {}
    for video in items:
        if video in done:
            report.skipped.append(video)
            continue
        name = feature_file_name(video, base)
        if name in names.values():  # two inputs mapping to one name (a/b.mp4 and a__b.mp4)
            name = f"{name[: -len('.safetensors')]}-{_short_hash(video)}.safetensors"
        names[video] = name
        todo.append(video)
    if report.skipped:
        _logger.info("%d of %d videos already done in %s", len(report.skipped), len(items), out)
    meta = {
        "model": model_name or _entry_name(clf.entry, net),
        "pool": pool,
        "views": views,
        "num_frames": str(protocol.num_frames),
    }
    if index_path.is_file() and index_path.stat().st_size:
        with open(index_path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":  # a line cut by a kill: end it, so the next line stands alone
                with open(index_path, "a", encoding="utf-8") as g:
                    g.write("\n")
    from safetensors.torch import save as save_safetensors
    from tqdm import tqdm

    dataset = VideoViews(todo, protocol, clf.transform if views == "protocol" else None)
    bar = tqdm(total=len(todo), unit="video", disable=not progress or not todo, file=sys.stderr)
    device_ = clf.device
    try:
        with open(index_path, "a", encoding="utf-8") as index:
            for item in dataset.loader(num_workers=workers):
                bar.update()
                video = todo[item.index]
                if not item.ok:
                    report.failed.append((video, item.error or "unknown error"))
                    continue
                with torch.inference_mode():
                    feats = _pool_features(net, item.views.to(device_), pool, clf.batch_size).cpu().contiguous()
                name = names[video]
                data = save_safetensors({"features": feats}, metadata={**meta, "video": video})
                with atomic_write(out / name, "wb") as f:
                    f.write(data)
                entry = {
                    "video": video,
                    "file": name,
                    "shape": list(feats.shape),
                    **{k: meta[k] for k in ("pool", "views")},
                }
                index.write(json.dumps(entry, ensure_ascii=False) + "\n")
                index.flush()
                os.fsync(index.fileno())
                report.written.append(video)
    finally:
        bar.close()
    failed_path = out / FAILED
    if report.failed:
        with atomic_write(failed_path, "w") as f:
            for video, error in report.failed:
                f.write(json.dumps({"video": video, "error": error}, ensure_ascii=False) + "\n")
    elif failed_path.exists():
        failed_path.unlink()
    return report


def _entry_name(entry: Any, net: nn.Module) -> str:
    if entry is None:
        return type(net).__name__
    name = getattr(entry, "name", None)
    return str(name) if name else f"{entry.arch}.{entry.tag}"


def load_index(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The entries of ``out_dir/index.jsonl`` (the last one per video), in file order."""
    return list(_read_index(Path(out_dir) / INDEX).values())
