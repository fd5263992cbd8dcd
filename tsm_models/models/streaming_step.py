"""The streaming step as a pure function, for export: ``(frame, *caches) -> (logits, *new_caches)``.

:class:`~tsm_models.StreamingTSM` keeps each shifted layer's cache (the previous frame's first ``fold``
channels, ``(B, fold, h, w)``) inside the module. An exported graph can't hold state, so
:class:`StreamingStep` takes the caches as inputs and returns the new ones: the caller feeds back what the
previous step returned (zeros on the first frame, which is what :meth:`StreamingTSM.reset` means). It is
family-agnostic: it finds the caches from the model's :class:`~tsm_models.StreamingShift` layers, whatever
network they sit in.

:func:`export_streaming_step` writes it to ONNX (inputs ``frame``, ``cache_0`` ... ``cache_{n-1}``; outputs
``logits``, ``next_cache_0`` ...), and verifies a stream of frames through onnxruntime against
:meth:`StreamingTSM.step` (per-frame logits within ``rtol`` of the largest logit). :class:`OnnxStream` runs the
file like a :class:`StreamingTSM` (``reset``/``step``), optionally int8-quantised (:func:`quantize_streaming_step`).

Layouts: ``frame`` ``(B, 3, H, W)`` normalised RGB; ``logits`` ``(B, K)``; cache ``i`` ``(B, fold_i, h_i, w_i)``.
"""

from __future__ import annotations

import copy
import logging
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .backends import export_onnx_graph, ort_session
from .quantize import quantize_onnx_int8
from .streaming import StreamingShift, StreamingTSM, StreamStep

__all__ = [
    "OnnxStream",
    "StreamingStep",
    "StreamingStepExport",
    "export_streaming_step",
    "quantize_streaming_step",
]

_logger = logging.getLogger(__name__)


class _CacheShift(nn.Module):
    """A :class:`StreamingShift` whose cache comes in (``cache_in``) and goes out (``cache_out``) by attribute,
    set and read by :class:`StreamingStep` around each call: no state survives a step."""

    def __init__(self, net: nn.Module, channels: int, fold: int) -> None:
        super().__init__()
        self.net = net
        self.channels = channels
        self.fold = fold
        self.cache_in: torch.Tensor | None = None
        self.cache_out: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fold = self.fold
        cache = self.cache_in if self.cache_in is not None else torch.zeros_like(x[:, :fold])
        self.cache_out = x[:, :fold].clone()  # x is the shortcut too: keep it as it is
        return self.net(torch.cat([cache, x[:, fold:]], 1))  # Slice + Concat in ONNX

    def extra_repr(self) -> str:
        return f"channels={self.channels}, fold={self.fold}"


def _frame_forward(net: nn.Module, frame: torch.Tensor) -> torch.Tensor:
    """Per-frame logits ``(B, K)`` of the (streaming) network on frames ``(B, 3, H, W)`` (the family hooks)."""
    return net.forward_frame_head(net.forward_frame_features(frame))


class StreamingStep(nn.Module):
    """One streaming step with explicit caches: ``forward(frame, *caches) -> (logits, *new_caches)``.

    Shares every parameter with the model (nothing is copied but the module tree). Inference only (eval).

    Args:
        model: an online :class:`~tsm_models.TSM` or a :class:`~tsm_models.StreamingTSM` of one.

    Example:
        >>> step = StreamingStep(model)
        >>> caches = step.init_caches(frame)  # zeros: a new stream
        >>> for frame in frames:
        ...     logits, *caches = step(frame, *caches)
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        stream = model if isinstance(model, StreamingTSM) else StreamingTSM(model)
        memo: dict[int, object] = {id(t): t for t in (*stream.parameters(), *stream.buffers())}
        net = copy.deepcopy(stream.net, memo)
        for name, module in list(net.named_modules()):
            if isinstance(module, StreamingShift):
                parent_name, _, child = name.rpartition(".")
                parent = net.get_submodule(parent_name) if parent_name else net
                setattr(parent, child, _CacheShift(module.net, module.channels, module.fold))
        self.net = net.eval()
        self.shifts: list[_CacheShift] = [m for m in net.modules() if isinstance(m, _CacheShift)]
        self.num_classes = getattr(stream, "num_classes", None)
        super().train(False)

    def train(self, mode: bool = True) -> StreamingStep:
        if mode:
            raise ValueError("StreamingStep is inference-only")
        return super().train(False)

    @property
    def num_caches(self) -> int:
        """Number of cache tensors (one per shifted layer)."""
        return len(self.shifts)

    def init_caches(self, frame: torch.Tensor) -> list[torch.Tensor]:
        """Zero caches for a new stream of frames shaped like ``frame`` ``(B, 3, H, W)``."""
        _check_frame(frame)
        with torch.inference_mode():
            self._run(frame, [None] * self.num_caches)
            caches = [torch.zeros_like(m.cache_out) for m in self.shifts]
        self._clear()
        return caches

    def cache_shapes(self, frame_shape: Sequence[int]) -> list[tuple[int, ...]]:
        """Shapes ``(B, fold_i, h_i, w_i)`` of the caches for frames of ``frame_shape`` ``(B, 3, H, W)``."""
        return [tuple(c.shape) for c in self.init_caches(torch.zeros(tuple(frame_shape)))]

    def _run(self, frame: torch.Tensor, caches: Sequence[torch.Tensor | None]) -> torch.Tensor:
        for m, c in zip(self.shifts, caches, strict=True):
            m.cache_in = c
        return _frame_forward(self.net, frame)

    def _clear(self) -> None:
        for m in self.shifts:
            m.cache_in = m.cache_out = None

    def forward(self, frame: torch.Tensor, *caches: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if len(caches) != self.num_caches:
            raise ValueError(
                f"expected {self.num_caches} caches (one per shifted layer; init_caches(frame) makes zero ones), "
                f"got {len(caches)}"
            )
        logits = self._run(frame, caches)
        out = (logits, *(m.cache_out for m in self.shifts))
        self._clear()
        return out


def _check_frame(frame: Any) -> None:
    if not isinstance(frame, torch.Tensor) or frame.ndim != 4 or not frame.is_floating_point():
        shape = tuple(frame.shape) if isinstance(frame, torch.Tensor) else type(frame).__name__
        raise ValueError(f"expected a float frame (B, 3, H, W), got {shape}")


def _names(n: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return ("frame", *(f"cache_{i}" for i in range(n))), ("logits", *(f"next_cache_{i}" for i in range(n)))


@dataclass(frozen=True)
class StreamingStepExport:
    """What :func:`export_streaming_step` wrote.

    Attributes:
        path: the ``.onnx`` file.
        frame_shape: ``(B, 3, H, W)`` of each frame (fixed in the graph).
        cache_shapes: shape of each cache input (and of the matching output).
        max_rel_diff: over the verified stream, ``max |onnxruntime - StreamingTSM| / max |logit|``.
        verified_frames: frames streamed through both.
    """

    path: Path
    frame_shape: tuple[int, ...]
    cache_shapes: tuple[tuple[int, ...], ...]
    max_rel_diff: float
    verified_frames: int


def export_streaming_step(
    model: nn.Module,
    path: str | os.PathLike,
    frame_shape: Sequence[int] = (1, 3, 224, 224),
    opset: int = 17,
    verify_frames: int = 10,
    rtol: float = 1e-4,
) -> StreamingStepExport:
    """Export the streaming step of an online TSM to ONNX and verify it over a stream with onnxruntime.

    The file is written under a temporary name and renamed to ``path`` only once verified.

    Args:
        model: an online :class:`~tsm_models.TSM` (``shift_direction="online"``) or a :class:`StreamingTSM`.
        path: the ``.onnx`` file to write.
        frame_shape: ``(B, 3, H, W)``; all fixed in the graph.
        opset: ONNX opset.
        verify_frames: random frames streamed through onnxruntime (caches fed back) and through
            :meth:`StreamingTSM.step` from a reset; every frame's logits must agree.
        rtol: tolerance, relative to the largest logit of the stream.

    Raises:
        ValueError: a bi-directional model, a bad ``frame_shape``, or a graph that disagrees.
    """
    frame_shape = tuple(int(d) for d in frame_shape)
    if len(frame_shape) != 4 or min(frame_shape) < 1:
        raise ValueError(f"frame_shape must be 4 positive ints (B, 3, H, W), got {frame_shape!r}")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"output file must end in .onnx, got {os.fspath(path)!r}")
    step = StreamingStep(model.float().cpu() if isinstance(model, nn.Module) else model)
    frame = torch.randn(frame_shape, generator=torch.Generator().manual_seed(0))
    caches = step.init_caches(frame)
    inputs, outputs = _names(step.num_caches)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        export_onnx_graph(
            step,
            tmp,
            frame_shape,
            dynamic_batch=False,
            opset=opset,
            input_names=inputs,
            output_names=outputs,
            example=(frame, *caches),
        )
        rel = verify_streaming_step(model, tmp, frame_shape, verify_frames, rtol) if verify_frames else float("nan")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return StreamingStepExport(path, frame_shape, tuple(tuple(c.shape) for c in caches), rel, verify_frames)


def verify_streaming_step(
    model: nn.Module, path: str | os.PathLike, frame_shape: Sequence[int], frames: int = 10, rtol: float = 1e-4
) -> float:
    """Stream ``frames`` random frames through the ONNX step and :meth:`StreamingTSM.step`; return the max
    difference of the per-frame logits relative to the largest logit (``ValueError`` above ``rtol``)."""
    stream = model if isinstance(model, StreamingTSM) else StreamingTSM(model)
    stream.reset()
    onnx_stream = OnnxStream(path)
    g = torch.Generator().manual_seed(1)
    max_abs = max_ref = 0.0
    for _ in range(frames):
        f = torch.randn(tuple(frame_shape), generator=g)
        ref = stream.step(f).logits
        got = onnx_stream.step(f).logits
        max_abs = max(max_abs, float((got - ref).abs().max()))
        max_ref = max(max_ref, float(ref.abs().max()))
    stream.reset()
    rel = max_abs / max(max_ref, 1e-12)
    if not rel <= rtol:
        raise ValueError(f"the ONNX streaming step disagrees with StreamingTSM.step: {rel:.3g} of the largest logit")
    return rel


class OnnxStream:
    """Run an exported streaming step like a :class:`StreamingTSM`: :meth:`reset`, :meth:`step` (frame in,
    :class:`~tsm_models.streaming.StreamStep` out), the caches kept between steps.

    Args:
        path: the streaming-step ONNX file (fp32 or int8).
        window: frames averaged into ``clip_logits``.
        threads: onnxruntime intra-op threads (default: torch's thread count).
    """

    def __init__(self, path: str | os.PathLike, window: int = 8, threads: int | None = None) -> None:
        self.path = Path(path)
        self.session = ort_session(self.path, threads)
        ins = self.session.get_inputs()
        if not ins or ins[0].name != "frame" or any(not i.name.startswith("cache_") for i in ins[1:]):
            raise ValueError(f"{os.fspath(path)} is not a streaming step (inputs frame, cache_0, ...)")
        self.frame_shape = tuple(ins[0].shape)
        self._cache_names = [i.name for i in ins[1:]]
        self._cache_shapes = [tuple(i.shape) for i in ins[1:]]
        self.window = window
        self._history: deque[torch.Tensor] = deque(maxlen=window)
        self.caches: list[np.ndarray] = []
        self.num_frames = 0
        self.reset()

    def reset(self) -> None:
        """Start a new stream (zero caches, empty history)."""
        self.caches = [np.zeros(s, np.float32) for s in self._cache_shapes]
        self._history.clear()
        self.num_frames = 0

    def step(self, frame: torch.Tensor | np.ndarray) -> StreamStep:
        """Feed the next frame ``(B, 3, H, W)`` (the exported shape)."""
        x = frame.detach().to("cpu", torch.float32).numpy() if isinstance(frame, torch.Tensor) else frame
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.shape != self.frame_shape:
            raise ValueError(f"this streaming step takes frames {self.frame_shape}, got {x.shape}")
        feed = {"frame": x, **dict(zip(self._cache_names, self.caches, strict=True))}
        logits, *self.caches = self.session.run(None, feed)
        out = torch.from_numpy(logits)
        self._history.append(out)
        self.num_frames += 1
        return StreamStep(out, torch.stack(tuple(self._history)).mean(0))

    def feeds(self, frame: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        """The inputs the next :meth:`step` would run on (for calibration), without running it."""
        x = frame.detach().to("cpu", torch.float32).numpy() if isinstance(frame, torch.Tensor) else frame
        return {"frame": np.ascontiguousarray(x, np.float32), **dict(zip(self._cache_names, self.caches, strict=True))}


def quantize_streaming_step(
    src: str | os.PathLike, dst: str | os.PathLike, frames: Sequence[torch.Tensor], method: str = "minmax"
) -> Path:
    """int8-quantise the streaming step ``src`` into ``dst``, calibrated on a real stream: ``frames`` (each
    ``(B, 3, H, W)``, in order) with the caches the fp32 step produces along the way."""
    stream = OnnxStream(src)
    feeds = []
    for f in frames:
        feeds.append(stream.feeds(f))
        stream.step(f)
    return quantize_onnx_int8(src, dst, feeds, method=method)
