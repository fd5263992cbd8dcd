"""Helpers shared by several test modules (import as `from _helpers import ...`)."""

from __future__ import annotations

import torch


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every BN non-trivial affine parameters and running statistics, and the fc a visible scale.

    timm zero-initialises the last BN of each block (so a fresh residual branch outputs 0 and the shift
    would have no effect) and TSM initialises the fc with std 0.001; tests want every path to matter.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            elif isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.1)
    return model
