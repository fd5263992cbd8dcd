"""Fast CPU inference backends for a video model: channels_last eager, ``torch.compile``, ONNX Runtime (fp32
or int8).

Every backend maps a normalised video ``(B, T, 3, S, S)`` float to ``(B, K)`` float32 logits, like the model
itself. What each one costs and gains on a CPU is measured by ``benchmarks/vs_mmaction2.py`` (figures in
BENCHMARKS.md):

* ``"eager"``: the model as it is (no start-up cost; the reference numerics);
* ``"channels_last"``: weights and frames in NHWC, which oneDNN's convolutions prefer (same numerics up to
  summation order);
* ``"compile"``: ``torch.compile`` (inductor) with ``freezing`` (weights folded as constants, batch norms
  folded into the convolutions, oneDNN weight prepacking); tens of seconds of compilation on the first call;
* ``"onnxruntime"``: the model exported to ONNX (TorchScript exporter, shift as ``Slice`` + ``Concat``),
  verified against PyTorch, then run by onnxruntime's CPU provider; a few seconds of export;
* ``"onnxruntime"`` with ``int8=True``: the same graph statically quantised (:mod:`.quantize`): int8 weights
  per output channel and uint8 activations calibrated on real inputs; fastest, with approximate logits.

``T`` and ``S`` are fixed when a graph is exported or compiled; ``B`` may vary (ONNX: dynamic batch axis;
compile: ``dynamic=False`` recompiles once per new batch size).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .quantize import quantize_onnx_int8

__all__ = [
    "BACKENDS",
    "OnnxRuntimeModel",
    "channels_last_video",
    "compile_for_cpu",
    "export_onnx_graph",
    "prepare_backend",
]

_logger = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("eager", "channels_last", "compile", "onnxruntime")
DEFAULT_OPSET = 17


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the onnxruntime backend needs onnx and onnxruntime: pip install 'tsm-models[export]'"
        ) from exc
    return onnxruntime


def channels_last_video(video: torch.Tensor) -> torch.Tensor:
    """``(B, T, C, H, W)`` with each frame stored HWC (the frames' ``(B * T, C, H, W)`` view is channels_last)."""
    if video.ndim != 5:
        raise ValueError(f"expected a video (B, T, C, H, W), got shape {tuple(video.shape)}")
    return video.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, video.shape[:2])


class _ChannelsLast(nn.Module):
    """Runs ``model`` (converted to channels_last) on channels_last frames."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.model(channels_last_video(video))


def compile_for_cpu(model: nn.Module, channels_last: bool = True, freezing: bool = True) -> nn.Module:
    """``torch.compile`` for inference on a CPU (inductor; ``freezing`` folds weights and batch norms and
    prepacks the convolution weights for oneDNN).

    The first call of each new input shape compiles (tens of seconds for a ResNet-50); call it under
    ``torch.no_grad()`` (freezing needs autograd off; ``torch.inference_mode()`` works too).
    """
    model = model.eval()
    if channels_last:
        model = _ChannelsLast(model)
    return torch.compile(model, options={"freezing": freezing})


def export_onnx_graph(
    model: nn.Module,
    path: str | os.PathLike,
    input_shape: tuple[int, ...],
    dynamic_batch: bool = True,
    opset: int = DEFAULT_OPSET,
    input_names: tuple[str, ...] = ("video",),
    output_names: tuple[str, ...] = ("logits",),
    example: tuple[torch.Tensor, ...] | None = None,
) -> Path:
    """Trace ``model`` (eval, CPU, fp32) into an ONNX file with the TorchScript exporter (no verification).

    ``dynamic_batch`` makes axis 0 of every input and output dynamic. ``example`` replaces the random input of
    ``input_shape`` (needed for models with several inputs).
    """
    path = Path(path)
    model = model.float().cpu().eval()
    args = example if example is not None else (torch.randn(input_shape, generator=torch.Generator().manual_seed(0)),)
    axes = {n: {0: "batch"} for n in (*input_names, *output_names)} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # input checks; T and S are fixed by design
        with torch.no_grad():
            torch.onnx.export(
                model,
                args,
                os.fspath(path),
                dynamo=False,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes=axes,
                opset_version=opset,
            )
    return path


def ort_session(path: str | os.PathLike, threads: int | None = None) -> Any:
    """An onnxruntime CPU session with every graph optimisation on; ``threads`` intra-op threads (default:
    torch's current thread count, so that both runtimes use the same cores)."""
    ort = _import_onnxruntime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads if threads is not None else torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(os.fspath(path), opts, providers=["CPUExecutionProvider"])


class OnnxRuntimeModel:
    """A model exported to ONNX and run by onnxruntime, callable like the PyTorch model.

    ``model(video)`` takes ``(B, T, 3, S, S)`` float (any device; moved to the CPU) and returns ``(B, K)``
    float32 logits on the CPU. ``T`` and ``S`` are fixed by the export.

    Build one with :meth:`from_model` (export + verification) or :meth:`from_file`.

    Attributes:
        path: the ONNX file run.
        input_shape: ``(T, 3, S, S)`` of each video.
        int8: whether the graph is quantised.
        num_classes: logits per video, when known.
        max_rel_diff: largest ``|onnxruntime - PyTorch| / max |PyTorch logit|`` seen at verification (fp32),
            or ``None`` when not verified.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        input_shape: tuple[int, int, int, int],
        threads: int | None = None,
        int8: bool = False,
        num_classes: int | None = None,
        tmpdir: tempfile.TemporaryDirectory | None = None,
    ) -> None:
        self.path = Path(path)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.int8 = int8
        self.num_classes = num_classes
        self.max_rel_diff: float | None = None
        self._tmpdir = tmpdir  # keeps an exported temporary file alive as long as the session
        self.session = ort_session(self.path, threads)
        self._input = self.session.get_inputs()[0].name

    @classmethod
    def from_file(cls, path: str | os.PathLike, threads: int | None = None) -> OnnxRuntimeModel:
        """Run an existing ONNX file (input ``(B, T, 3, S, S)``; ``T`` and ``S`` read from the graph)."""
        sess = ort_session(path, threads)
        shape = sess.get_inputs()[0].shape
        if len(shape) != 5 or not all(isinstance(d, int) for d in shape[1:]):
            raise ValueError(f"{os.fspath(path)}: expected an input (B, T, 3, S, S) with fixed T and S, got {shape}")
        out = sess.get_outputs()[0].shape
        k = out[-1] if out and isinstance(out[-1], int) else None
        int8 = any(n.op_type in ("QuantizeLinear", "QLinearConv") for n in _graph_nodes(path))
        return cls(path, tuple(shape[1:]), threads=threads, int8=int8, num_classes=k)

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        input_shape: tuple[int, int, int, int],
        path: str | os.PathLike | None = None,
        threads: int | None = None,
        int8: bool = False,
        calibration: Iterable[torch.Tensor] | None = None,
        rtol: float = 1e-4,
    ) -> OnnxRuntimeModel:
        """Export ``model`` for videos ``(T, 3, S, S)`` = ``input_shape``, verify it, and open a session.

        Args:
            model: any module mapping ``(B, T, 3, S, S)`` to ``(B, K)`` logits (a TSM); exported on CPU, fp32.
            input_shape: ``(T, 3, S, S)``.
            path: where to write the ``.onnx`` file (default: a temporary folder kept while this object lives).
            threads: onnxruntime intra-op threads (default: torch's thread count).
            int8: quantise statically (:func:`tsm_models.models.quantize.quantize_onnx_int8`); needs
                ``calibration``.
            calibration: real preprocessed inputs ``(B, T, 3, S, S)`` (e.g. a few videos' views) from which
                the int8 activation ranges are taken; random inputs give poor ranges, so none is assumed.
            rtol: the fp32 graph must agree with PyTorch within ``rtol`` of the largest logit (batch 1 and 2).

        Raises:
            ValueError: a bad ``input_shape``, ``int8`` without ``calibration``, or an fp32 graph that
                disagrees with PyTorch.
        """
        if len(input_shape) != 4 or any(not isinstance(d, int) or d < 1 for d in input_shape):
            raise ValueError(f"input_shape must be 4 positive ints (T, 3, S, S), got {input_shape!r}")
        calib = None
        if int8:
            calib = [c for c in calibration] if calibration is not None else []
            if not calib:
                raise ValueError(
                    "int8 quantisation needs calibration inputs: a few real preprocessed videos (B, T, 3, S, S)"
                )
        model = model.float().cpu().eval()
        if hasattr(model, "check_input"):
            model.check_input(torch.empty(1, *input_shape))  # a clear ValueError for a bad T before tracing
        tmpdir = tempfile.TemporaryDirectory(prefix="tsm_onnx_") if path is None else None
        out = Path(path) if path is not None else Path(tmpdir.name) / "model.onnx"
        fp32 = out if not int8 else out.with_name(f".{out.stem}.fp32.{os.getpid()}.onnx")
        try:
            export_onnx_graph(model, fp32, (1, *input_shape))
            _, rel = verify_against(model, fp32, input_shape, batches=(1, 2), rtol=rtol, threads=threads)
            if int8:
                quantize_onnx_int8(fp32, out, calib)
        finally:
            if int8:
                with contextlib.suppress(FileNotFoundError):
                    fp32.unlink()
        k = getattr(model, "num_classes", None)
        runner = cls(out, input_shape, threads=threads, int8=int8, num_classes=k, tmpdir=tmpdir)
        runner.max_rel_diff = rel
        _logger.debug("onnxruntime backend %s (int8=%s), fp32 graph within %.3g of PyTorch", out, int8, rel)
        return runner

    def run(self, video: torch.Tensor) -> torch.Tensor:
        """``(B, T, 3, S, S)`` -> ``(B, K)`` float32 logits (CPU)."""
        if not isinstance(video, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor video (B, T, 3, S, S), got {type(video).__name__}")
        if video.ndim != 5 or tuple(video.shape[1:]) != self.input_shape:
            raise ValueError(
                f"this ONNX graph takes videos (B, {', '.join(map(str, self.input_shape))}), got {tuple(video.shape)}"
            )
        x = video.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {self._input: x})[0])

    __call__ = run

    def eval(self) -> OnnxRuntimeModel:
        """No-op (for code that calls ``model.eval()``)."""
        return self

    def __repr__(self) -> str:
        return f"OnnxRuntimeModel({os.fspath(self.path)!r}, input_shape={self.input_shape}, int8={self.int8})"


def _graph_nodes(path: str | os.PathLike) -> list[Any]:
    import onnx

    return list(onnx.load(os.fspath(path), load_external_data=False).graph.node)


def verify_against(
    model: nn.Module,
    path: str | os.PathLike,
    input_shape: tuple[int, ...],
    batches: tuple[int, ...] = (1, 2),
    rtol: float = 1e-4,
    threads: int | None = None,
) -> tuple[float, float]:
    """``(max |onnxruntime - PyTorch|, that / max |PyTorch logit|)`` over random videos of each batch size.

    Raises:
        ValueError: above ``rtol``, or a shape mismatch.
    """
    sess = ort_session(path, threads)
    name = sess.get_inputs()[0].name
    max_abs, max_ref = 0.0, 0.0
    for i, b in enumerate(batches):
        x = torch.randn((b, *input_shape), generator=torch.Generator().manual_seed(100 + i))
        with torch.inference_mode():
            ref = model(x).float().numpy()
        got = sess.run(None, {name: x.numpy()})[0]
        if got.shape != ref.shape:
            raise ValueError(f"onnxruntime returned shape {got.shape} for batch {b}, PyTorch {ref.shape}")
        max_abs = max(max_abs, float(abs(got - ref).max()))
        max_ref = max(max_ref, float(abs(ref).max()))
    rel = max_abs / max(max_ref, 1e-12)
    if not rel <= rtol:
        raise ValueError(
            f"onnxruntime and PyTorch disagree: max|diff| = {max_abs:.3g} = {rel:.3g} of the largest logit "
            f"(expected <= {rtol:g})"
        )
    return max_abs, rel


def prepare_backend(
    model: nn.Module,
    backend: str = "eager",
    input_shape: tuple[int, int, int, int] | None = None,
    int8: bool = False,
    calibration: Iterable[torch.Tensor] | None = None,
    threads: int | None = None,
) -> Any:
    """``model`` ready to run on the CPU with ``backend`` (one of :data:`BACKENDS`): a callable
    ``(B, T, 3, S, S) -> (B, K)`` logits.

    Args:
        model: the PyTorch model (put in eval mode; ``"channels_last"`` and ``"compile"`` convert it in place).
        backend: ``"eager"``, ``"channels_last"``, ``"compile"`` or ``"onnxruntime"``.
        input_shape: ``(T, 3, S, S)``; required by ``"onnxruntime"``.
        int8: static int8 quantisation (``"onnxruntime"`` only), calibrated on ``calibration``.
        calibration: real preprocessed inputs ``(B, T, 3, S, S)`` for ``int8``.
        threads: onnxruntime intra-op threads.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if int8 and backend != "onnxruntime":
        raise ValueError(f"int8 runs through the 'onnxruntime' backend, got backend={backend!r}")
    model = model.eval()
    if backend == "eager":
        return model
    if backend == "channels_last":
        return _ChannelsLast(model)
    if backend == "compile":
        return compile_for_cpu(model)
    if input_shape is None:
        raise ValueError("the onnxruntime backend needs input_shape=(T, 3, S, S) (fixed in the exported graph)")
    return OnnxRuntimeModel.from_model(model, input_shape, threads=threads, int8=int8, calibration=calibration)
