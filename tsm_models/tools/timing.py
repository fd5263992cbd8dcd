"""Timing and memory measurement for benchmarks: interleaved timing, peak memory, machine details.

Model-agnostic helpers used by :mod:`tsm_models.benchmark`, :mod:`tsm_models.export` and the scripts in
``benchmarks/``. CUDA work is asynchronous, so every timed call on a CUDA device is bracketed by
:func:`synchronize`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch

__all__ = ["CLOCKS", "machine_info", "measure_peak_memory", "synchronize", "time_interleaved"]

CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """CPU model, core count, load, torch version and (for CUDA) the GPU name, for the benchmark record."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    with contextlib.suppress(OSError, AttributeError):
        info["load_average"] = tuple(round(v, 2) for v in os.getloadavg())
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def synchronize(device: str | torch.device) -> None:
    """Wait for the work queued on ``device`` (a no-op for the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    fns: Mapping[str, Callable[[], object]],
    iters: int = 10,
    warmup: int = 2,
    device: str | torch.device = "cpu",
    on_warmup: Callable[[str, float], None] | None = None,
    clock: str = "wall",
) -> dict[str, list[float]]:
    """Time each function, alternating between them each iteration.

    Args:
        fns: label -> zero-argument callable (one forward pass each).
        iters: timed calls per function.
        warmup: untimed calls per function first (compilation, allocator and cuDNN warm-up).
        device: CUDA devices are synchronised around every timed call.
        on_warmup: called with ``(label, seconds)`` for each function's first warm-up call.
        clock: ``"wall"`` (``time.perf_counter``) or ``"cpu"`` (``time.process_time``: CPU seconds of all this
            process's threads; with one torch thread on a loaded machine it leaves out the time spent waiting
            for a core, which wall time can't).

    Returns:
        label -> ``iters`` times in seconds.
    """
    if iters < 1 or warmup < 0:
        raise ValueError(f"expected iters >= 1 and warmup >= 0, got iters={iters}, warmup={warmup}")
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {tuple(CLOCKS)}, got {clock!r}")
    now = CLOCKS[clock]
    dev = torch.device(device)
    for label, fn in fns.items():
        for i in range(warmup):
            synchronize(dev)
            start = time.perf_counter()
            fn()
            synchronize(dev)
            if i == 0 and on_warmup is not None:
                on_warmup(label, time.perf_counter() - start)
    times: dict[str, list[float]] = {label: [] for label in fns}
    order = list(fns.items())
    for i in range(iters):
        # alternate the order too, so neither function always runs right after the other
        for label, fn in order if i % 2 == 0 else order[::-1]:
            synchronize(dev)
            start = now()
            fn()
            synchronize(dev)
            times[label].append(now() - start)
    return times


def _rss_kib(field_name: str) -> int | None:
    with contextlib.suppress(OSError, AttributeError):
        with open("/proc/self/status") as f:
            m = re.search(rf"^{field_name}:\s+(\d+) kB", f.read(), re.MULTILINE)
        return int(m.group(1)) if m else None
    return None


def _release_free_memory() -> None:
    # glibc keeps freed blocks resident; hand them back so that the RSS peak reflects this call's allocations
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure_peak_memory(fn: Callable[[], object], device: str | torch.device = "cpu") -> int | None:
    """Peak memory of one call of ``fn`` in bytes.

    CUDA: ``torch.cuda.max_memory_allocated`` during the call, everything allocated included (weights,
    optimizer state), the figure MMAction2's training logs report as ``memory``. CPU (Linux): growth of the
    process's peak resident set size during the call (``VmHWM``, reset through ``/proc/self/clear_refs``, after
    ``malloc_trim``),
    i.e. activations and workspaces but not the weights; ``None`` where the OS can't tell.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        fn()
        synchronize(dev)
        return int(torch.cuda.max_memory_allocated(dev))
    _release_free_memory()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
    except OSError:
        return None
    before = _rss_kib("VmRSS")
    fn()
    peak = _rss_kib("VmHWM")
    if before is None or peak is None:
        return None
    return max(0, peak - before) * 1024
