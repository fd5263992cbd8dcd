"""TSM-MobileOne: timm's ``mobileone_s4`` (:class:`~timm.models.byobnet.ByobNet`) with an in-place shift on
every block (MMAction2 ``MobileOneTSM``).

timm's MobileOne-S4 has exactly the structure of mmpretrain's (checked by loading one into the other: a 1:1
key map, same outputs): a stem block (3 -> 64, stride 2), then 4 stages of (2, 8, 10, 1) pairs of a
depthwise 3x3 and a pointwise 1x1 MobileOneBlock (widths 192, 448, 896, 2048), SE on the last 5 pairs of
stage 3 and on stage 4. Each block is multi-branch while training (``conv_kxk.0`` conv+BN, ``conv_scale``
1x1 conv+BN for 3x3 blocks, ``identity`` BN when in == out and stride 1, ``attn`` = SE) and is fused into
one conv (``reparam_conv``) by :func:`reparameterize` (timm's ``reparameterize_model``) with the same
outputs up to float rounding.

Shift: MMAction2 wraps every block, the stem included, in ``TemporalShift(block)`` ("before the block, so
that reparameterisation works"): the shifted input feeds all branches. On the 3-channel stem the fold is
``3 // 8 = 0``, a no-op, so the stem is not wrapped here (its MMAction2 keys ``stage0.net.*`` map to
``stem.*``). Every other block is: ``stages.2.5.net.conv_kxk.0.conv.weight``.

The released 16-frame config sets ``num_segments=16`` only in the head and keeps the backbone at 8: build
``num_segments=8`` and feed 16 frames (two shift groups; the head averages all 16 frames either way).

Layouts: video ``(B, T, 3, H, W)`` in, ``(B, num_classes)`` out (see :mod:`tsm_models.models.tsm`).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from timm.models import generate_default_cfgs, register_model
from timm.models._manipulate import reparameterize_model
from timm.models.byobnet import ByobNet, MobileOneBlock, model_cfgs
from torch import nn

from ._builder import PretrainedSpec, build_tsm, timm_cfg, zoo_timm_cfgs
from .shift import TemporalShift
from .tsm import TSMConfig, TSMMixin, check_num_classes, refuse_non_local

__all__ = ["MOBILEONE_ARCHS", "TSMMobileOne", "insert_mobileone_shift", "reparameterize"]

# architecture -> (timm model cfg name, the timm ImageNet weights it starts from)
MOBILEONE_ARCHS: dict[str, tuple[str, str]] = {"tsm_mobileone_s4": ("mobileone_s4", "mobileone_s4.apple_in1k")}


def insert_mobileone_shift(
    model: ByobNet, num_segments: int, shift_div: int = 8, shift_direction: str = "bidirectional"
) -> int:
    """Wrap every block of every stage of a timm MobileOne in an in-place :class:`TemporalShift`.

    Returns:
        The number of shifted blocks (42 for MobileOne-S4).
    """
    count = 0
    for stage in model.stages:
        for i, block in enumerate(stage):
            if isinstance(block, TemporalShift):
                raise ValueError("the MobileOne is already shifted")
            channels = (
                block.conv_kxk[0].conv.in_channels if block.reparam_conv is None else block.reparam_conv.in_channels
            )
            # MobileOneBlock reads its input without writing to it or returning a view of it
            stage[i] = TemporalShift(block, channels, num_segments, shift_div, shift_direction, True)  # type: ignore[arg-type]
            count += 1
    return count


class TSMMobileOne(TSMMixin, ByobNet):
    """Temporal Shift Module network on timm's MobileOne (in-place shift on every block).

    Args:
        num_classes: classifier outputs (0 for a feature extractor).
        num_segments, shift_div, shift_direction, dropout: the :class:`~tsm_models.TSMConfig` settings (the
            shift place is ``"inplace"``, every block).
        arch_cfg: the timm ``byobnet`` model cfg name (``"mobileone_s4"``).
        deploy: build the fused inference form (``reparam_conv`` per block), e.g. to load a reparameterised
            checkpoint; the same as calling :func:`reparameterize` on the training form.
        **kwargs: other :class:`timm.models.byobnet.ByobNet` arguments.
    """

    tsm_family = "mobileone"

    def __init__(
        self,
        num_classes: int = 400,
        *,
        num_segments: int = 8,
        shift_div: int = 8,
        shift_place: str = "inplace",
        shift_direction: str = "bidirectional",
        shift_every: int | None = None,
        dropout: float = 0.5,
        non_local: Any = None,
        non_local_blocks: Any = None,
        arch_cfg: str = "mobileone_s4",
        deploy: bool = False,
        **kwargs: Any,
    ) -> None:
        if "drop_rate" in kwargs:
            dropout = kwargs.pop("drop_rate")
        refuse_non_local("TSM-MobileOne", non_local, non_local_blocks)
        if shift_place != "inplace" or shift_every not in (None, 1):
            raise ValueError(
                "TSM-MobileOne shifts the input of every block (shift_place='inplace', shift_every=1), as "
                f"MMAction2's MobileOneTSM does; got shift_place={shift_place!r}, shift_every={shift_every!r}"
            )
        cfg = TSMConfig(num_segments, shift_div, "inplace", shift_direction, 1, dropout)  # type: ignore[arg-type]
        check_num_classes(num_classes)
        super().__init__(cfg=model_cfgs[arch_cfg], num_classes=num_classes, drop_rate=float(dropout), **kwargs)
        insert_mobileone_shift(self, num_segments, shift_div, shift_direction)
        self.tsm_config = cfg
        self._init_classifier()
        if deploy:
            reparameterize(self, inplace=True)

    @property
    def deployed(self) -> bool:
        """Whether the blocks are fused (``reparam_conv``), i.e. after :func:`reparameterize`."""
        return all(m.reparam_conv is not None for m in self.modules() if isinstance(m, MobileOneBlock))

    def _init_classifier(self) -> None:
        fc = getattr(self.head, "fc", None)
        if isinstance(fc, nn.Linear):
            nn.init.normal_(fc.weight, std=0.001)
            nn.init.zeros_(fc.bias)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier with a freshly initialised ``num_classes``-way one (0 removes it)."""
        super().reset_classifier(num_classes, global_pool)  # type: ignore[arg-type]
        self._init_classifier()

    def forward_frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B * T, 3, H, W)`` -> ``(B * T, 2048, h, w)``: stem and the shifted stages."""
        return ByobNet.forward_features(self, frames)

    def forward_frame_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``(N, 2048, h, w)`` -> ``(N, num_classes)``: pool, dropout, ``head.fc`` (``(N, 2048)`` if ``pre_logits``)."""
        return self.head(feats, pre_logits=pre_logits)

    def extra_repr(self) -> str:
        return f"{self.tsm_repr()}, num_shifted={self.num_shifted}, deployed={self.deployed}"


def reparameterize(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Fuse every re-parameterisable block (MobileOne's branches) into its inference form.

    timm's ``reparameterize_model`` on a TSM: each shifted ``MobileOneBlock`` becomes one conv (``reparam_conv``)
    with the same outputs up to float rounding; the shifts, the head and any other family are unchanged (a
    TSM-ResNet is returned as it is). Use it after training (the fused form has no BN left to train).

    Args:
        model: any TSM (or nn.Module).
        inplace: modify ``model`` itself; otherwise a fused deep copy is returned and ``model`` is untouched.

    Returns:
        The fused model (``model`` itself when ``inplace``).
    """
    if not inplace:
        model = copy.deepcopy(model)
    reparameterize_model(model, inplace=True)
    return model


# ------------------------------------------------------------------------------------------ timm registry

_FAMILY_CFG = dict(first_conv="stem.conv_kxk.0.conv", classifier="head.fc", pool_size=(7, 7))

default_cfgs = generate_default_cfgs(
    {
        **zoo_timm_cfgs(MOBILEONE_ARCHS, **_FAMILY_CFG),
        **{f"{arch}.*": timm_cfg(**_FAMILY_CFG) for arch in MOBILEONE_ARCHS},
    }
)


@register_model
def tsm_mobileone_s4(pretrained: PretrainedSpec = False, **kwargs: Any) -> TSMMobileOne:
    """TSM on timm's MobileOne-S4 (MMAction2 ``MobileOneTSM`` arch ``s4``: every block shifted in place)."""
    cfg_name, imagenet = MOBILEONE_ARCHS["tsm_mobileone_s4"]
    return build_tsm(
        TSMMobileOne,
        "tsm_mobileone_s4",
        pretrained,
        base_model=imagenet,
        arch_cfg=cfg_name,
        feature_cfg=dict(flatten_sequential=True),
        **kwargs,
    )
