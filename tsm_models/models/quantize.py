"""Static int8 quantisation of an exported ONNX graph with onnxruntime (opt-in, CPU).

Weights become int8 per output channel, activations uint8 with ranges calibrated on real inputs
(``QuantizeLinear`` / ``DequantizeLinear`` pairs around every convolution and matrix product, which
onnxruntime's CPU provider fuses into integer kernels: VNNI ``vpdpbusd`` on CPUs that have it). The temporal
shift is only ``Slice`` + ``Concat``, so it moves int8 values as it moved floats.

The logits are approximate (about 1e-2 of the largest logit on a ResNet-50); the gate is the ranking: the same
top-5 classes as fp32 on held-out clips (``benchmarks/vs_mmaction2.py`` reports it, the tests check it on tiny
models).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["CALIBRATION_METHODS", "quantize_onnx_int8"]

_logger = logging.getLogger(__name__)

CALIBRATION_METHODS: tuple[str, ...] = ("minmax", "entropy", "percentile")


def _import_quantization() -> Any:
    try:
        from onnxruntime import quantization
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("int8 quantisation needs onnxruntime: pip install 'tsm-models[export]'") from exc
    return quantization


def _to_feed(item: Any, names: list[str]) -> dict[str, np.ndarray]:
    if isinstance(item, Mapping):
        return {k: _as_array(v) for k, v in item.items()}
    if isinstance(item, (tuple, list)):
        if len(item) != len(names):
            raise ValueError(f"a calibration item has {len(item)} inputs, the graph takes {len(names)} ({names})")
        return {n: _as_array(v) for n, v in zip(names, item, strict=True)}
    if len(names) != 1:
        raise ValueError(f"the graph takes {len(names)} inputs ({names}): give each calibration item as a tuple")
    return {names[0]: _as_array(item)}


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu", torch.float32).numpy()
    arr = np.ascontiguousarray(value, dtype=np.float32)
    return arr


def quantize_onnx_int8(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    calibration: Iterable[Any],
    method: str = "minmax",
    per_channel: bool = True,
) -> Path:
    """Quantise the fp32 ONNX graph ``src`` into ``dst`` (QDQ int8), calibrated on ``calibration``.

    Args:
        src: fp32 ONNX file (from :func:`tsm_models.models.backends.export_onnx_graph`).
        dst: the int8 ONNX file to write.
        calibration: inputs of the graph: tensors/arrays for a one-input graph (``(B, T, 3, S, S)`` videos),
            tuples or ``{name: array}`` dicts for several inputs (the streaming step's frame and caches).
        method: activation range estimate: ``"minmax"`` (fast, the default), ``"entropy"`` or ``"percentile"``
            (slower, keep more resolution for the bulk of the values).
        per_channel: one weight scale per output channel (much closer to fp32 than per tensor).

    Raises:
        ValueError: no calibration input, or an unknown ``method``.
    """
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"method must be one of {CALIBRATION_METHODS}, got {method!r}")
    q = _import_quantization()
    from onnxruntime import InferenceSession

    src, dst = Path(src), Path(dst)
    names = [i.name for i in InferenceSession(os.fspath(src), providers=["CPUExecutionProvider"]).get_inputs()]
    feeds = [_to_feed(item, names) for item in calibration]
    if not feeds:
        raise ValueError("int8 quantisation needs at least one calibration input")

    class _Reader(q.CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    pre = dst.with_name(f".{dst.stem}.pre.{os.getpid()}.onnx")
    tmp = dst.with_name(f".{dst.stem}.{os.getpid()}.tmp.onnx")
    calibrate = {
        "minmax": q.CalibrationMethod.MinMax,
        "entropy": q.CalibrationMethod.Entropy,
        "percentile": q.CalibrationMethod.Percentile,
    }[method]
    try:
        # shape inference + constant folding first (onnxruntime's recommended pre-processing); the symbolic
        # shape pass can't follow the frames' Reshape, and onnx's own shape inference is enough here
        q.shape_inference.quant_pre_process(os.fspath(src), os.fspath(pre), skip_symbolic_shape=True)
        q.quantize_static(
            os.fspath(pre),
            os.fspath(tmp),
            _Reader(),
            quant_format=q.QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=q.QuantType.QUInt8,
            weight_type=q.QuantType.QInt8,
            calibrate_method=calibrate,
        )
        os.replace(tmp, dst)
    finally:
        for p in (pre, tmp, Path(os.fspath(pre) + ".data")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        for extra in src.parent.glob("augmented_model*.onnx"):  # onnxruntime's calibration scratch file
            with contextlib.suppress(FileNotFoundError):
                extra.unlink()
    _logger.debug("quantised %s -> %s (%d calibration inputs, %s)", src, dst, len(feeds), method)
    return dst
