"""Temporal shift: the zero-parameter, zero-FLOP temporal mixing of TSM.

Layout: the shift works on per-frame feature maps stacked video-major, ``(N * T, C, H, W)``:
all ``T = num_segments`` frames of video 0, then video 1, and so on. Frames are only ever mixed
inside one group of ``num_segments`` consecutive frames.

Bi-directional shift (MMAction2 ``TemporalShift.shift``, TSM paper): with ``fold = C // shift_div``,
channels ``[0, fold)`` of frame ``t`` take frame ``t + 1`` (the future), channels ``[fold, 2 * fold)``
take frame ``t - 1`` (the past), the other channels stay; the missing neighbour at each end of a group
is zero.

Online (uni-directional) shift, for streaming: channels ``[0, fold)`` of frame ``t`` take frame
``t - 1`` (zeros at ``t = 0``), nothing comes from the future, the other channels stay.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

__all__ = ["SHIFT_DIRECTIONS", "SHIFT_PLACES", "TemporalShift", "temporal_shift"]

ShiftDirection = Literal["bidirectional", "online"]
ShiftPlace = Literal["residual", "inplace"]
SHIFT_DIRECTIONS: tuple[str, ...] = ("bidirectional", "online")
SHIFT_PLACES: tuple[str, ...] = ("residual", "inplace")


def _check_shift_args(channels: int, num_segments: int, shift_div: int, direction: str) -> None:
    if direction not in SHIFT_DIRECTIONS:
        raise ValueError(f"shift_direction must be one of {SHIFT_DIRECTIONS}, got {direction!r}")
    if not isinstance(num_segments, int) or num_segments < 1:
        raise ValueError(f"num_segments must be a positive int, got {num_segments!r}")
    min_div = 2 if direction == "bidirectional" else 1
    if not isinstance(shift_div, int) or shift_div < min_div:
        raise ValueError(f"shift_div must be an int >= {min_div} for a {direction} shift, got {shift_div!r}")
    if shift_div > channels:
        raise ValueError(
            f"shift_div={shift_div} is larger than the {channels} channels being shifted: "
            f"fold = channels // shift_div would be 0 (expected shift_div <= {channels})"
        )


def temporal_shift(
    x: torch.Tensor,
    num_segments: int,
    shift_div: int = 8,
    direction: ShiftDirection = "bidirectional",
) -> torch.Tensor:
    """Shift a fraction of the channels along time.

    Args:
        x: per-frame features ``(N * T, C, H, W)`` (any memory format), ``T = num_segments``.
        num_segments: frames per group; the shift never crosses a group.
        shift_div: ``fold = C // shift_div`` channels move each way.
        direction: ``"bidirectional"`` (MMAction2/TSM offline) or ``"online"`` (past -> present only).

    Returns:
        A new tensor of the same shape, dtype and memory format; ``x`` is not modified.
    """
    if x.ndim != 4:
        raise ValueError(f"temporal_shift expects (N*T, C, H, W) features, got shape {tuple(x.shape)}")
    nt, c, h, w = x.shape
    _check_shift_args(c, num_segments, shift_div, direction)
    if nt % num_segments != 0:
        raise ValueError(
            f"temporal_shift got {nt} frames, not a multiple of num_segments={num_segments} "
            "(frames must be stacked video-major as (N*T, C, H, W))"
        )
    fold = c // shift_div
    src = x.view(nt // num_segments, num_segments, c, h, w)
    out = torch.empty_like(src)
    if direction == "bidirectional":
        # channels [0, fold): frame t <- frame t+1; zero at the last frame
        out[:, :-1, :fold] = src[:, 1:, :fold]
        out[:, -1:, :fold] = 0
        # channels [fold, 2*fold): frame t <- frame t-1; zero at the first frame
        out[:, 1:, fold : 2 * fold] = src[:, :-1, fold : 2 * fold]
        out[:, :1, fold : 2 * fold] = 0
        out[:, :, 2 * fold :] = src[:, :, 2 * fold :]
    else:
        # channels [0, fold): frame t <- frame t-1; zero at the first frame
        out[:, 1:, :fold] = src[:, :-1, :fold]
        out[:, :1, :fold] = 0
        out[:, :, fold:] = src[:, :, fold:]
    return out.view(nt, c, h, w)


class TemporalShift(nn.Module):
    """Apply :func:`temporal_shift` to the input, then the wrapped module ``net``.

    Wrapping ``block.conv1`` gives the residual shift (MMAction2 ``blockres``): only the residual
    branch sees shifted features. Wrapping a whole block gives the in-place shift (MMAction2 ``block``):
    branch and shortcut both see them. The wrapped parameters appear under ``.net.`` in the state dict,
    as in MMAction2 and the original TSM code.

    Input and output: ``(N * T, C, H, W)``.
    """

    def __init__(
        self,
        net: nn.Module,
        channels: int,
        num_segments: int = 8,
        shift_div: int = 8,
        direction: ShiftDirection = "bidirectional",
    ) -> None:
        super().__init__()
        _check_shift_args(channels, num_segments, shift_div, direction)
        self.net = net
        self.channels = channels
        self.num_segments = num_segments
        self.shift_div = shift_div
        self.direction = direction

    @property
    def fold(self) -> int:
        """Number of channels moved in each direction."""
        return self.channels // self.shift_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(temporal_shift(x, self.num_segments, self.shift_div, self.direction))

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, num_segments={self.num_segments}, shift_div={self.shift_div}, "
            f"direction={self.direction!r}"
        )
