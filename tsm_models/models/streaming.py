"""Streaming (online) TSM: classify a live video one frame at a time.

With the uni-directional shift (``shift_direction="online"``), channels ``[0, fold)`` of frame ``t`` come
from frame ``t - 1`` and nothing comes from the future, so frame ``t``'s features depend only on frames
``<= t``. :class:`StreamingTSM` runs the backbone on one frame per :meth:`~StreamingTSM.step`; each shifted
layer keeps the first ``fold`` channels of the previous frame's input (``(B, fold, h, w)``) and splices them
into the current one. The cost per step is one frame of backbone compute plus a copy of each shifted
layer's input.

Over the frames since the last :meth:`~StreamingTSM.reset`, the per-frame logits equal those of the offline
model run on the whole clip as one shift group (``num_segments = T``): the stream is one endless group whose
first frame sees zeros from the past, like frame 0 of every offline clip.

Layouts: a frame is ``(B, 3, H, W)`` normalised RGB (the same normalisation as the offline model's frames);
logits are ``(B, num_classes)``.
"""

from __future__ import annotations

import copy
import logging
from collections import deque
from typing import NamedTuple

import torch
from torch import nn

from .shift import TemporalShift, set_submodule, shifted_modules

__all__ = ["StreamStep", "StreamingShift", "StreamingTSM"]

_logger = logging.getLogger(__name__)


class StreamStep(NamedTuple):
    """Result of :meth:`StreamingTSM.step`.

    Attributes:
        logits: ``(B, num_classes)`` logits of the frame just given.
        clip_logits: ``(B, num_classes)`` running clip prediction: the mean of the per-frame logits of the
            last ``window`` frames (fewer right after a reset).
    """

    logits: torch.Tensor
    clip_logits: torch.Tensor


class StreamingShift(nn.Module):
    """Online temporal shift for one frame at a time, with a cache of the previous frame's channels.

    Replaces a :class:`~tsm_models.shift.TemporalShift` with ``direction="online"``: on input
    ``(B, C, H, W)`` (one frame per video), channels ``[0, fold)`` are replaced by those of the previous
    call's input (zeros on the first call after :meth:`reset`), then the wrapped ``net`` runs. The input
    is not modified (the residual shift's shortcut still needs it).

    Args:
        net: the wrapped module (a block's ``conv1`` or a whole block), shared with the offline model.
        channels: input channels ``C``.
        fold: channels taken from the previous frame.
    """

    def __init__(self, net: nn.Module, channels: int, fold: int) -> None:
        super().__init__()
        if not 0 < fold <= channels:
            raise ValueError(f"fold must be in [1, channels={channels}], got {fold}")
        self.net = net
        self.channels = channels
        self.fold = fold
        self.cache: torch.Tensor | None = None  # (B, fold, H, W): previous frame's channels [0, fold)

    @classmethod
    def from_temporal_shift(cls, module: TemporalShift) -> StreamingShift:
        """The streaming form of an online :class:`TemporalShift` (same ``net``, same fold)."""
        if module.direction != "online":
            raise ValueError(
                f"only an online TemporalShift can stream, got direction={module.direction!r} "
                "(a bi-directional shift needs the next frame)"
            )
        return cls(module.net, module.channels, module.fold)

    def reset(self) -> None:
        """Forget the previous frame: the next call sees zeros in channels ``[0, fold)``."""
        self.cache = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(
                f"StreamingShift expects one frame per video (B, {self.channels}, H, W), got shape {tuple(x.shape)}"
            )
        fold = self.fold
        cache = self.cache
        if cache is not None and (
            cache.shape[0] != x.shape[0] or cache.shape[2:] != x.shape[2:] or cache.device != x.device
        ):
            raise ValueError(
                f"frame shape changed mid-stream: cached (B={cache.shape[0]}, h, w={tuple(cache.shape[2:])}) "
                f"on {cache.device}, got {tuple(x.shape)} on {x.device}; call reset() before changing the "
                "batch size, frame size or device"
            )
        out = x.clone()
        if cache is None:
            out[:, :fold] = 0
        else:
            out[:, :fold] = cache
        self.cache = x[:, :fold].clone()
        return self.net(out)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, fold={self.fold}, cached={self.cache is not None}"


class StreamingTSM(nn.Module):
    """Frame-by-frame inference with an online TSM.

    Builds a streaming copy of ``model`` that shares its parameters and buffers (later weight updates of
    ``model`` are seen by the stream) and replaces every :class:`TemporalShift` by a
    :class:`StreamingShift`. The stream is inference-only and always in eval mode; ``model`` itself is not
    changed.

    Args:
        model: a TSM of any family (``forward_frame_features`` / ``forward_frame_head``, ``num_segments``) built
            with ``shift_direction="online"``, either shift placement (``"residual"`` or ``"inplace"``).
        window: number of recent frames averaged into the running clip prediction; defaults to
            ``model.num_segments`` (the clip length the model was trained on).

    Raises:
        ValueError: for a bi-directional model (all zoo weights are: their shift takes channels from the
            next frame, which a live stream does not have yet), a model that is not a TSM, or a bad ``window``.

    Example:
        >>> model = tsm_models.create_model("tsm_r50", shift_direction="online", num_classes=10)
        >>> stream = model.stream()
        >>> for frame in frames:  # each (1, 3, 224, 224), normalised
        ...     logits, clip_logits = stream.step(frame)
    """

    def __init__(self, model: nn.Module, window: int | None = None) -> None:
        super().__init__()
        missing = [a for a in ("forward_frame_features", "forward_frame_head", "num_segments") if not hasattr(model, a)]
        if not isinstance(model, nn.Module) or missing:
            raise TypeError(
                f"StreamingTSM expects a TSM model (with forward_frame_features, forward_frame_head and "
                f"num_segments), got {type(model).__name__}"
            )
        shifts = shifted_modules(model)
        # A TSM whose shifts were all removed (a TSN) mixes no frames and streams trivially.
        offline = sorted({m.direction for _, m in shifts} - {"online"})
        if offline:
            raise ValueError(
                f"StreamingTSM needs a model built with shift_direction='online', got shift_direction="
                f"{offline[0]!r}: a bi-directional shift moves channels from the next frame (the future), which a "
                "live stream does not have yet, so it cannot run frame by frame. All zoo weights are bi-directional; "
                "train an online model instead, e.g. create_model('tsm_r50', shift_direction='online', ...)."
            )
        window = model.num_segments if window is None else window
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive int, got {window!r}")
        # Copy the module tree but not the tensors: the copy shares every parameter and buffer with `model`.
        memo: dict[int, object] = {id(t): t for t in (*model.parameters(), *model.buffers())}
        net = copy.deepcopy(model, memo)
        for name, module in shifted_modules(net):
            set_submodule(net, name, StreamingShift.from_temporal_shift(module))
        self.net = net
        self.window = window
        self._history: deque[torch.Tensor] = deque(maxlen=window)
        self._frame_shape: tuple[int, ...] | None = None
        self.num_frames = 0
        super().train(False)
        _logger.debug("streaming %d shifted layers, window %d", len(shifts), window)

    @property
    def num_classes(self) -> int:
        """Classifier outputs (per-frame logits width)."""
        return self.net.num_classes

    @property
    def streaming_shifts(self) -> list[StreamingShift]:
        """The caching shift of every shifted layer, in forward order."""
        return [m for m in self.net.modules() if isinstance(m, StreamingShift)]

    def train(self, mode: bool = True) -> StreamingTSM:
        """Streaming is inference-only: ``train(False)``/``eval()`` are accepted, ``train(True)`` raises."""
        if mode:
            raise ValueError("StreamingTSM is inference-only; train the offline TSM (shift_direction='online')")
        return super().train(False)

    def reset(self) -> None:
        """Start a new stream: clear every shift cache and the running clip prediction."""
        for m in self.streaming_shifts:
            m.reset()
        self._history.clear()
        self._frame_shape = None
        self.num_frames = 0

    def _check_frame(self, frame: torch.Tensor) -> None:
        if not isinstance(frame, torch.Tensor):
            raise ValueError(f"expected a torch.Tensor frame of shape (B, 3, H, W), got {type(frame).__name__}")
        in_chans = self.net.in_chans
        if frame.ndim != 4 or frame.shape[1] != in_chans:
            raise ValueError(
                f"expected one normalised frame per video, shape (B, {in_chans}, H, W), got "
                f"{tuple(frame.shape)} (for a clip (B, T, C, H, W), call step() on clip[:, t] for each t)"
            )
        if not frame.is_floating_point():
            raise ValueError(
                f"expected a float frame normalised like the model's training frames, got dtype {frame.dtype} "
                "(convert uint8 frames with the model's preprocessing, e.g. tsm_models.create_transform)"
            )
        if self._frame_shape is not None and tuple(frame.shape) != self._frame_shape:
            raise ValueError(
                f"frame shape changed mid-stream from {self._frame_shape} to {tuple(frame.shape)}; "
                "call reset() to start a new stream"
            )

    def frame_logits(self, frame: torch.Tensor) -> torch.Tensor:
        """Advance the stream by one frame ``(B, 3, H, W)`` and return its logits ``(B, num_classes)``.

        Updates the shift caches but not the running clip prediction; :meth:`step` does both.
        """
        self._check_frame(frame)
        with torch.inference_mode():
            feats = self.net.forward_frame_features(frame)  # (B, C', h, w): the 2D network on one frame
            logits = self.net.forward_frame_head(feats)  # eval: no dropout
        self._frame_shape = tuple(frame.shape)
        self.num_frames += 1
        return logits

    def step(self, frame: torch.Tensor) -> StreamStep:
        """Feed the next frame.

        Args:
            frame: ``(B, 3, H, W)`` normalised RGB, the same preprocessing as the offline model's frames.

        Returns:
            :class:`StreamStep` ``(logits, clip_logits)``: this frame's ``(B, num_classes)`` logits and the
            mean of the logits of the last ``window`` frames.
        """
        logits = self.frame_logits(frame)
        self._history.append(logits)
        with torch.inference_mode():
            clip_logits = torch.stack(tuple(self._history)).mean(0)
        return StreamStep(logits, clip_logits)

    def forward(self, frame: torch.Tensor) -> StreamStep:
        """Same as :meth:`step`."""
        return self.step(frame)

    def extra_repr(self) -> str:
        return f"window={self.window}, num_frames={self.num_frames}"
