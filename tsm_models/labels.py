"""Class names of the zoo datasets, packaged as ``tsm_models/labels/<dataset>.txt`` (one per line, index order)."""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["DATASETS", "DATASET_NAMES", "load_labels"]

DATASETS: tuple[str, ...] = ("kinetics400", "sthv1", "sthv2")
# Display names of the label sets, for generated documents.
DATASET_NAMES: dict[str, str] = {
    "kinetics400": "Kinetics-400",
    "sthv1": "Something-Something V1",
    "sthv2": "Something-Something V2",
}


@cache
def _read(dataset: str) -> tuple[str, ...]:
    text = resources.files(__package__).joinpath("labels", f"{dataset}.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


def load_labels(dataset: str) -> list[str]:
    """Class names of ``dataset`` (``"kinetics400"``, ``"sthv1"`` or ``"sthv2"``), in class-index order."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown label set {dataset!r}; expected one of {DATASETS}")
    return list(_read(dataset))
