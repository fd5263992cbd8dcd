"""TSM-ResNet: timm's :class:`~timm.models.resnet.ResNet` whose blocks shift channels in time.

The class is timm's ResNet (no fork) with :class:`~tsm_models.models.tsm.TSMMixin`: after building it,
residual-branch ``conv1`` modules (``shift_place="residual"``, MMAction2 ``blockres``) or whole blocks
(``shift_place="inplace"``, MMAction2 ``block``) are wrapped in :class:`~tsm_models.models.shift.TemporalShift`.
The shift adds no parameters; wrapped weights gain a ``.net`` in their state-dict key
(``layer1.0.conv1.net.weight``), exactly as MMAction2 and TSM name them.

Layouts: video ``(B, T, C, H, W)`` in, ``(B, num_classes)`` logits out (see :mod:`tsm_models.models.tsm`).

This file is a model family as timm writes one: the architecture table, the timm pretrained cfgs (one
untagged cfg per architecture, then one ``arch.tag`` cfg per zoo checkpoint, derived from
:data:`~tsm_models.models.zoo.ZOO`) and explicit ``@register_model`` entrypoints.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from timm.models import generate_default_cfgs, register_model
from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

from ._builder import PretrainedSpec, build_tsm, timm_cfg, zoo_timm_cfgs
from .non_local import insert_non_local, non_local_blocks
from .shift import TemporalShift
from .streaming import StreamingTSM
from .tsm import TSMConfig, TSMMixin, check_num_classes

__all__ = ["RESNET_ARGS", "TSM", "insert_temporal_shift"]

_DEEP = dict(stem_width=32, stem_type="deep", avg_down=True)
# Architecture -> (timm ResNet constructor arguments, the timm ImageNet weights it starts from). The plain
# ResNets use the torchvision weights MMAction2 initialised from (``tv_in1k``).
RESNET_ARGS: dict[str, tuple[dict[str, Any], str]] = {
    "tsm_r18": (dict(block=BasicBlock, layers=(2, 2, 2, 2)), "resnet18.tv_in1k"),
    "tsm_r34": (dict(block=BasicBlock, layers=(3, 4, 6, 3)), "resnet34.tv_in1k"),
    "tsm_r50": (dict(block=Bottleneck, layers=(3, 4, 6, 3)), "resnet50.tv_in1k"),
    "tsm_r101": (dict(block=Bottleneck, layers=(3, 4, 23, 3)), "resnet101.tv_in1k"),
    "tsm_r152": (dict(block=Bottleneck, layers=(3, 8, 36, 3)), "resnet152.tv_in1k"),
    "tsm_r50d": (dict(block=Bottleneck, layers=(3, 4, 6, 3), **_DEEP), "resnet50d"),
    "tsm_r101d": (dict(block=Bottleneck, layers=(3, 4, 23, 3), **_DEEP), "resnet101d"),
}
_STAGES = ("layer1", "layer2", "layer3", "layer4")


def _default_shift_every(model: ResNet, shift_place: str) -> int:
    # MMAction2 / TSM: n_round = 2 when layer3 has >= 23 blocks (ResNet-101/152), residual shift only.
    return 2 if shift_place == "residual" and len(model.layer3) >= 23 else 1


def insert_temporal_shift(
    model: ResNet,
    num_segments: int,
    shift_div: int = 8,
    shift_place: str = "residual",
    shift_direction: str = "bidirectional",
    shift_every: int | None = None,
) -> int:
    """Wrap the blocks of a timm ResNet in :class:`TemporalShift`, in place.

    Args:
        model: a timm ResNet (its stages ``layer1..layer4`` hold blocks with a ``conv1``).
        num_segments: frames per shift group.
        shift_div: ``1 / shift_div`` of the channels move each way.
        shift_place: ``"residual"`` wraps ``block.conv1`` (MMAction2 ``blockres``); ``"inplace"`` wraps the
            whole block (MMAction2 ``block``).
        shift_direction: ``"bidirectional"`` or ``"online"``.
        shift_every: shift blocks whose index in their stage is a multiple of this; ``None`` follows
            MMAction2 (2 for residual shift in ResNets with >= 23 blocks in ``layer3``, else 1).

    Returns:
        The number of shifted blocks (ResNet-50: 16, ResNet-101: 18 with the defaults).
    """
    cfg = TSMConfig(num_segments, shift_div, shift_place, shift_direction, shift_every)  # type: ignore[arg-type]
    every = cfg.shift_every if cfg.shift_every is not None else _default_shift_every(model, shift_place)
    count = 0
    for stage_name in _STAGES:
        stage = getattr(model, stage_name)
        for i in range(0, len(stage), every):
            block = stage[i]
            if isinstance(block, TemporalShift) or isinstance(block.conv1, TemporalShift):
                raise ValueError(f"{stage_name}.{i} is already shifted")
            channels = block.conv1.in_channels
            if shift_place == "residual":
                block.conv1 = TemporalShift(block.conv1, channels, num_segments, shift_div, shift_direction)  # type: ignore[arg-type]
            else:
                # timm's blocks read their input without writing to it or returning a view of it
                safe = type(block) in (BasicBlock, Bottleneck)
                stage[i] = TemporalShift(block, channels, num_segments, shift_div, shift_direction, safe)  # type: ignore[arg-type]
            count += 1
    return count


class TSM(TSMMixin, ResNet):
    """Temporal Shift Module network on a timm ResNet.

    Args:
        block: timm ResNet block class (``BasicBlock`` or ``Bottleneck``).
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        num_classes: classifier outputs (0 for a feature extractor).
        num_segments, shift_div, shift_place, shift_direction, shift_every, dropout: the
            :class:`~tsm_models.TSMConfig` settings (``shift_every=None``: MMAction2's rule, 2 for
            ResNet-101/152 with residual shift, else 1). ``drop_rate`` is accepted as timm's alias of ``dropout``.
        non_local, non_local_blocks: non-local blocks (:mod:`tsm_models.models.non_local`): a mode
            (``"embedded_gaussian"``, ``"gaussian"``, ``"dot_product"``) placed after layer2.{0,2} and
            layer3.{0,2,4} (or where ``non_local_blocks`` says), or MMAction2's placement tuple as ``non_local``
            (mode ``"embedded_gaussian"``). Inserted after the shifts; the wrapped blocks' keys gain ``.block``.
        **kwargs: any other :class:`timm.models.resnet.ResNet` argument (``stem_type``, ``avg_down``, ...).
    """

    tsm_family = "resnet"

    def __init__(
        self,
        block: type[nn.Module] = Bottleneck,
        layers: tuple[int, ...] = (3, 4, 6, 3),
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
        cfg = TSMConfig(
            num_segments,
            shift_div,
            shift_place,
            shift_direction,
            shift_every,
            dropout,
            non_local,
            non_local_blocks,  # type: ignore[arg-type]
        )
        check_num_classes(num_classes)
        super().__init__(block=block, layers=layers, num_classes=num_classes, drop_rate=float(dropout), **kwargs)
        insert_temporal_shift(self, num_segments, shift_div, shift_place, shift_direction, shift_every)
        if cfg.non_local is not None:
            assert cfg.non_local_blocks is not None
            insert_non_local(self, cfg.non_local_blocks, num_segments, cfg.non_local)  # type: ignore[arg-type]
        self.tsm_config = cfg.replace(shift_every=cfg.shift_every or _default_shift_every(self, shift_place))
        self._init_classifier()

    def _init_classifier(self) -> None:
        # MMAction2 TSMHead.init_weights: normal_init(fc_cls, std=0.001), bias 0.
        if isinstance(self.fc, nn.Linear):
            nn.init.normal_(self.fc.weight, std=0.001)
            nn.init.zeros_(self.fc.bias)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier with a freshly initialised ``num_classes``-way one (0 removes it)."""
        super().reset_classifier(num_classes, global_pool)
        self._init_classifier()

    def forward_frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B * T, C, H, W)`` frames -> ``(B * T, C', h, w)``: stem and the four (shifted) stages."""
        return ResNet.forward_features(self, frames)

    def forward_frame_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``(N, C', h, w)`` -> ``(N, num_classes)``: global pool, dropout, fc (``(N, C')`` if ``pre_logits``)."""
        x = self.global_pool(feats)
        if self.drop_rate:
            x = F.dropout(x, p=float(self.drop_rate), training=self.training)
        return x if pre_logits else self.fc(x)

    def stream(self, window: int | None = None) -> StreamingTSM:
        """A :class:`~tsm_models.StreamingTSM` of this (online) model; refused with non-local blocks."""
        if non_local_blocks(self):
            raise ValueError(
                f"a TSM with non-local blocks (non_local={self.tsm_config.non_local!r}) cannot stream: each block "
                "attends over all frames of the clip, the future included. Build it with non_local=None to stream."
            )
        return super().stream(window)

    def extra_repr(self) -> str:
        nl = f", non_local={self.tsm_config.non_local!r}" if self.tsm_config.non_local else ""
        return f"{self.tsm_repr()}, num_shifted={self.num_shifted}{nl}"


# ------------------------------------------------------------------------------------------ timm registry


def _create_tsm_resnet(variant: str, pretrained: PretrainedSpec = False, **kwargs: Any) -> TSM:
    resnet_args, imagenet = RESNET_ARGS[variant]
    for key in resnet_args:
        if key in kwargs:
            raise ValueError(f"{variant} fixes {key!r}; build tsm_models.TSM(...) directly for another layout")
    return build_tsm(TSM, variant, pretrained, base_model=imagenet, **resnet_args, **kwargs)


default_cfgs = generate_default_cfgs(
    {
        **zoo_timm_cfgs(RESNET_ARGS),
        # The untagged name is the bare architecture (random init): "*" makes it the default even though it has
        # no weights (it must come after the tags with weights, which timm would otherwise put first).
        **{f"{arch}.*": timm_cfg() for arch in RESNET_ARGS},
    }
)


@register_model
def tsm_r18(pretrained: PretrainedSpec = False, **kwargs: Any) -> TSM:
    """TSM on timm's ResNet-18 (every block shifted)."""
    return _create_tsm_resnet("tsm_r18", pretrained, **kwargs)


@register_model
def tsm_r34(pretrained: PretrainedSpec = False, **kwargs: Any) -> TSM:
    """TSM on timm's ResNet-34 (every block shifted)."""
    return _create_tsm_resnet("tsm_r34", pretrained, **kwargs)


@register_model
def tsm_r50(pretrained: PretrainedSpec = False, **kwargs: Any) -> TSM:
    """TSM on timm's ResNet-50 (MMAction2 ``ResNetTSM`` depth 50: all 16 blocks shifted)."""
    return _create_tsm_resnet("tsm_r50", pretrained, **kwargs)


@register_model
def tsm_r101(pretrained: PretrainedSpec = False, **kwargs: Any) -> TSM:
    """TSM on timm's ResNet-101 (MMAction2 ``ResNetTSM`` depth 101: every 2nd block shifted, 18 in all)."""
    return _create_tsm_resnet("tsm_r101", pretrained, **kwargs)


@register_model
def tsm_r152(pretrained: PretrainedSpec = False, **kwargs: Any) -> TSM:
    """TSM on timm's ResNet-152 (every 2nd block shifted)."""
    return _create_tsm_resnet("tsm_r152", pretrained, **kwargs)


@register_model
def tsm_r50d(pretrained: PretrainedSpec = False, **kwargs: Any) -> TSM:
    """TSM on timm's ResNet-50-D (deep stem, average-pool downsampling)."""
    return _create_tsm_resnet("tsm_r50d", pretrained, **kwargs)


@register_model
def tsm_r101d(pretrained: PretrainedSpec = False, **kwargs: Any) -> TSM:
    """TSM on timm's ResNet-101-D (deep stem, average-pool downsampling; every 2nd block shifted)."""
    return _create_tsm_resnet("tsm_r101d", pretrained, **kwargs)
