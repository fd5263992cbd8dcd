"""Mixup and CutMix for video batches: timm's :class:`timm.data.Mixup` on ``(B, T, C, H, W)`` clips.

timm mixes image batches ``(B, C, H, W)``; CutMix cuts its box from the last two dims. A video batch is
viewed as ``(B, T * C, H, W)`` for the call, so every frame of a clip gets the same box (and mixup the same
``lam``), and the result is viewed back. Targets are timm's :func:`timm.data.mixup.mixup_target`: one-hot
``(B, K)`` rows smoothed to ``smoothing / K`` off and ``1 - smoothing + smoothing / K`` on, then
``lam * y + (1 - lam) * y.flip(0)``; multi-label targets ``(B, K)`` are smoothed towards 0.5 and mixed alike.

Randomness is NumPy's global generator (timm draws ``lam`` and the box with ``np.random``), which
:func:`tsm_models.train.state.save_train_state` saves and restores: a resumed run mixes the same pairs.

Labels are mixed after the dataset has applied its flips, so a Something-Something clip whose left/right
label was swapped when it was mirrored enters the mix with the swapped label (the swap stays correct).
"""

from __future__ import annotations

import torch
from timm.data import Mixup

__all__ = ["VideoMixup"]


class VideoMixup:
    """timm ``Mixup`` / ``CutMix`` for video batches (also accepts image batches ``(B, C, H, W)``).

    Args:
        num_classes: ``K``, the width of the targets.
        mixup_alpha: Beta(alpha, alpha) of mixup (0 = off). MMAction2's sthv1 mixup recipe: 0.2.
        cutmix_alpha: Beta(alpha, alpha) of CutMix (0 = off). MMAction2's sthv1 cutmix recipe: 0.2.
        prob: probability of mixing a batch.
        switch_prob: with both on, probability of CutMix instead of mixup.
        label_smoothing: timm's label smoothing of the mixed targets.
        multi_label: targets are multi-hot ``(B, K)`` float rows instead of class indices ``(B,)``.
        mode: timm's ``"batch"`` (one ``lam`` per batch), ``"pair"`` or ``"elem"``.

    Calling it with ``(video (B, T, C, H, W), target)`` returns ``(mixed video, soft targets (B, K))``;
    ``B`` must be even (timm's rule). A contiguous video is mixed in place, as timm does.
    """

    def __init__(
        self,
        num_classes: int,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.0,
        multi_label: bool = False,
        mode: str = "batch",
    ) -> None:
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        if mixup_alpha < 0 or cutmix_alpha < 0 or (mixup_alpha == 0 and cutmix_alpha == 0):
            raise ValueError(
                f"mixup_alpha and cutmix_alpha must be >= 0 and one of them > 0, got {mixup_alpha!r}, {cutmix_alpha!r}"
            )
        if not 0.0 <= prob <= 1.0 or not 0.0 <= switch_prob <= 1.0:
            raise ValueError(f"prob and switch_prob must be in [0, 1], got {prob!r}, {switch_prob!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        if mode not in ("batch", "pair", "elem"):
            raise ValueError(f"mode must be 'batch', 'pair' or 'elem', got {mode!r}")
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.mixup = Mixup(
            mixup_alpha=mixup_alpha,
            cutmix_alpha=cutmix_alpha,
            prob=prob,
            switch_prob=switch_prob,
            mode=mode,
            label_smoothing=label_smoothing,
            num_classes=num_classes,
            multi_label=multi_label,
        )

    def __repr__(self) -> str:
        m = self.mixup
        return (
            f"VideoMixup(num_classes={self.num_classes}, mixup_alpha={m.mixup_alpha}, cutmix_alpha={m.cutmix_alpha}, "
            f"prob={m.mix_prob}, switch_prob={m.switch_prob}, label_smoothing={m.label_smoothing}, "
            f"multi_label={self.multi_label}, mode={m.mode!r})"
        )

    def __call__(self, video: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if video.ndim not in (4, 5):
            raise ValueError(f"expected a video batch (B, T, C, H, W) or images (B, C, H, W), got {tuple(video.shape)}")
        b = video.shape[0]
        if b % 2:
            raise ValueError(f"mixup/cutmix needs an even batch size (timm pairs clip i with B-1-i), got {b}")
        if self.multi_label:
            if target.ndim != 2 or target.shape != (b, self.num_classes):
                raise ValueError(
                    f"multi-label targets must be (B, K) = ({b}, {self.num_classes}), got {tuple(target.shape)}"
                )
        elif target.ndim != 1 or target.shape[0] != b:
            raise ValueError(f"targets must be class indices (B,) = ({b},), got {tuple(target.shape)}")
        frames = video.reshape(b, -1, *video.shape[-2:])  # (B, T*C, H, W): one box and lam for all frames
        mixed, soft = self.mixup(frames, target)
        return mixed.reshape(video.shape), soft
