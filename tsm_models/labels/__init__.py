"""Class names of the zoo datasets, packaged as ``tsm_models/labels/<dataset>.txt`` (one per line, index order).

A leaf of the package (standard library only): the models (for ``config.json`` and model cards), the data
pipeline and the command line all read class names from here.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

__all__ = ["DATASETS", "DATASET_NAMES", "load_labels", "read_labels"]

DATASETS: tuple[str, ...] = ("kinetics400", "sthv1", "sthv2")
# Display names of the label sets, for generated documents.
DATASET_NAMES: dict[str, str] = {
    "kinetics400": "Kinetics-400",
    "sthv1": "Something-Something V1",
    "sthv2": "Something-Something V2",
}


@cache
def _read(dataset: str) -> tuple[str, ...]:
    text = resources.files(__name__).joinpath(f"{dataset}.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


def load_labels(dataset: str) -> list[str]:
    """Class names of ``dataset`` (``"kinetics400"``, ``"sthv1"`` or ``"sthv2"``), in class-index order."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown label set {dataset!r}; expected one of {DATASETS}")
    return list(_read(dataset))


def read_labels(spec: str) -> list[str]:
    """Class names from a packaged label set (``"kinetics400"``, ``"sthv1"``, ``"sthv2"``) or a text file
    with one name per line (blank lines ignored), in class-index order."""
    if spec in DATASETS:
        return load_labels(spec)
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"labels: expected one of {DATASETS} or a text file of class names, got {spec!r}")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise ValueError(f"labels file {spec} holds no class names (expected one per line)")
    return names
