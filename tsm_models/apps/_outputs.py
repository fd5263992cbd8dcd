"""Checks on output paths, made before any work so a bad path fails in a second, not after the model ran."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["check_output", "is_url"]


def is_url(source: object) -> bool:
    """Whether ``source`` is an ``http(s)://`` (or ``rtsp://``) address rather than a path."""
    return isinstance(source, str) and source.lower().startswith(("http://", "https://", "rtsp://", "rtmp://"))


def check_output(path: str | os.PathLike, suffixes: Iterable[str], what: str = "output") -> Path:
    """Raise ``ValueError`` unless ``path`` ends in one of ``suffixes`` and its folder exists (or can be made)
    and is writable; ``IsADirectoryError`` when it names a folder."""
    out = Path(path)
    allowed = tuple(s.lower() for s in suffixes)
    if out.suffix.lower() not in allowed:
        raise ValueError(f"{what} {os.fspath(path)!r} must end in {' or '.join(allowed)}")
    if out.is_dir():
        raise ValueError(f"{what} {os.fspath(path)!r} is a folder; expected a file name")
    parent = out.parent if str(out.parent) else Path(".")
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {what} {os.fspath(path)!r}: {existing} is not a writable folder")
    return out
