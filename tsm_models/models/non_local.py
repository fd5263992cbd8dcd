"""Non-local blocks for TSM-ResNets (MMAction2 ``NL3DWrapper`` + mmcv ``NonLocal3d``; the original TSM repo's
``NL3DWrapper`` + ``NONLocalBlock3D``).

Layout: a wrapped ResNet block takes and returns per-frame maps ``(N * T, C, H, W)`` stacked video-major; the
non-local block views them as ``(N, C, T, H, W)`` clips of ``num_segments`` frames and attends over all
``T * H * W`` positions of a clip (``phi`` and ``g`` max-pooled 2x2 in space, ``sub_sample=True``):

* ``embedded_gaussian``: ``softmax(theta(x)^T phi(x))`` (unscaled, mmcv ``use_scale=False``), the original
  repo's only mode;
* ``gaussian``: ``softmax(x^T maxpool(x))`` (no ``theta``/``phi`` convs);
* ``dot_product``: ``theta(x)^T phi(x) / N``.

The output is ``x + bn(conv_out(y))`` with ``y = pairwise @ g(x)``. The position of every block (MMAction2
``non_local=((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0))``: after layer2.{0,2} and layer3.{0,2,4})
is set by :func:`insert_non_local`. State-dict keys: ``layer2.0.block.*`` (the ResNet block, shifts inside)
and ``layer2.0.non_local_block.{g,theta,phi}.{weight,bias}``, ``.conv_out.weight`` and ``.bn.*``, as in both
upstreams up to their module names (see :mod:`tsm_models.models.convert`).

Non-local blocks mix all frames of a clip, the future included, so a model with them cannot stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "NON_LOCAL_BLOCKS",
    "NON_LOCAL_MODES",
    "NonLocal3d",
    "NonLocalWrapper",
    "insert_non_local",
    "non_local_blocks",
    "resolve_non_local",
]

NonLocalMode = Literal["embedded_gaussian", "gaussian", "dot_product"]
NON_LOCAL_MODES: tuple[str, ...] = ("embedded_gaussian", "gaussian", "dot_product")
# MMAction2's (and the original repo's) placement on a ResNet-50: after layer2.{0,2} and layer3.{0,2,4}.
NON_LOCAL_BLOCKS: tuple[tuple[int, ...], ...] = ((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0))


class NonLocal3d(nn.Module):
    """Space-time non-local block on ``(N, C, T, H, W)``: ``x + bn(conv_out(pairwise(x) @ g(x)))``.

    Args:
        in_channels: ``C``; the inner width is ``C // 2``.
        mode: ``"embedded_gaussian"``, ``"gaussian"`` or ``"dot_product"`` (see the module docstring).

    The 1x1x1 convs ``g``, ``theta``, ``phi`` have biases, ``conv_out`` has none (a BatchNorm3d follows).
    Initialised as mmcv does: ``normal(std=0.01)`` convs, the output BN zeroed, so a new block is an identity.
    """

    def __init__(self, in_channels: int, mode: NonLocalMode = "embedded_gaussian") -> None:
        super().__init__()
        if mode not in NON_LOCAL_MODES:
            raise ValueError(f"non-local mode must be one of {NON_LOCAL_MODES}, got {mode!r}")
        self.in_channels = in_channels
        self.inter_channels = inter = max(in_channels // 2, 1)
        self.mode = mode
        self.g = nn.Conv3d(in_channels, inter, 1)
        if mode != "gaussian":
            self.theta = nn.Conv3d(in_channels, inter, 1)
            self.phi = nn.Conv3d(in_channels, inter, 1)
        self.conv_out = nn.Conv3d(inter, in_channels, 1, bias=False)
        self.bn = nn.BatchNorm3d(in_channels)
        for conv in (self.g, getattr(self, "theta", None), getattr(self, "phi", None)):
            if conv is not None:
                nn.init.normal_(conv.weight, std=0.01)
                nn.init.zeros_(conv.bias)
        nn.init.normal_(self.conv_out.weight, std=0.01)
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        inter = self.inter_channels
        g_x = F.max_pool3d(self.g(x), (1, 2, 2)).reshape(n, inter, -1).transpose(1, 2)  # (N, P', C/2)
        if self.mode == "gaussian":
            theta_x = x.reshape(n, c, -1).transpose(1, 2)  # (N, P, C)
            phi_x = F.max_pool3d(x, (1, 2, 2)).reshape(n, c, -1)  # (N, C, P')
        else:
            theta_x = self.theta(x).reshape(n, inter, -1).transpose(1, 2)
            phi_x = F.max_pool3d(self.phi(x), (1, 2, 2)).reshape(n, inter, -1)
        pairwise = torch.matmul(theta_x, phi_x)  # (N, P, P')
        # dot_product: divided by the number of positions; the other two: softmax (unscaled)
        pairwise = pairwise / pairwise.shape[-1] if self.mode == "dot_product" else pairwise.softmax(dim=-1)
        y = torch.matmul(pairwise, g_x).transpose(1, 2).reshape(n, inter, *x.shape[2:])
        return x + self.bn(self.conv_out(y))

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, mode={self.mode!r}"


class NonLocalWrapper(nn.Module):
    """A ResNet block followed by a :class:`NonLocal3d` over the clip: ``(N * T, C, H, W)`` in and out.

    Args:
        block: the (possibly shifted) ResNet block; its output channels size the non-local block.
        channels: output channels of ``block``.
        num_segments: frames per clip ``T`` (the non-local block attends within each group of ``T`` frames).
        mode: the pairwise function.
    """

    wrapped_child = "block"  # for adapt_2d_state_dict: the 2D network's keys lack this level

    def __init__(self, block: nn.Module, channels: int, num_segments: int, mode: NonLocalMode) -> None:
        super().__init__()
        self.block = block
        self.non_local_block = NonLocal3d(channels, mode)
        self.num_segments = num_segments

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(x)
        nt, c, h, w = x.shape
        t = self.num_segments
        if nt % t:
            raise ValueError(
                f"a non-local block got {nt} frames, not a multiple of num_segments={t} (it attends over whole "
                "clips, so it cannot run frame by frame)"
            )
        x = x.reshape(nt // t, t, c, h, w).transpose(1, 2)
        x = self.non_local_block(x)
        return x.transpose(1, 2).reshape(nt, c, h, w)


def resolve_non_local(
    non_local: str | Sequence[Sequence[int]] | None, non_local_blocks: Sequence[Sequence[int]] | None = None
) -> tuple[str | None, tuple[tuple[int, ...], ...] | None]:
    """Normalise the ``non_local`` setting to ``(mode, placement)``.

    ``non_local`` is a mode name (placement: ``non_local_blocks`` or :data:`NON_LOCAL_BLOCKS`), MMAction2's
    placement tuple (mode ``"embedded_gaussian"``, mmcv's default), or ``None`` (no blocks).

    Raises:
        TypeError / ValueError: an unknown mode or a placement that is not 4 sequences of 0/1.
    """
    if non_local is None:
        if non_local_blocks is not None:
            raise ValueError("non_local_blocks needs non_local='embedded_gaussian' | 'gaussian' | 'dot_product'")
        return None, None
    if isinstance(non_local, str):
        if non_local not in NON_LOCAL_MODES:
            raise ValueError(
                f"non_local must be one of {NON_LOCAL_MODES} (or MMAction2's placement tuple), got {non_local!r}"
            )
        mode = non_local
        placement = NON_LOCAL_BLOCKS if non_local_blocks is None else non_local_blocks
    elif isinstance(non_local, Sequence):
        if non_local_blocks is not None:
            raise ValueError("give the placement once: non_local=<tuple> or non_local_blocks=<tuple>")
        mode, placement = "embedded_gaussian", non_local
    else:
        raise TypeError(
            f"non_local must be a mode name {NON_LOCAL_MODES}, MMAction2's placement tuple or None, got "
            f"{type(non_local).__name__} {non_local!r}"
        )
    try:
        out = tuple(tuple(int(v) for v in stage) for stage in placement)
        ok = len(out) == 4 and all(v in (0, 1) for stage in out for v in stage)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            "the non-local placement must be 4 sequences of 0/1 flags, one per ResNet stage and block, e.g. "
            f"{NON_LOCAL_BLOCKS}; got {placement!r}"
        )
    if not any(v for stage in out for v in stage):
        raise ValueError(f"the non-local placement {out} places no block; use non_local=None instead")
    return mode, out


def insert_non_local(
    model: nn.Module, placement: Sequence[Sequence[int]], num_segments: int, mode: NonLocalMode
) -> int:
    """Wrap the blocks ``placement`` flags (stage ``layer{i+1}``, block ``j``) in :class:`NonLocalWrapper`.

    Call after the temporal shift is inserted (as MMAction2 and the original repo do).

    Raises:
        ValueError: the placement does not fit the model's stages (e.g. ResNet-101's 23-block layer3), naming
            the block counts expected.

    Returns:
        The number of non-local blocks inserted.
    """
    stages = [getattr(model, f"layer{i}") for i in range(1, 5)]
    counts = tuple(len(s) for s in stages)
    if tuple(len(p) for p in placement) != counts:
        raise ValueError(
            f"non_local placement {tuple(tuple(p) for p in placement)} does not fit this network: it has "
            f"{counts} blocks per stage, the placement expects {tuple(len(p) for p in placement)} (the released "
            "non-local models are ResNet-50s: (3, 4, 6, 3))"
        )
    count = 0
    for stage, flags in zip(stages, placement, strict=True):
        for j, flag in enumerate(flags):
            if flag:
                block = stage[j]
                inner = getattr(block, "net", block)  # an in-place shift wraps the whole block
                channels = inner.bn3.num_features if hasattr(inner, "bn3") else inner.bn2.num_features
                stage[j] = NonLocalWrapper(block, channels, num_segments, mode)
                count += 1
    return count


def non_local_blocks(model: nn.Module) -> list[tuple[str, NonLocalWrapper]]:
    """``(name, module)`` of every :class:`NonLocalWrapper` in ``model``."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, NonLocalWrapper)]
