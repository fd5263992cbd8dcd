"""TSM-MobileNetV2: timm's ``mobilenetv2_100`` (:class:`~timm.models.efficientnet.EfficientNet`) with shifts.

Where the shift goes (both upstreams, ``research/zoo_landscape.md`` §4): on the input of the expand 1x1 conv
of the residual branch of the 10 InvertedResiduals that have a skip connection (blocks 2.1, 3.{1,2},
4.{1,2,3}, 5.{1,2}, 6.{1,2} in MMAction2's ``layerX.Y``; ``features.{3,5,6,8,9,10,12,13,15,16}`` in the
original repo). In timm that is ``blocks[s][b].conv_pw`` of every ``InvertedResidual`` with ``has_skip``:
timm takes the shortcut before ``conv_pw``, so the skip stays unshifted, exactly as upstream. Keys:
``blocks.2.1.conv_pw.net.weight``; the rest are timm's (``conv_stem``, ``bn1``, ``blocks.*``, ``conv_head``,
``bn2``, ``classifier``).

Head: global average pool -> dropout -> ``classifier`` (1280 -> classes) per frame -> mean over the frames
(MMAction2 TSMHead; the original TSN: ``x.mean(3).mean(2)`` -> dropout -> ``new_fc`` -> average consensus).

Directions: ``"bidirectional"`` (MMAction2 / original offline checkpoints) and ``"online"``: the original
online demo's ``InvertedResidualWithShift`` replaces channels ``[0, C // 8)`` of the residual branch input by
the previous frame's, which is this library's online shift with ``shift_div=8``; such a model streams
(:meth:`~tsm_models.models.tsm.TSMMixin.stream`) and its offline clip forward equals the mean of the streamed
per-frame logits.

Layouts: video ``(B, T, 3, H, W)`` in, ``(B, num_classes)`` out (see :mod:`tsm_models.models.tsm`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from timm.layers import get_act_layer
from timm.models import generate_default_cfgs, register_model
from timm.models._efficientnet_blocks import InvertedResidual
from timm.models._efficientnet_builder import decode_arch_def, resolve_bn_args, round_channels
from timm.models.efficientnet import EfficientNet
from torch import nn

from ._builder import PretrainedSpec, build_tsm, timm_cfg, zoo_timm_cfgs
from .shift import TemporalShift
from .tsm import TSMConfig, TSMMixin, check_num_classes, refuse_non_local

__all__ = ["MOBILENETV2_ARCHS", "TSMMobileNetV2", "insert_mobilenetv2_shift"]

# timm's _gen_mobilenet_v2 with channel_multiplier=1.0 (mobilenetv2_100)
_ARCH_DEF = [
    ["ds_r1_k3_s1_c16"],
    ["ir_r2_k3_s2_e6_c24"],
    ["ir_r3_k3_s2_e6_c32"],
    ["ir_r4_k3_s2_e6_c64"],
    ["ir_r3_k3_s1_e6_c96"],
    ["ir_r3_k3_s2_e6_c160"],
    ["ir_r1_k3_s1_e6_c320"],
]
# architecture -> the timm ImageNet weights it starts from (``pretrained="imagenet"``)
MOBILENETV2_ARCHS: dict[str, str] = {"tsm_mobilenetv2": "mobilenetv2_100.ra_in1k"}


def _mobilenetv2_args() -> dict[str, Any]:
    return dict(
        block_args=decode_arch_def(_ARCH_DEF),
        num_features=1280,
        stem_size=32,
        fix_stem=False,
        round_chs_fn=partial(round_channels, multiplier=1.0),
        norm_layer=partial(nn.BatchNorm2d, **resolve_bn_args({})),
        act_layer=get_act_layer("relu6"),
    )


def insert_mobilenetv2_shift(
    model: EfficientNet, num_segments: int, shift_div: int = 8, shift_direction: str = "bidirectional"
) -> int:
    """Wrap ``conv_pw`` of every skip ``InvertedResidual`` of a timm MobileNetV2 in :class:`TemporalShift`.

    Returns:
        The number of shifted blocks (10 for MobileNetV2).
    """
    count = 0
    for stage in model.blocks:
        for block in stage:
            if isinstance(block, InvertedResidual) and block.has_skip:
                if isinstance(block.conv_pw, TemporalShift):
                    raise ValueError("the MobileNetV2 is already shifted")
                conv = block.conv_pw
                block.conv_pw = TemporalShift(conv, conv.in_channels, num_segments, shift_div, shift_direction)  # type: ignore[arg-type]
                count += 1
    return count


class TSMMobileNetV2(TSMMixin, EfficientNet):
    """Temporal Shift Module network on timm's MobileNetV2 (width 1.0).

    Args:
        num_classes: classifier outputs (0 for a feature extractor).
        num_segments, shift_div, shift_direction, dropout: the :class:`~tsm_models.TSMConfig` settings. The
            shift place is fixed (``"residual"``: the expand conv of the 10 skip blocks) and ``shift_every=1``.
            ``drop_rate`` is accepted as timm's alias of ``dropout``.
        **kwargs: other :class:`timm.models.efficientnet.EfficientNet` arguments (``in_chans``, ...).
    """

    tsm_family = "mobilenetv2"

    def __init__(
        self,
        num_classes: int = 400,
        *,
        num_segments: int = 8,
        shift_div: int = 8,
        shift_place: str = "residual",
        shift_direction: str = "bidirectional",
        shift_every: int | None = None,
        dropout: float = 0.5,
        non_local: Any = None,
        non_local_blocks: Any = None,
        **kwargs: Any,
    ) -> None:
        if "drop_rate" in kwargs:
            dropout = kwargs.pop("drop_rate")
        refuse_non_local("TSM-MobileNetV2", non_local, non_local_blocks)
        if shift_place != "residual" or shift_every not in (None, 1):
            raise ValueError(
                "TSM-MobileNetV2 shifts the residual branch of every skip block (shift_place='residual', "
                f"shift_every=1), as MMAction2 and the original repo do; got shift_place={shift_place!r}, "
                f"shift_every={shift_every!r}"
            )
        cfg = TSMConfig(num_segments, shift_div, "residual", shift_direction, 1, dropout)  # type: ignore[arg-type]
        check_num_classes(num_classes)
        args = {**_mobilenetv2_args(), **kwargs}
        super().__init__(num_classes=num_classes, drop_rate=float(dropout), **args)
        insert_mobilenetv2_shift(self, num_segments, shift_div, shift_direction)
        self.tsm_config = cfg
        self._init_classifier()

    def _init_classifier(self) -> None:
        # MMAction2 TSMHead / original TSN: normal(std=0.001) classifier, zero bias
        if isinstance(self.classifier, nn.Linear):
            nn.init.normal_(self.classifier.weight, std=0.001)
            nn.init.zeros_(self.classifier.bias)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier with a freshly initialised ``num_classes``-way one (0 removes it)."""
        super().reset_classifier(num_classes, global_pool)  # type: ignore[arg-type]
        self._init_classifier()

    def forward_frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B * T, 3, H, W)`` -> ``(B * T, 1280, h, w)``: stem, the 17 blocks (shifts inside), head conv."""
        return EfficientNet.forward_features(self, frames)

    def forward_frame_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``(N, 1280, h, w)`` -> ``(N, num_classes)``: pool, dropout, classifier (``(N, 1280)`` if ``pre_logits``)."""
        x = self.global_pool(feats)
        if self.drop_rate:
            x = F.dropout(x, p=float(self.drop_rate), training=self.training)
        return x if pre_logits else self.classifier(x)


# ------------------------------------------------------------------------------------------ timm registry

_FAMILY_CFG = dict(first_conv="conv_stem", classifier="classifier", pool_size=(7, 7))

default_cfgs = generate_default_cfgs(
    {
        **zoo_timm_cfgs(MOBILENETV2_ARCHS, **_FAMILY_CFG),
        **{f"{arch}.*": timm_cfg(**_FAMILY_CFG) for arch in MOBILENETV2_ARCHS},
    }
)


@register_model
def tsm_mobilenetv2(pretrained: PretrainedSpec = False, **kwargs: Any) -> TSMMobileNetV2:
    """TSM on timm's MobileNetV2 1.0 (MMAction2 ``MobileNetV2TSM``, the original repo's ``mobilenetv2``)."""
    return build_tsm(
        TSMMobileNetV2,
        "tsm_mobilenetv2",
        pretrained,
        base_model=MOBILENETV2_ARCHS["tsm_mobilenetv2"],
        feature_cfg=dict(flatten_sequential=True),
        **kwargs,
    )
