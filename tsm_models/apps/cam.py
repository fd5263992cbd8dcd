"""Grad-CAM for TSM video models of any family: where in each sampled frame the evidence for a class lies.

>>> heat = tsm_models.grad_cam(model, "clip.mp4", target="dribbling basketball")   # (T, S, S) in [0, 1]
>>> result = cam_video(model, "clip.mp4")          # + the cropped frames, the target, overlays
>>> write_gif(result.overlays(), "cam.gif")

Grad-CAM (Selvaraju et al., 2017) on a layer's activations ``A`` ``(T, C, h, w)`` (frames of one clip): the
weights ``a_c = mean_{h,w} d y_target / d A_c`` per frame and channel, the map ``ReLU(sum_c a_c A_c)`` per frame,
upsampled to the input size and scaled by its maximum over the clip (frames stay comparable). The default
layer is the network's last stage: the maps of :meth:`forward_features` ``(B, T, C, h, w)``, the same for every
family. Another layer is a submodule name (``"layer3"``, ``"blocks.5"``) or the module itself; its output is
taken as frames ``(T, C, h, w)``.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.transforms import center_crop, resize_short, to_clip_tensor
from ..data.views import load_frames
from ..inference import VideoClassifier

__all__ = ["CamResult", "cam_video", "colorize", "grad_cam", "overlay"]

_logger = logging.getLogger(__name__)


def _resolve_target(target: int | str | None, logits: torch.Tensor, labels: Sequence[str] | None) -> int:
    k = logits.shape[-1]
    if target is None:
        return int(logits.argmax())
    if isinstance(target, bool):
        raise TypeError("target must be a class index or a label, got a bool")
    if isinstance(target, (int, np.integer)):
        if not 0 <= int(target) < k:
            raise ValueError(f"target class {int(target)} out of range; the model has {k} classes (0..{k - 1})")
        return int(target)
    if isinstance(target, str):
        names = list(labels or [])
        if target in names:
            return names.index(target)
        lowered = [n.lower() for n in names]
        if target.lower() in lowered:
            return lowered.index(target.lower())
        if target.isdigit() and int(target) < k:
            return int(target)
        close = difflib.get_close_matches(target, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown target label {target!r} (the model has {k} classes){hint}")
    raise TypeError(f"target must be a class index, a label or None, got {type(target).__name__}")


def _video_input(model: nn.Module, video: torch.Tensor) -> torch.Tensor:
    if video.ndim == 4:
        video = video.unsqueeze(0)
    if video.ndim != 5 or video.shape[0] != 1:
        raise ValueError(f"expected one clip (T, 3, H, W) or (1, T, 3, H, W), got shape {tuple(video.shape)}")
    if not video.is_floating_point():
        raise ValueError(f"expected a normalised float clip, got dtype {video.dtype}")
    return video


def _grad_cam_tensor(
    model: nn.Module,
    x: torch.Tensor,
    target: int | str | None,
    layer: str | nn.Module | None,
    labels: Sequence[str] | None,
) -> tuple[torch.Tensor, int, torch.Tensor]:
    """Heatmaps ``(T, H, W)``, the target index and the probabilities ``(K,)`` for a clip ``x`` ``(1, T, 3, H, W)``."""
    was_training = model.training
    model.eval()
    captured: list[torch.Tensor] = []
    handle = None
    try:
        with torch.enable_grad():
            x = x.detach().requires_grad_(False)
            if layer is None:
                feats = model.forward_features(x)  # (1, T, C, h, w)
                activation = feats
                logits = model.forward_head(feats)
            else:
                module = model.get_submodule(layer) if isinstance(layer, str) else layer
                if not isinstance(module, nn.Module):
                    raise TypeError(f"layer must be a submodule name or an nn.Module, got {type(layer).__name__}")

                def hook(_m: nn.Module, _inp: Any, output: Any) -> None:
                    out = output[0] if isinstance(output, (tuple, list)) else output
                    captured.append(out)

                handle = module.register_forward_hook(hook)
                logits = model(x)
                if not captured:
                    raise ValueError(f"layer {layer!r} did not run in the forward pass")
                activation = captured[-1]
            logits = logits.float()
            index = _resolve_target(target, logits[0], labels)
            (grad,) = torch.autograd.grad(logits[0, index], activation)
    finally:
        if handle is not None:
            handle.remove()
        model.train(was_training)
    t = x.shape[1]
    act, grad = activation.detach(), grad.detach()
    if act.ndim == 5:  # (B, T, C, h, w) -> frames
        act, grad = act.flatten(0, 1), grad.flatten(0, 1)
    if act.ndim != 4 or act.shape[0] != t:
        raise ValueError(f"layer output of shape {tuple(act.shape)} is not per-frame maps (T, C, h, w)")
    weights = grad.mean(dim=(-2, -1), keepdim=True)  # (T, C, 1, 1)
    cam = F.relu((weights * act).sum(1, keepdim=True))  # (T, 1, h, w)
    cam = F.interpolate(cam.float(), size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.max()
    cam = cam / peak if peak > 0 else cam
    probs = logits.detach()[0].softmax(-1)
    return cam, index, probs


def grad_cam(
    model: nn.Module | VideoClassifier,
    video: Any,
    target: int | str | None = None,
    layer: str | nn.Module | None = None,
    labels: Sequence[str] | None = None,
) -> torch.Tensor:
    """Grad-CAM heatmaps of ``video`` for class ``target``, one per frame: ``(T, H, W)`` float in ``[0, 1]``.

    Args:
        model: a TSM of any family (or a :class:`~tsm_models.VideoClassifier`).
        video: a normalised clip ``(T, 3, H, W)`` / ``(1, T, 3, H, W)``, or a video (file, URL, frames folder,
            ``(N, H, W, 3)`` uint8 array) sampled and cropped by the model's test protocol (first view).
        target: class index or label; default: the predicted class.
        layer: default: the last stage (:meth:`forward_features`); else a submodule name or module.
        labels: class names for a ``target`` label (default: the zoo entry's).

    Raises:
        ValueError: an unknown target label or index, a layer that is not per-frame maps.
    """
    if isinstance(video, torch.Tensor) and video.is_floating_point():
        net = model.model if isinstance(model, VideoClassifier) else model
        names = model.labels if isinstance(model, VideoClassifier) else labels
        if names is None and isinstance(net, nn.Module):
            try:
                names = VideoClassifier(net).labels
            except (ValueError, TypeError):
                names = None
        x = _video_input(net, video).to(next(net.parameters()).device)
        return _grad_cam_tensor(net, x, target, layer, names)[0]
    return cam_video(model, video, target=target, layer=layer, labels=labels).heatmaps


@dataclass
class CamResult:
    """Grad-CAM of one video: ``heatmaps`` ``(T, S, S)``, the cropped ``frames`` ``(T, S, S, 3)`` uint8 the model
    saw, the ``target`` class index, its ``label`` and ``probability``."""

    heatmaps: torch.Tensor
    frames: np.ndarray
    target: int
    label: str
    probability: float

    def overlays(self, alpha: float = 0.45) -> np.ndarray:
        """The frames with their heatmaps blended in, ``(T, S, S, 3)`` uint8."""
        return overlay(self.frames, self.heatmaps.cpu().numpy(), alpha)


def cam_video(
    model: nn.Module | VideoClassifier,
    video: Any,
    target: int | str | None = None,
    layer: str | nn.Module | None = None,
    labels: Sequence[str] | None = None,
) -> CamResult:
    """Grad-CAM of a video's first test view, with the frames it was computed on (see :func:`grad_cam`)."""
    clf = model if isinstance(model, VideoClassifier) else VideoClassifier(model, labels=labels)
    p = clf.protocol
    frames = load_frames(video, p)[: p.num_frames]  # first clip
    views = clf.transform(frames)  # (crops, T, 3, S, S)
    x = views[:1].to(clf.device)
    heat, index, probs = _grad_cam_tensor(clf.model, x, target, layer, clf.labels)
    shown = center_crop(resize_short(to_clip_tensor(frames), p.resize_short), p.crop_size)  # (T, 3, S, S) 0-255
    shown_np = shown.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    label = clf.labels[index] if index < len(clf.labels) else str(index)
    return CamResult(heat.cpu(), shown_np, index, label, float(probs[index]))


def colorize(heat: np.ndarray) -> np.ndarray:
    """A ``[0, 1]`` map ``(..., H, W)`` -> ``(..., H, W, 3)`` uint8 RGB in the jet colour map (blue low, red high)."""
    v = np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)[..., None]
    r = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    return (np.concatenate([r, g, b], -1) * 255).round().astype(np.uint8)


def overlay(frames: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend heatmaps ``(T, H, W)`` into frames ``(T, H, W, 3)`` uint8."""
    frames = np.asarray(frames, dtype=np.float32)
    if frames.shape[:-1] != np.shape(heat):
        raise ValueError(f"frames {frames.shape} and heatmaps {np.shape(heat)} differ in size")
    mixed = (1 - alpha) * frames + alpha * colorize(heat).astype(np.float32)
    return mixed.round().clip(0, 255).astype(np.uint8)
