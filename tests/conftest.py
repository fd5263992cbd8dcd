"""Shared fixtures: tiny TSMs on timm ResNets, small enough for 32-64 px inputs on CPU."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from _helpers import randomize_
from timm.models.resnet import BasicBlock, Bottleneck

from tsm_models import TSM


@pytest.fixture
def tiny_tsm() -> Callable[..., TSM]:
    """Factory of tiny TSMs: ``tiny_tsm(block="basic"|"bottleneck", **tsm_kwargs)``, randomised, in eval mode."""

    def make(block: str = "basic", **kwargs: Any) -> TSM:
        kwargs.setdefault("num_classes", 5)
        kwargs.setdefault("num_segments", 4)
        block_cls = BasicBlock if block == "basic" else Bottleneck
        channels = (8, 16, 32, 64) if block == "basic" else (4, 8, 16, 32)
        model = TSM(block=block_cls, layers=kwargs.pop("layers", (1, 1, 1, 1)), channels=channels, **kwargs)
        return randomize_(model).eval()

    return make


@pytest.fixture
def video() -> Callable[..., torch.Tensor]:
    """Factory of random normalised videos ``(B, T, 3, H, W)``."""

    def make(b: int = 2, t: int = 4, size: int = 32, seed: int = 0) -> torch.Tensor:
        return torch.randn(b, t, 3, size, size, generator=torch.Generator().manual_seed(seed))

    return make


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Run a module's tests with one intra-op thread: tiny tensors gain nothing from more, and a busy
    2-core machine makes threads wait on each other (use ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
