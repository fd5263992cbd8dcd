"""Training and evaluation loops and JSON-lines logs.

Small functions to compose in your own script (see ``examples/finetune.py``)::

    seed_everything(0)
    for epoch in range(start_epoch, epochs):
        sampler.set_epoch(epoch); dataset.set_epoch(epoch)
        train_one_epoch(model, loader, optimizer, scheduler=scheduler, epoch=epoch, device=device)
        result = evaluate(model, val_loader, device=device)
        save_train_state("work/last.pt", model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch + 1)

Batches are ``(video, label)``: training video ``(B, T, 3, S, S)``; evaluation video ``(B, T, 3, S, S)`` or
``(B, V, T, 3, S, S)`` with ``V`` views (clips x crops) whose logits are averaged (:func:`average_clips`).

Exact resume: :func:`~tsm_models.train.save_train_state` stores model, optimizer, scheduler, grad scaler, the
epoch and the torch / CUDA / numpy / Python RNG states; :func:`~tsm_models.train.resume_train_state` restores
them all. With the samplers of :mod:`tsm_models.data.sampler` (order from ``seed`` and epoch) and the per-item
seeding of :mod:`tsm_models.data`, a run stopped after an epoch and resumed produces the same weights as one that
never stopped (bitwise on CPU).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._io import atomic_write
from ..inference import average_clips
from .distributed import all_reduce_mean, gather_eval, get_world_size, is_main_process
from .metrics import classification_report, confusion_matrix, per_class_accuracy, save_confusion_matrix
from .multilabel import multilabel_report, per_class_average_precision
from .optim import GRAD_CLIP_NORM, freeze_bn
from .runtime import autocast, to_channels_last

__all__ = ["EvalResult", "JsonLogger", "evaluate", "train_one_epoch"]

_logger = logging.getLogger(__name__)


class JsonLogger:
    """Append one JSON object per line to ``path`` (only on rank 0; ``path=None`` logs nothing).

    Each record gets a ``time`` (Unix seconds). Lines are flushed as written, so a crashed run keeps
    every finished record; resuming appends to the same file.
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None and is_main_process() else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, **record: Any) -> None:
        if self.path is None:
            return
        record = {"time": round(time.time(), 3), **record}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=_json_default) + "\n")


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.generic, torch.Tensor)):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def _progress(iterable: Iterable[Any], desc: str, enabled: bool, total: int | None = None) -> Iterable[Any]:
    if not enabled or not is_main_process():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, dynamic_ncols=True, leave=False)


# ----------------------------------------------------------------------------------------------- loops


def _to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return to_channels_last(x) if channels_last and x.ndim == 5 else x


def _check_labels(model: nn.Module, loader: Any) -> None:
    """Labels beyond the classifier fail inside the loss with no file:line: check the dataset's up front."""
    check = getattr(getattr(loader, "dataset", None), "check_labels", None)
    classes = getattr(getattr(model, "module", model), "num_classes", None)  # DDP wraps the model
    if callable(check) and isinstance(classes, int) and classes > 0:
        check(classes)


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    epoch: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    device: str | torch.device = "cpu",
    amp: str | None = None,
    scaler: torch.amp.GradScaler | None = None,
    grad_clip_norm: float | None = GRAD_CLIP_NORM,
    partial_bn: bool = False,
    frozen_bn: bool = False,
    channels_last: bool = False,
    label_smoothing: float = 0.0,
    mixup: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
    multi_label: bool = False,
    logger: JsonLogger | None = None,
    log_interval: int = 50,
    progress: bool = True,
) -> dict[str, float]:
    """One pass over ``loader``: cross-entropy, backward, clip, step; the scheduler steps every iteration.

    Args:
        model: the network (DDP-wrapped when distributed) mapping ``(B, T, 3, S, S)`` to ``(B, K)``.
        loader: batches ``(video (B, T, 3, S, S), label (B,))``.
        optimizer: e.g. :func:`tsm_models.optim.create_optimizer`.
        epoch: 0-based epoch number, for logs.
        scheduler: per-step schedule (:func:`tsm_models.optim.create_scheduler`).
        device: where to compute.
        amp: ``None``, ``"bf16"`` or ``"fp16"`` (with ``scaler``).
        scaler: :func:`create_grad_scaler` result for fp16.
        grad_clip_norm: clip the global gradient 2-norm (MMAction2 TSM: 20); ``None`` = no clipping.
        partial_bn: freeze every BN layer but the first (TSM's partial BN) after ``model.train()``.
        frozen_bn: freeze every BN layer (running statistics, no affine updates).
        channels_last: feed channels-last frames (with a channels-last model).
        label_smoothing: cross-entropy label smoothing (0 in the MMAction2 recipe; with ``mixup`` the mixer
            smooths the targets instead).
        mixup: a batch mixer ``(video, labels) -> (video, soft targets (B, K))``, e.g.
            :class:`tsm_models.train.mixup.VideoMixup`; the loss is then cross-entropy with soft targets.
        multi_label: labels are multi-hot ``(B, K)`` float rows; the loss is BCE with logits.
        logger: JSON-lines logger; gets one ``{"mode": "train", ...}`` record every ``log_interval`` steps and
            at the last step of the epoch.
        log_interval: steps between log records.
        progress: show a tqdm bar (rank 0 only).

    Returns:
        ``{"loss": mean loss, "top1": training accuracy, "lr": last lr, "clips": clips seen (all ranks),
        "time": seconds}``; loss and accuracy are averaged over steps and processes. With mixed targets
        ``top1`` counts the class with the largest target weight; multi-label runs report no ``top1``.
    """
    device = torch.device(device)
    model.train()
    _check_labels(model, loader)
    if partial_bn or frozen_bn:
        freeze_bn(model, keep_first=not frozen_bn)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    hit_sum = torch.zeros((), dtype=torch.float64, device=device)
    count = torch.zeros((), dtype=torch.float64, device=device)
    steps = 0
    start = time.perf_counter()
    total = len(loader) if hasattr(loader, "__len__") else None  # type: ignore[arg-type]
    for steps, (video, label) in enumerate(_progress(loader, f"train {epoch}", progress, total), start=1):
        video = _to_device(video, device, channels_last)
        label = label.to(device, non_blocking=True)
        if mixup is not None:
            video, target = mixup(video, label)
        else:
            target = label
        with autocast(device, amp):
            logits = model(video)
        if multi_label:
            loss = F.binary_cross_entropy_with_logits(logits.float(), target.float())
        elif target.ndim == 2:  # soft targets (mixup / cutmix, already smoothed)
            loss = torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()
        else:
            loss = F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"epoch {epoch} step {steps}: loss is {loss.item()}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if grad_clip_norm is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if grad_clip_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip_norm)
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        n = label.shape[0]
        loss_sum += loss.detach().double() * n
        if not multi_label:
            hard = label if label.ndim == 1 else label.argmax(1)
            hit_sum += (logits.detach().argmax(1) == hard).sum().double()
        count += n
        if logger is not None and log_interval and (steps % log_interval == 0 or steps == total):
            logger.log(mode="train", epoch=epoch, step=steps, loss=loss.item(), lr=optimizer.param_groups[0]["lr"])
    totals = torch.stack([loss_sum, hit_sum, count])
    totals = all_reduce_mean(totals)
    n_all = float(totals[2])
    stats = {
        "loss": float(totals[0]) / max(n_all, 1.0),
        **({} if multi_label else {"top1": float(totals[1]) / max(n_all, 1.0)}),
        "lr": float(optimizer.param_groups[0]["lr"]),
        "clips": round(n_all * get_world_size()),
        "time": time.perf_counter() - start,
    }
    if logger is not None:
        logger.log(mode="train_epoch", epoch=epoch, **stats)
    return stats


@dataclass
class EvalResult:
    """What :func:`evaluate` measured: per-video ``scores (N, K)``, ``labels (N,)`` and the metrics.

    ``metrics`` holds ``top1``, ``top5``, ``mean_class_accuracy`` (fractions) and ``num_samples``.
    ``scores`` are averaged logits (``average="score"``) or probabilities (``"prob"``), in dataset order.
    Multi-label results (``multi_label=True``) have multi-hot ``labels (N, K)`` and the metrics ``mAP``,
    ``subset_accuracy`` and ``num_samples`` (:mod:`tsm_models.train.multilabel`).
    """

    scores: torch.Tensor
    labels: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)
    multi_label: bool = False
    failed: list[str] = field(default_factory=list)  # errors of the videos this process could not read

    @property
    def num_classes(self) -> int:
        return int(self.scores.shape[1])

    def confusion_matrix(self) -> np.ndarray:
        """``(K, K)`` counts, row = true class, column = top-1 prediction (single-label results)."""
        if self.multi_label:
            raise ValueError("a multi-label result has no confusion matrix (see per_class_average_precision)")
        return confusion_matrix(self.scores.argmax(1), self.labels, self.num_classes)

    def per_class_accuracy(self) -> np.ndarray:
        """``(K,)`` top-1 recall per class (``nan`` where a class has no video)."""
        return per_class_accuracy(self.scores, self.labels)

    def per_class_average_precision(self) -> np.ndarray:
        """``(K,)`` average precision per class of a multi-label result (``nan``: no positive video)."""
        return per_class_average_precision(self.scores, self.labels)

    def save(
        self, directory: str | os.PathLike[str], class_names: Sequence[str] | None = None, prefix: str = ""
    ) -> list[Path]:
        """Write ``metrics.json``, ``per_class_accuracy.csv``, ``confusion_matrix.csv`` and ``.png`` (rank 0 only);
        multi-label: ``metrics.json`` and ``per_class_ap.csv``."""
        if not is_main_process():
            return []
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        names = list(class_names) if class_names is not None else [str(i) for i in range(self.num_classes)]
        if len(names) != self.num_classes:
            raise ValueError(f"class_names has {len(names)} names for {self.num_classes} classes")
        written = [out / f"{prefix}metrics.json"]
        with atomic_write(written[0], "w") as f:
            f.write(json.dumps(self.metrics, indent=2) + "\n")
        if self.multi_label:
            return [*written, self._save_ap(out / f"{prefix}per_class_ap.csv", names)]
        counts = np.bincount(self.labels.numpy(), minlength=self.num_classes)
        acc = self.per_class_accuracy()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["class_index", "class_name", "num_samples", "accuracy"])
        for i, (n, c, a) in enumerate(zip(names, counts.tolist(), acc.tolist(), strict=True)):
            w.writerow([i, n, c, "" if math.isnan(a) else f"{a:.6f}"])
        written.append(out / f"{prefix}per_class_accuracy.csv")
        with atomic_write(written[-1], "w") as f:
            f.write(buf.getvalue())
        written += save_confusion_matrix(
            self.confusion_matrix(),
            out / f"{prefix}confusion_matrix.csv",
            out / f"{prefix}confusion_matrix.png",
            class_names=names,
        )
        return written

    def _save_ap(self, path: Path, names: list[str]) -> Path:
        positives = self.labels.sum(0).long().tolist()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["class_index", "class_name", "num_positives", "average_precision"])
        for i, (n, c, a) in enumerate(zip(names, positives, self.per_class_average_precision().tolist(), strict=True)):
            w.writerow([i, n, c, "" if math.isnan(a) else f"{a:.6f}"])
        with atomic_write(path, "w") as f:
            f.write(buf.getvalue())
        return path


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    device: str | torch.device = "cpu",
    amp: str | None = None,
    average: str = "score",
    topk: Sequence[int] = (1, 5),
    channels_last: bool = False,
    logger: JsonLogger | None = None,
    epoch: int | None = None,
    progress: bool = True,
    multi_label: bool = False,
) -> EvalResult:
    """Score every video of ``loader`` and compute MMAction2's metrics, over all processes.

    Args:
        model: the network; set to eval mode here.
        loader: batches ``(video, label)`` with video ``(B, T, 3, S, S)`` or ``(B, V, T, 3, S, S)``. When
            distributed, use :class:`tsm_models.distributed.ShardSampler` so that results can be put back in
            dataset order.
        device: where to compute.
        amp: ``None``, ``"bf16"`` or ``"fp16"``.
        average: how views are combined: ``"score"`` (mean logits, the 2020 zoo protocol) or ``"prob"``.
        topk: the top-k accuracies to report (``k`` larger than the class count counts every video).
        channels_last: feed channels-last frames.
        logger: gets one ``{"mode": "val", ...}`` record.
        epoch: recorded in the log.
        progress: show a tqdm bar (rank 0 only).
        multi_label: labels are multi-hot ``(B, K)``; metrics are mAP and subset accuracy of the sigmoid of
            the averaged logits.

    Returns:
        An :class:`EvalResult` with gathered scores (on every rank) and metrics.
    """
    device = torch.device(device)
    model.eval()
    _check_labels(model, loader)
    scores: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    start = time.perf_counter()
    total = len(loader) if hasattr(loader, "__len__") else None  # type: ignore[arg-type]
    failed: list[str] = []
    for batch in _progress(loader, "eval", progress, total):
        video, label = batch[0], batch[1]
        if len(batch) > 2:  # (video, label, error) of a VideoDataset(skip_errors=True)
            failed += [e for e in batch[2] if e]
        if video.ndim == 5:
            video = video[:, None]
        if video.ndim != 6:
            raise ValueError(f"expected video batches (B, T, 3, S, S) or (B, V, T, 3, S, S), got {tuple(video.shape)}")
        b, v = video.shape[:2]
        with autocast(device, amp):
            logits = model(_to_device(video.flatten(0, 1), device, channels_last))
        views = logits.float().unflatten(0, (b, v))
        if multi_label and average == "prob":  # independent sigmoid probabilities, not a softmax
            scores.append(views.sigmoid().mean(1).cpu())
        else:
            scores.append(average_clips(views, average).cpu())
        labels.append(label.cpu().float() if multi_label else label.cpu().long())
    if not scores:
        raise ValueError("evaluate: the loader yielded no batches")
    all_scores, all_labels = gather_eval(torch.cat(scores), torch.cat(labels))
    readable = (all_labels >= 0).all(1) if multi_label else all_labels >= 0  # rows of unreadable videos: -1
    all_scores, all_labels = all_scores[readable], all_labels[readable]
    if not len(all_labels):
        raise ValueError(f"evaluate: no video could be read ({len(failed)} failed on this process): {failed[:3]}")
    if multi_label:
        probs = all_scores.sigmoid() if average == "score" else all_scores
        metrics: dict[str, Any] = multilabel_report(probs, all_labels)
    else:
        metrics = classification_report(all_scores, all_labels, topk)
    metrics["num_failed"] = int((~readable).sum())
    metrics["time"] = time.perf_counter() - start
    if logger is not None:
        logger.log(mode="val", **({"epoch": epoch} if epoch is not None else {}), **metrics)
    return EvalResult(all_scores, all_labels, metrics, multi_label=multi_label, failed=failed)
