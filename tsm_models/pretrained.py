"""Resolve and load pretrained weights into a TSM (placeholder until the weights issue lands)."""

from __future__ import annotations

from typing import Any

from torch import nn

from .zoo import ZooEntry


def load_pretrained(model: nn.Module, pretrained: Any, entry: ZooEntry | None = None, base_model: str = "") -> None:
    raise NotImplementedError("pretrained weights are not implemented yet")
