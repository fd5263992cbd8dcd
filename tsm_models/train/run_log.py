"""The log of a training run: JSON lines (rank 0), TensorBoard beside them, and the loss / lr curves as PNG."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from .loop import JsonLogger

_logger = logging.getLogger(__name__)


class RunLogger(JsonLogger):
    """JSON lines (rank 0) plus, optionally, the same numbers in TensorBoard (``OUT/tensorboard``).

    ``train`` records (every ``log_interval`` steps) go to ``train/<key>`` at the global step,
    ``train_epoch`` and ``val`` records to ``<mode>/<key>`` at the epoch.
    """

    def __init__(self, path: Path | None, steps_per_epoch: int, tensorboard_dir: Path | None = None) -> None:
        super().__init__(path)
        self.steps_per_epoch = steps_per_epoch
        self.writer: Any = None
        if tensorboard_dir is not None and self.path is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ValueError(
                    "--tensorboard needs the tensorboard package: pip install 'tsm-models[tensorboard]'"
                ) from exc
            self.writer = SummaryWriter(str(tensorboard_dir))

    def log(self, **record: Any) -> None:
        super().log(**record)
        if self.writer is None:
            return
        mode = record.get("mode")
        if mode == "train":
            step = int(record["epoch"]) * self.steps_per_epoch + int(record["step"])
        elif mode in ("train_epoch", "val"):
            step = int(record.get("epoch", 0)) + 1
        else:
            return
        for key, value in record.items():
            if key not in ("mode", "epoch", "step") and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{mode}/{key}", value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _read_log(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                records.append(json.loads(line))
    return records


def plot_curves(log_path: str | os.PathLike[str], png_path: str | os.PathLike[str]) -> Path | None:
    """Loss and learning rate against the optimizer step (and validation per epoch) from ``log.jsonl``, as PNG.

    A resumed run appends to the log; records of epochs that were redone after the resume replace the
    earlier ones. Needs matplotlib (the ``plot`` extra); without it nothing is drawn and ``None`` returned.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _logger.info("matplotlib is not installed (pip install 'tsm-models[plot]'): no curves PNG")
        return None
    records = _read_log(Path(log_path))
    spe = next((r.get("steps_per_epoch") for r in reversed(records) if r.get("mode") == "config"), None) or 1
    train: dict[tuple[int, int], dict[str, Any]] = {}
    val: dict[int, dict[str, Any]] = {}
    for r in records:
        if r.get("mode") == "train":
            train[(int(r["epoch"]), int(r["step"]))] = r
        elif r.get("mode") == "val" and "epoch" in r:
            val[int(r["epoch"])] = r
    if not train:
        _logger.info("%s has no training records: no curves PNG", log_path)
        return None
    keys = sorted(train)
    steps = [e * spe + s for e, s in keys]
    fig, axes = plt.subplots(1, 3 if val else 2, figsize=(15 if val else 10, 3.6), dpi=100)
    axes[0].plot(steps, [train[k]["loss"] for k in keys], lw=1)
    axes[0].set(xlabel="step", ylabel="training loss", title="loss")
    axes[1].plot(steps, [train[k]["lr"] for k in keys], lw=1, color="tab:orange")
    axes[1].set(xlabel="step", ylabel="lr (first group)", title="learning rate")
    if val:
        epochs = sorted(val)
        metric = "top1" if "top1" in val[epochs[0]] else "mAP"
        axes[2].plot([e + 1 for e in epochs], [val[e][metric] for e in epochs], marker="o", color="tab:green")
        axes[2].set(xlabel="epoch", ylabel=metric, title=f"validation {metric}")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    png = Path(png_path)
    fig.savefig(png)
    plt.close(fig)
    return png
