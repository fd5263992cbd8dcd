"""Throughput and memory of a TSM, measured the way the MMAction2 model zoo reports it.

Default protocol (the seed's "inference time"): batch 1, the checkpoint's test frames (``num_frames`` x
``num_clips`` x ``num_crops``, e.g. 8 for ``tsm_r50_1x1x8_kinetics400``, 80 for the dense entry), model time
only, warm-up excluded, reported as videos per second. The plain timm ResNet the TSM is built on runs on
exactly the same frames as a yardstick; the two are timed *interleaved* (A, B, A, B, ...) and the median of
each is reported, so that load changes on a shared machine hit both alike.

Layouts: a model-time input is ``(batch * views, num_frames * ..., 3, S, S)``: the ``num_crops`` spatial views
are stacked on the batch axis and the ``num_clips`` temporal views on the time axis, exactly what
:func:`tsm_models.transforms.create_transform` produces for one video (``(num_crops, clips * T, 3, S, S)``).
The yardstick sees the same frames flattened to ``(frames, 3, S, S)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import statistics
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import timm
import torch
from torch import nn

from ..data.sampling import sample_indices
from ..data.transforms import create_transform
from ..data.video import open_video
from ..models import create_model
from ..models.zoo import ZOO, resolve_alias
from ..train.runtime import AMP_DTYPES, prepare_model, to_channels_last
from .timing import machine_info, measure_peak_memory, time_interleaved

_logger = logging.getLogger(__name__)

__all__ = [
    "COMPILE_MODES",
    "DTYPES",
    "BenchmarkResult",
    "BenchmarkSetup",
    "TrainStepResult",
    "benchmark",
    "benchmark_train_step",
    "resolve_setup",
]

DTYPES: tuple[str, ...] = ("fp32", *AMP_DTYPES)  # fp32, or the autocast dtypes of tsm_models.train.runtime
COMPILE_MODES: tuple[str, ...] = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass(frozen=True)
class BenchmarkSetup:
    """What one benchmarked video looks like and how the model runs.

    Attributes:
        name: model name (architecture or zoo checkpoint).
        base_model: the timm ResNet the TSM wraps (the yardstick).
        num_classes: classifier size.
        num_frames: frames per temporal view (the clip, ``T``).
        num_clips: temporal views per video (stacked on the time axis).
        num_crops: spatial views per video (stacked on the batch axis).
        img_size: crop size ``S``.
        batch: videos per forward pass.
        device: ``"cpu"`` or ``"cuda"`` (or ``"cuda:1"``...).
        dtype: ``"fp32"``, or ``"bf16"`` / ``"fp16"`` autocast.
        channels_last: convert model and input to ``torch.channels_last``.
        compile: wrap the models in ``torch.compile`` (compilation happens in the warm-up).
        compile_mode: ``torch.compile`` mode: ``"default"``, ``"reduce-overhead"`` (CUDA graphs: removes the
            kernel-launch cost that bounds small batches on a GPU), ``"max-autotune"`` or
            ``"max-autotune-no-cudagraphs"``.
        grad_checkpointing: training step only: re-run each ResNet stage in the backward pass instead of
            keeping its activations (timm's ``set_grad_checkpointing``).
    """

    name: str
    base_model: str
    num_classes: int
    num_frames: int
    num_clips: int = 1
    num_crops: int = 1
    img_size: int = 224
    batch: int = 1
    device: str = "cpu"
    dtype: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    compile_mode: str = "default"
    grad_checkpointing: bool = False

    @property
    def flags(self) -> str:
        """How the model runs, for reports: e.g. ``"fp16 channels_last compile(reduce-overhead)"``."""
        flags = [self.dtype] + (["channels_last"] if self.channels_last else [])
        if self.compile:
            flags.append("compile" if self.compile_mode == "default" else f"compile({self.compile_mode})")
        if self.grad_checkpointing:
            flags.append("grad_checkpointing")
        return " ".join(flags)

    @property
    def frames_per_video(self) -> int:
        """All frames the model sees per video (``num_frames * num_clips * num_crops``)."""
        return self.num_frames * self.num_clips * self.num_crops

    @property
    def input_shape(self) -> tuple[int, int, int, int, int]:
        """``(batch * num_crops, num_frames * num_clips, 3, S, S)``."""
        return (self.batch * self.num_crops, self.num_frames * self.num_clips, 3, self.img_size, self.img_size)


@dataclass
class BenchmarkResult:
    """Timings of one benchmark run (seconds per forward pass of ``setup.batch`` videos).

    ``times`` maps a label (``"tsm"``, ``"yardstick"``, ``"tsm+io"``) to the per-iteration wall times;
    ``peak_memory`` maps it to the peak memory of one pass in bytes (see :func:`measure_peak_memory`).
    """

    setup: BenchmarkSetup
    times: dict[str, list[float]]
    peak_memory: dict[str, int | None] = field(default_factory=dict)
    warmup_seconds: dict[str, float] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    clock: str = "wall"

    def median(self, label: str) -> float:
        """Median seconds per pass."""
        return statistics.median(self.times[label])

    def videos_per_second(self, label: str) -> float:
        """Throughput from the median time."""
        return self.setup.batch / self.median(label)

    def ratio(self, label: str = "tsm", reference: str = "yardstick") -> float:
        """Throughput of ``label`` relative to ``reference`` (``1.0`` = as fast)."""
        return self.median(reference) / self.median(label)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["summary"] = {
            k: {"median_s": self.median(k), "videos_per_s": self.videos_per_second(k)} for k in self.times
        }
        return out


@dataclass
class TrainStepResult:
    """One training step (forward, backward, SGD update) on ``setup.batch`` videos."""

    setup: BenchmarkSetup
    times: list[float]
    peak_memory: int | None
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def _check_device(device: str) -> torch.device:
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}") from exc
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False")
    return dev


def _check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")


def _autocast(setup: BenchmarkSetup) -> contextlib.AbstractContextManager[Any]:
    """Autocast to ``setup.dtype`` (none for fp32); unlike training, fp16 is allowed on the CPU here."""
    if setup.dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(setup.device).type, dtype=AMP_DTYPES[setup.dtype])


def resolve_setup(name: str, **overrides: Any) -> BenchmarkSetup:
    """The :class:`BenchmarkSetup` of a model name: a zoo checkpoint's test protocol, or 8 frames at 224 px.

    ``overrides`` replace any field (``batch``, ``device``, ``num_frames``, ``img_size``...).
    """
    with torch.device("meta"):  # no weights are allocated: only the name and the base network are read
        base_model = create_model(name).base_model.split(".")[0]  # unknown names raise with close matches
    entry = ZOO.get(resolve_alias(name))
    if entry is not None:
        p = entry.protocol
        fields: dict[str, Any] = dict(
            name=entry.name,
            base_model=base_model,
            num_classes=entry.num_classes,
            num_frames=p.num_frames,
            num_clips=p.num_clips,
            num_crops=p.num_crops,
            img_size=p.crop_size,
        )
    else:
        fields = dict(name=name, base_model=base_model, num_classes=400, num_frames=8)
    fields.update({k: v for k, v in overrides.items() if v is not None})
    setup = BenchmarkSetup(**fields)
    for key in ("num_frames", "num_clips", "num_crops", "img_size", "batch"):
        value = getattr(setup, key)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive int, got {value!r}")
    _check_dtype(setup.dtype)
    _check_device(setup.device)
    if setup.compile_mode not in COMPILE_MODES:
        raise ValueError(f"compile_mode must be one of {COMPILE_MODES}, got {setup.compile_mode!r}")
    return setup


def _build(setup: BenchmarkSetup, pretrained: Any = False) -> tuple[nn.Module, nn.Module]:
    tsm = create_model(setup.name, pretrained=pretrained, num_classes=setup.num_classes)
    plain = timm.create_model(setup.base_model, num_classes=setup.num_classes)
    return tsm, plain


def _prepare(model: nn.Module, setup: BenchmarkSetup, train: bool = False) -> nn.Module:
    grad_checkpointing = train and setup.grad_checkpointing
    model = prepare_model(model, setup.device, setup.channels_last, grad_checkpointing).train(train)
    if setup.compile:
        model = torch.compile(model, mode=setup.compile_mode)
    return model


def _frames(setup: BenchmarkSetup, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(setup.input_shape, generator=g).to(torch.device(setup.device))
    return x


@contextlib.contextmanager
def _inference(setup: BenchmarkSetup) -> Iterator[None]:
    with torch.inference_mode(), _autocast(setup):
        yield


def benchmark(
    setup: BenchmarkSetup,
    iters: int = 10,
    warmup: int = 2,
    yardstick: bool = True,
    with_io: str | os.PathLike | None = None,
    pretrained: Any = False,
    models: tuple[nn.Module, nn.Module | None] | None = None,
    clock: str = "wall",
) -> BenchmarkResult:
    """Time the TSM (and the plain timm ResNet on the same frames) under ``setup``.

    Args:
        setup: from :func:`resolve_setup`.
        iters: timed passes per model (medians are reported).
        warmup: untimed passes per model first (compilation happens here with ``setup.compile``).
        yardstick: also time the plain timm ResNet ``setup.base_model`` on the same frames.
        with_io: a video file: also time the whole pipeline per video (open, sample the test protocol's
            frames, decode, preprocess, model), as ``"tsm+io"``. Needs ``setup.batch == 1``.
        pretrained: passed to :func:`tsm_models.create_model` (weights don't change the speed).
        models: already built ``(tsm, plain)`` modules to use instead of building them (``plain`` may be
            ``None`` when ``yardstick`` is off).
        clock: ``"wall"`` or ``"cpu"`` (process CPU time, see :func:`time_interleaved`; CPU devices only).

    Returns:
        A :class:`BenchmarkResult` with per-iteration times and peak memory.
    """
    dev = torch.device(setup.device)
    if clock != "wall" and dev.type != "cpu":
        raise ValueError(f"clock={clock!r} only measures CPU work; use clock='wall' on {dev.type}")
    if with_io is not None:
        if not os.path.exists(with_io):
            raise FileNotFoundError(f"video for --with-io not found: {os.fspath(with_io)}")
        if setup.batch != 1:
            raise ValueError(f"--with-io times one video per pass; expected batch 1, got {setup.batch}")
    tsm, plain = models if models is not None else _build(setup, pretrained)
    tsm = _prepare(tsm, setup)
    x = _frames(setup)
    if setup.channels_last:
        x = to_channels_last(x)
    fns: dict[str, Callable[[], object]] = {"tsm": lambda: tsm(x)}
    if yardstick:
        if plain is None:
            raise ValueError("yardstick=True needs the plain model")
        plain = _prepare(plain, setup)
        flat = x.flatten(0, 1)
        fns["yardstick"] = lambda: plain(flat)
    if with_io is not None:
        fns["tsm+io"] = _io_pipeline(tsm, setup, os.fspath(with_io))
    warmup_seconds: dict[str, float] = {}

    def _log_warmup(label: str, seconds: float) -> None:
        warmup_seconds[label] = seconds
        _logger.debug("first %s pass (warm-up): %.3f s", label, seconds)

    with _inference(setup):
        times = time_interleaved(fns, iters=iters, warmup=warmup, device=dev, on_warmup=_log_warmup, clock=clock)
        peak = {label: measure_peak_memory(fn, dev) for label, fn in fns.items()}
    return BenchmarkResult(setup, times, peak, warmup_seconds, machine_info(setup.device), clock)


def _io_pipeline(model: nn.Module, setup: BenchmarkSetup, path: str) -> Callable[[], object]:
    """One video end to end: open, sample, decode, preprocess, run (the test protocol of ``setup.name``)."""
    entry = ZOO.get(resolve_alias(setup.name))
    if entry is None:
        raise ValueError(f"--with-io needs a zoo checkpoint name (its test protocol), got {setup.name!r}")
    p = entry.protocol
    # the checkpoint's protocol, with the frame count and crop size of `setup` (same resize ratio)
    protocol = dataclasses.replace(
        p,
        num_frames=setup.num_frames,
        crop_size=setup.img_size,
        resize_short=round(p.resize_short * setup.img_size / p.crop_size),
    )
    transform = create_transform(protocol, train=False)
    dev = torch.device(setup.device)

    def run() -> object:
        with open_video(path) as reader:
            frames = reader.read(sample_indices(protocol, reader.total_frames))
        clip = transform(frames).to(dev, non_blocking=True)  # (num_crops, clips * T, 3, S, S)
        if setup.channels_last:
            clip = to_channels_last(clip)
        return model(clip)

    return run


def benchmark_train_step(
    setup: BenchmarkSetup,
    iters: int = 3,
    warmup: int = 1,
    lr: float = 0.01,
    model: nn.Module | None = None,
) -> TrainStepResult:
    """Time and peak memory of a training step: forward, cross-entropy, backward, SGD update.

    The input is ``setup.batch`` random clips of ``setup.num_frames`` frames (one view, as in training),
    with ``setup.dtype`` autocast and ``setup.channels_last``. The peak memory is that of the last step
    (after warm-up, so optimizer state and cached workspaces are already allocated and counted as held).
    """
    dev = torch.device(setup.device)
    if model is None:
        model = create_model(setup.name, num_classes=setup.num_classes)
    net = _prepare(model, setup, train=True)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(setup.batch, setup.num_frames, 3, setup.img_size, setup.img_size, generator=g).to(dev)
    if setup.channels_last:
        x = to_channels_last(x)
    y = torch.randint(0, setup.num_classes, (setup.batch,), generator=g).to(dev)
    scaler = torch.amp.GradScaler(dev.type, enabled=setup.dtype == "fp16" and dev.type == "cuda")

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with _autocast(setup):
            loss = nn.functional.cross_entropy(net(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    times = time_interleaved({"train": step}, iters=iters, warmup=warmup, device=dev)["train"]
    opt.zero_grad(set_to_none=True)
    peak = measure_peak_memory(step, dev)
    return TrainStepResult(setup, times, peak, machine_info(setup.device))
