"""ONNX export of a TSM, verified against PyTorch with onnxruntime (the ``export`` extra).

The graph takes ``video``: ``(B, T, 3, S, S)`` float, normalised RGB, and returns ``logits``: ``(B, K)``.
``T`` (a multiple of ``num_segments``) and ``S`` are fixed at export; ``B`` may be dynamic. The shift
exports as ``Slice`` + ``Concat`` (no ``ScatterND``; see :func:`tsm_models.temporal_shift`), through the
TorchScript-based exporter (``dynamo=False``: the dynamo exporter needs ``onnxscript``, which is not a
dependency).
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..models.backends import verify_against
from .timing import time_interleaved

_logger = logging.getLogger(__name__)

__all__ = ["OnnxExport", "export_onnx", "onnx_throughput", "verify_onnx"]

DEFAULT_OPSET = 17


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote and how well it agrees with PyTorch.

    Attributes:
        path: the ``.onnx`` file.
        input_shape: the example input ``(B, T, 3, S, S)`` used for export.
        dynamic_batch: whether ``B`` is a dynamic axis.
        max_abs_diff: max ``|onnxruntime - PyTorch|`` over the logits of every verified batch.
        max_rel_diff: ``max_abs_diff`` divided by the largest ``|PyTorch logit|``.
        verified_batches: the batch sizes run through onnxruntime.
    """

    path: Path
    input_shape: tuple[int, ...]
    dynamic_batch: bool
    max_abs_diff: float
    max_rel_diff: float
    verified_batches: tuple[int, ...]


def _import_onnx() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("ONNX export needs the 'export' extra: pip install 'tsm-models[export]'") from exc
    return onnx, onnxruntime


def _session(path: str | os.PathLike, threads: int | None = None) -> Any:
    _, ort = _import_onnx()
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(os.fspath(path), opts, providers=["CPUExecutionProvider"])


def _example(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def verify_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    input_shape: tuple[int, int, int, int, int],
    batches: tuple[int, ...] = (1,),
    rtol: float = 1e-4,
) -> tuple[float, float]:
    """Run the ONNX file with onnxruntime (CPU) and PyTorch on the same random videos and compare.

    Args:
        model: the PyTorch model (put in eval mode).
        path: the ``.onnx`` file.
        input_shape: ``(B, T, 3, S, S)``; ``B`` is replaced by each of ``batches``.
        batches: batch sizes to run (more than one only for a dynamic-batch export).
        rtol: the largest allowed ``max|diff| / max|PyTorch logit|``.

    Returns:
        ``(max_abs_diff, max_rel_diff)``.

    Raises:
        ValueError: the outputs differ by more than ``rtol`` (or differ in shape).
    """
    return verify_against(model.eval(), path, tuple(input_shape[1:]), batches, rtol)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    input_shape: tuple[int, int, int, int, int],
    dynamic_batch: bool = True,
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
    rtol: float = 1e-4,
) -> OnnxExport:
    """Export ``model`` to ONNX, check the graph, verify it with onnxruntime, then move it into place.

    The file is written next to ``path`` under a temporary name and only renamed to ``path`` once
    ``onnx.checker`` and (with ``verify``) the onnxruntime comparison passed, so ``path`` never holds a
    half-written or unverified model.

    Args:
        model: a TSM (or any module taking ``(B, T, 3, S, S)`` videos); exported in eval mode, on CPU, fp32.
        path: output ``.onnx`` file.
        input_shape: example input ``(B, T, 3, S, S)``; ``T`` and ``S`` are fixed in the graph.
        dynamic_batch: make ``B`` dynamic (verified at batch 1 and 2); else fixed to ``input_shape[0]``.
        opset: ONNX opset.
        verify: compare with PyTorch through onnxruntime (needs ``max|diff| <= rtol * max|logit|``).
        rtol: tolerance of the verification.

    Returns:
        An :class:`OnnxExport` record.
    """
    onnx, _ = _import_onnx()
    if len(input_shape) != 5 or any(not isinstance(d, int) or d < 1 for d in input_shape):
        raise ValueError(f"input_shape must be 5 positive ints (B, T, 3, S, S), got {input_shape!r}")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"output file must end in .onnx, got {os.fspath(path)!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {os.fspath(path.parent)}")
    model = model.float().cpu().eval()
    if hasattr(model, "check_input"):
        model.check_input(torch.empty(input_shape))  # clear ValueError for a bad T before tracing
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    x = _example(input_shape, seed=0)
    axes = {"video": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # input checks; T and S are fixed by design
            with torch.no_grad():
                torch.onnx.export(
                    model,
                    (x,),
                    os.fspath(tmp),
                    dynamo=False,
                    input_names=["video"],
                    output_names=["logits"],
                    dynamic_axes=axes,
                    opset_version=opset,
                )
        onnx.checker.check_model(os.fspath(tmp))
        batches = (1, 2) if dynamic_batch else (input_shape[0],)
        max_abs, rel = verify_onnx(model, tmp, input_shape, batches, rtol) if verify else (float("nan"),) * 2
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):  # never mask the first error (a read-only folder fails here too)
            tmp.unlink()
    _logger.debug("wrote %s (max|diff| vs PyTorch %.3g, relative %.3g)", path, max_abs, rel)
    return OnnxExport(path, tuple(input_shape), dynamic_batch, max_abs, rel, batches if verify else ())


def onnx_throughput(
    path: str | os.PathLike,
    input_shape: tuple[int, int, int, int, int],
    iters: int = 10,
    warmup: int = 2,
    threads: int | None = None,
) -> float:
    """Videos per second of the ONNX model under onnxruntime's CPU provider (median of ``iters`` runs).

    Args:
        path: the ``.onnx`` file.
        input_shape: ``(B, T, 3, S, S)`` of each run.
        iters: timed runs.
        warmup: untimed runs first.
        threads: onnxruntime intra-op threads (default: onnxruntime's choice).
    """
    sess = _session(path, threads)
    feed = {sess.get_inputs()[0].name: _example(input_shape, seed=1).numpy()}
    times = time_interleaved({"onnx": lambda: sess.run(None, feed)}, iters=iters, warmup=warmup)["onnx"]
    return input_shape[0] / statistics.median(times)
