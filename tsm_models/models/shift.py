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

Implementations (all give bit-identical results; they only move values):

* eager, no autograd: :class:`TemporalShift` shifts its input *in place*, runs the wrapped module and
  shifts the input back (:func:`temporal_shift_inplace`). Only ``2 * fold`` channels are touched, with no
  allocation of a shifted copy; the input is left exactly as it was, so the residual shortcut (which is
  the same tensor) and any caller still see the unshifted features;
* eager, autograd: one copy into an uninitialised output (only the boundary frames are zero-filled), with a
  hand-written backward (the gradient of a shift is the opposite shift), so no per-slice gradient clones;
* tracing (ONNX export) and ``torch.compile``: a pure slice + concat graph (ONNX ``Slice``/``Concat``, no
  ``ScatterND``; no graph break).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from torch import nn

__all__ = [
    "SHIFT_DIRECTIONS",
    "SHIFT_PLACES",
    "TemporalShift",
    "adapt_2d_state_dict",
    "remove_temporal_shift",
    "set_submodule",
    "shifted_modules",
    "temporal_shift",
    "temporal_shift_inplace",
]

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


def _check_input(x: torch.Tensor, num_segments: int, shift_div: int, direction: str) -> int:
    """Validate ``x`` and the arguments; return ``fold``."""
    if x.ndim != 4:
        raise ValueError(f"temporal_shift expects (N*T, C, H, W) features, got shape {tuple(x.shape)}")
    nt, c = x.shape[:2]
    _check_shift_args(c, num_segments, shift_div, direction)
    if nt % num_segments != 0:
        raise ValueError(
            f"temporal_shift got {nt} frames, not a multiple of num_segments={num_segments} "
            "(frames must be stacked video-major as (N*T, C, H, W))"
        )
    return c // shift_div


def _is_graph_capture() -> bool:
    """Whether the caller is being traced (ONNX / TorchScript) or compiled, where in-place tricks don't belong."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.jit.is_scripting()


def _shift_out(x: torch.Tensor, num_segments: int, fold: int, direction: str, reverse: bool = False) -> torch.Tensor:
    """Out-of-place shift by copies into an uninitialised tensor of ``x``'s memory format.

    Only the boundary frames of the shifted channels are zero-filled. ``reverse=True`` shifts the other way
    (the adjoint, used for the gradient).
    """
    nt, c, h, w = x.shape
    src = x.view(nt // num_segments, num_segments, c, h, w)
    out = torch.empty_like(x).view(src.shape)
    if direction == "bidirectional":
        first, second, rest = slice(0, fold), slice(fold, 2 * fold), 2 * fold
        if reverse:  # adjoint: [0, fold) moves to the future, [fold, 2 * fold) to the past
            first, second = second, first
        # channels `first`: frame t <- frame t + 1; zero at the last frame
        out[:, :-1, first] = src[:, 1:, first]
        out[:, -1:, first] = 0
        # channels `second`: frame t <- frame t - 1; zero at the first frame
        out[:, 1:, second] = src[:, :-1, second]
        out[:, :1, second] = 0
    else:
        rest = fold
        if reverse:  # adjoint: frame t <- frame t + 1
            out[:, :-1, :fold] = src[:, 1:, :fold]
            out[:, -1:, :fold] = 0
        else:  # frame t <- frame t - 1
            out[:, 1:, :fold] = src[:, :-1, :fold]
            out[:, :1, :fold] = 0
    out[:, :, rest:] = src[:, :, rest:]
    return out.view(nt, c, h, w)


def _shift_cat(x: torch.Tensor, num_segments: int, fold: int, direction: str) -> torch.Tensor:
    """Functional shift from slices and concatenations (export- and compile-friendly, no in-place ops)."""
    src = x.unflatten(0, (-1, num_segments))
    if direction == "bidirectional":
        a = src[:, :, :fold]
        b = src[:, :, fold : 2 * fold]
        a = torch.cat((a[:, 1:], torch.zeros_like(a[:, :1])), dim=1)
        b = torch.cat((torch.zeros_like(b[:, :1]), b[:, :-1]), dim=1)
        out = torch.cat((a, b, src[:, :, 2 * fold :]), dim=2)
    else:
        a = src[:, :, :fold]
        a = torch.cat((torch.zeros_like(a[:, :1]), a[:, :-1]), dim=1)
        out = torch.cat((a, src[:, :, fold:]), dim=2)
    return out.flatten(0, 1)


class _TemporalShiftFunction(torch.autograd.Function):
    """Out-of-place shift whose backward is the opposite shift of the gradient (one copy each way)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, num_segments: int, fold: int, direction: str) -> torch.Tensor:  # type: ignore[override]
        ctx.shift_args = (num_segments, fold, direction)
        return _shift_out(x, num_segments, fold, direction)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:  # type: ignore[override]
        num_segments, fold, direction = ctx.shift_args
        if grad.is_contiguous() or grad.is_contiguous(memory_format=torch.channels_last):
            grad_in = _shift_out(grad, num_segments, fold, direction, reverse=True)
        else:
            grad_in = _shift_out(grad.contiguous(), num_segments, fold, direction, reverse=True)
        return grad_in, None, None, None


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
        A new tensor of the same shape and dtype (and, in eager mode, memory format); ``x`` is not modified.
    """
    fold = _check_input(x, num_segments, shift_div, direction)
    if _is_graph_capture():
        return _shift_cat(x, num_segments, fold, direction)
    if not (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)):
        x = x.contiguous()
    if torch.is_grad_enabled() and x.requires_grad:
        return _TemporalShiftFunction.apply(x, num_segments, fold, direction)
    return _shift_out(x, num_segments, fold, direction)


def _can_shift_inplace(x: torch.Tensor) -> bool:
    return (
        not torch.is_grad_enabled()
        and not _is_graph_capture()
        and not (x.is_inference() and not torch.is_inference_mode_enabled())
        and x.numel() > 0
        and (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last))
    )


@contextmanager
def temporal_shift_inplace(
    x: torch.Tensor,
    num_segments: int,
    shift_div: int = 8,
    direction: ShiftDirection = "bidirectional",
) -> Iterator[torch.Tensor]:
    """Shift ``x`` in place for the duration of a ``with`` block, then restore it exactly.

    Inference only: autograd must be off (``torch.no_grad()`` / ``torch.inference_mode()``), nothing in the
    block may write to ``x``, and no other thread may read ``x`` meanwhile. Only the ``2 * fold`` shifted
    channels are copied (a quarter of the features for ``shift_div=8``, against a full copy for
    :func:`temporal_shift`); on exit, also after an exception, they are copied back, so ``x`` holds its
    original values again (bit for bit). The writes go through ``x.data``, so the autograd version counter
    of ``x`` does not change.

    Args:
        x: per-frame features ``(N * T, C, H, W)``, contiguous or channels_last.
        num_segments: frames per group ``T``.
        shift_div: ``fold = C // shift_div`` channels move each way.
        direction: ``"bidirectional"`` or ``"online"``.

    Yields:
        ``x`` itself, holding ``temporal_shift(x, ...)`` inside the block.

    Example:
        >>> with torch.no_grad(), temporal_shift_inplace(x, 8) as shifted:
        ...     y = conv(shifted)  # x is unshifted again here
    """
    fold = _check_input(x, num_segments, shift_div, direction)
    if torch.is_grad_enabled():
        raise ValueError("temporal_shift_inplace needs autograd off (torch.no_grad() or torch.inference_mode())")
    if not (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)):
        raise ValueError("temporal_shift_inplace needs a contiguous or channels_last tensor (N*T, C, H, W)")
    if x.is_inference() and not torch.is_inference_mode_enabled():
        raise ValueError("temporal_shift_inplace got an inference tensor outside torch.inference_mode()")
    v = x.data.unflatten(0, (-1, num_segments))  # (N, T, C, H, W) view of the same memory
    moved = 2 * fold if direction == "bidirectional" else fold
    saved = v[:, :, :moved].clone()  # the original values of the moved channels (also the restore source)
    # Few, large copies: on a loaded or many-threaded CPU each op costs a parallel-region sync.
    if direction == "bidirectional":
        v[:, :-1, :fold] = saved[:, 1:, :fold]  # frame t <- frame t + 1
        v[:, -1, :fold] = 0
        v[:, 1:, fold:moved] = saved[:, :-1, fold:]  # frame t <- frame t - 1
        v[:, 0, fold:moved] = 0
    else:
        v[:, 1:, :fold] = saved[:, :-1]  # frame t <- frame t - 1
        v[:, 0, :fold] = 0
    try:
        yield x
    finally:
        v[:, :, :moved] = saved


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


class TemporalShift(nn.Module):
    """Apply :func:`temporal_shift` to the input, then the wrapped module ``net``.

    Wrapping ``block.conv1`` gives the residual shift (MMAction2 ``blockres``): only the residual
    branch sees shifted features. Wrapping a whole block gives the in-place shift (MMAction2 ``block``):
    branch and shortcut both see them. The wrapped parameters appear under ``.net.`` in the state dict,
    as in MMAction2 and the original TSM code.

    In eager inference (autograd off) the input is shifted in place around ``net`` and restored afterwards
    (:func:`temporal_shift_inplace`), which saves a full copy of the features per shifted block. That needs
    a ``net`` that neither writes to nor returns a view of its input: ``inplace_inference=None`` turns it on
    for ``nn.Conv2d`` only; a family passes ``True`` for blocks it knows to be safe (timm's ResNet blocks).
    Training, tracing and ``torch.compile`` always use the out-of-place shift.

    Input and output: ``(N * T, C, H, W)``.
    """

    def __init__(
        self,
        net: nn.Module,
        channels: int,
        num_segments: int = 8,
        shift_div: int = 8,
        direction: ShiftDirection = "bidirectional",
        inplace_inference: bool | None = None,
    ) -> None:
        super().__init__()
        _check_shift_args(channels, num_segments, shift_div, direction)
        self.net = net
        self.channels = channels
        self.num_segments = num_segments
        self.shift_div = shift_div
        self.direction = direction
        self.inplace_inference = type(net) is nn.Conv2d if inplace_inference is None else bool(inplace_inference)

    @property
    def fold(self) -> int:
        """Number of channels moved in each direction."""
        return self.channels // self.shift_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inplace_inference and _can_shift_inplace(x):
            with temporal_shift_inplace(x, self.num_segments, self.shift_div, self.direction) as shifted:
                out = self.net(shifted)
                if isinstance(out, torch.Tensor) and _shares_memory(out, x):
                    out = out.clone()  # a view of the shifted input would change with the restore
            return out
        return self.net(temporal_shift(x, self.num_segments, self.shift_div, self.direction))

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, num_segments={self.num_segments}, shift_div={self.shift_div}, "
            f"direction={self.direction!r}, inplace_inference={self.inplace_inference}"
        )


def shifted_modules(model: nn.Module) -> list[tuple[str, TemporalShift]]:
    """``(name, module)`` of every :class:`TemporalShift` in ``model``, in forward order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, TemporalShift)]


def set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule ``name`` (dotted path; also an index of an ``nn.Sequential``) of ``root``."""
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


def remove_temporal_shift(model: nn.Module) -> int:
    """Unwrap every :class:`TemporalShift` in ``model``, in place, turning a TSM into its TSN twin.

    The result has the same parameters (keys lose their ``.net``) and sees each frame independently.

    Returns:
        The number of shift modules removed.
    """
    shifts = shifted_modules(model)
    for name, shift in shifts:
        set_submodule(model, name, shift.net)
    return len(shifts)


def adapt_2d_state_dict(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename a plain 2D network's state dict (timm/torchvision keys) to the keys of a shifted ``model``.

    Inserts ``.net`` where ``model`` wraps a module in :class:`TemporalShift` (``layer1.0.conv1.weight`` ->
    ``layer1.0.conv1.net.weight``), and the child name of any other wrapper that declares one in a
    ``wrapped_child`` attribute (a non-local block's ``.block``); other keys pass through unchanged. Pure:
    returns a new dict.
    """
    wrappers = [(name, "net") for name, _ in shifted_modules(model)]
    wrappers += [
        (n, m.wrapped_child) for n, m in model.named_modules() if isinstance(getattr(m, "wrapped_child", None), str)
    ]
    wrappers.sort(key=lambda w: -len(w[0]))  # innermost first

    def to_2d(key: str) -> str:
        for name, child in wrappers:
            inner = f"{name}.{child}." if name else f"{child}."
            if key.startswith(inner):
                key = (f"{name}." if name else "") + key[len(inner) :]
        return key

    ours = {to_2d(k): k for k in model.state_dict()}
    return {ours.get(key, key): value for key, value in state_dict.items()}
