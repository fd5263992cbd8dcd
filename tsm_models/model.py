"""The TSM network: a timm ResNet whose blocks shift channels in time, with TSM's consensus head.

Layouts at the public boundary:

* input video: ``(B, T, C, H, W)`` float, normalised RGB; ``T`` is a multiple of ``num_segments``
  (e.g. the 16-frame June-2020 checkpoints shift in two groups of 8, the dense one sees 10 clips of 8);
* :meth:`TSM.forward_features`: ``(B, T, C', h, w)`` per-frame feature maps;
* :meth:`TSM.forward_head` / :meth:`TSM.forward`: ``(B, num_classes)`` logits, the mean over the ``T``
  per-frame logits (MMAction2 ``TSMHead``: global pool -> dropout -> fc per frame -> average).

The class is timm's :class:`~timm.models.resnet.ResNet` (no fork): after building it, residual-branch
``conv1`` modules (``shift_place="residual"``) or whole blocks (``shift_place="inplace"``) are wrapped in
:class:`~tsm_models.shift.TemporalShift`. The shift adds no parameters; wrapped weights gain a ``.net``
in their state-dict key (``layer1.0.conv1.net.weight``), exactly as MMAction2 and TSM name them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

from .shift import SHIFT_DIRECTIONS, SHIFT_PLACES, ShiftDirection, ShiftPlace, TemporalShift

if TYPE_CHECKING:
    from .streaming import StreamingTSM

__all__ = [
    "RESNET_ARGS",
    "TSM",
    "adapt_2d_state_dict",
    "insert_temporal_shift",
    "remove_temporal_shift",
    "shifted_modules",
]

_DEEP = dict(stem_width=32, stem_type="deep", avg_down=True)
# Constructor arguments of the timm ResNets a TSM can wrap (the same values timm's entrypoints use).
RESNET_ARGS: dict[str, dict[str, Any]] = {
    "resnet18": dict(block=BasicBlock, layers=(2, 2, 2, 2)),
    "resnet34": dict(block=BasicBlock, layers=(3, 4, 6, 3)),
    "resnet50": dict(block=Bottleneck, layers=(3, 4, 6, 3)),
    "resnet101": dict(block=Bottleneck, layers=(3, 4, 23, 3)),
    "resnet152": dict(block=Bottleneck, layers=(3, 8, 36, 3)),
    "resnet18d": dict(block=BasicBlock, layers=(2, 2, 2, 2), **_DEEP),
    "resnet34d": dict(block=BasicBlock, layers=(3, 4, 6, 3), **_DEEP),
    "resnet50d": dict(block=Bottleneck, layers=(3, 4, 6, 3), **_DEEP),
    "resnet101d": dict(block=Bottleneck, layers=(3, 4, 23, 3), **_DEEP),
    "resnet152d": dict(block=Bottleneck, layers=(3, 8, 36, 3), **_DEEP),
    "resnext50_32x4d": dict(block=Bottleneck, layers=(3, 4, 6, 3), cardinality=32, base_width=4),
    "resnext101_32x8d": dict(block=Bottleneck, layers=(3, 4, 23, 3), cardinality=32, base_width=8),
    "wide_resnet50_2": dict(block=Bottleneck, layers=(3, 4, 6, 3), base_width=128),
}

_STAGES = ("layer1", "layer2", "layer3", "layer4")


def _default_shift_every(model: ResNet, shift_place: str) -> int:
    # MMAction2 / TSM: n_round = 2 when layer3 has >= 23 blocks (ResNet-101/152), residual shift only.
    return 2 if shift_place == "residual" and len(model.layer3) >= 23 else 1


def insert_temporal_shift(
    model: ResNet,
    num_segments: int,
    shift_div: int = 8,
    shift_place: ShiftPlace = "residual",
    shift_direction: ShiftDirection = "bidirectional",
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
    if shift_place not in SHIFT_PLACES:
        raise ValueError(f"shift_place must be one of {SHIFT_PLACES}, got {shift_place!r}")
    if shift_direction not in SHIFT_DIRECTIONS:
        raise ValueError(f"shift_direction must be one of {SHIFT_DIRECTIONS}, got {shift_direction!r}")
    if shift_every is None:
        shift_every = _default_shift_every(model, shift_place)
    if not isinstance(shift_every, int) or shift_every < 1:
        raise ValueError(f"shift_every must be a positive int, got {shift_every!r}")
    count = 0
    for stage_name in _STAGES:
        stage = getattr(model, stage_name)
        for i in range(0, len(stage), shift_every):
            block = stage[i]
            if isinstance(block, TemporalShift) or isinstance(block.conv1, TemporalShift):
                raise ValueError(f"{stage_name}.{i} is already shifted")
            channels = block.conv1.in_channels
            if shift_place == "residual":
                block.conv1 = TemporalShift(block.conv1, channels, num_segments, shift_div, shift_direction)
            else:
                stage[i] = TemporalShift(block, channels, num_segments, shift_div, shift_direction)
            count += 1
    return count


def shifted_modules(model: nn.Module) -> list[tuple[str, TemporalShift]]:
    """``(name, module)`` of every :class:`TemporalShift` in ``model``, in forward order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, TemporalShift)]


def adapt_2d_state_dict(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename a plain timm/torchvision ResNet state dict to the keys of a shifted ``model``.

    Inserts ``.net`` where ``model`` wraps a module in :class:`TemporalShift` (``layer1.0.conv1.weight`` ->
    ``layer1.0.conv1.net.weight``); other keys pass through unchanged. Pure: returns a new dict.
    """
    prefixes = [name + "." for name, _ in shifted_modules(model)]
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = prefix + "net." + key[len(prefix) :]
                break
        out[key] = value
    return out


class TSM(ResNet):
    """Temporal Shift Module network on a timm ResNet.

    Args:
        block: timm ResNet block class (``BasicBlock`` or ``Bottleneck``).
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        num_classes: classifier outputs (0 for a feature extractor).
        num_segments: frames per shift group (``T`` of the training clip).
        shift_div: ``1 / shift_div`` of the channels move each way (8 in all zoo models).
        shift_place: ``"residual"`` (default, MMAction2 ``blockres``) or ``"inplace"`` (MMAction2 ``block``).
        shift_direction: ``"bidirectional"`` (default) or ``"online"`` (past -> present only, streamable).
        shift_every: shift every n-th block of each stage; ``None`` = MMAction2's rule (2 for ResNet-101/152
            with residual shift, else 1).
        dropout: dropout before the classifier (TSMHead: 0.5). ``drop_rate`` is accepted as timm's alias.
        **kwargs: any other :class:`timm.models.resnet.ResNet` argument (``stem_type``, ``avg_down``, ...).
    """

    def __init__(
        self,
        block: type[nn.Module] = Bottleneck,
        layers: tuple[int, ...] = (3, 4, 6, 3),
        num_classes: int = 400,
        *,
        num_segments: int = 8,
        shift_div: int = 8,
        shift_place: ShiftPlace = "residual",
        shift_direction: ShiftDirection = "bidirectional",
        shift_every: int | None = None,
        dropout: float = 0.5,
        **kwargs: Any,
    ) -> None:
        if "drop_rate" in kwargs:
            dropout = kwargs.pop("drop_rate")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be a non-negative int, got {num_classes!r}")
        super().__init__(block=block, layers=layers, num_classes=num_classes, drop_rate=float(dropout), **kwargs)
        self.num_segments = num_segments
        self.shift_div = shift_div
        self.shift_place = shift_place
        self.shift_direction = shift_direction
        self.num_shifted = insert_temporal_shift(
            self, num_segments, shift_div, shift_place, shift_direction, shift_every
        )
        self.shift_every = shift_every if shift_every is not None else _default_shift_every(self, shift_place)
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

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ``ValueError`` unless ``x`` is a ``(B, T, C, H, W)`` video this model can take."""
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"expected a torch.Tensor video of shape (B, T, C, H, W), got {type(x).__name__}")
        if x.ndim != 5:
            raise ValueError(f"expected a 5-D video tensor (B, T, C, H, W), got shape {tuple(x.shape)}")
        if x.shape[2] != self.in_chans:
            raise ValueError(
                f"expected {self.in_chans} channels at dim 2 of (B, T, C, H, W), got shape {tuple(x.shape)}"
            )
        if x.shape[1] == 0 or x.shape[1] % self.num_segments != 0:
            raise ValueError(
                f"expected T (dim 1 of (B, T, C, H, W)) to be a positive multiple of num_segments="
                f"{self.num_segments}, got T={x.shape[1]}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` video -> ``(B, T, C', h, w)`` per-frame feature maps."""
        self.check_input(x)
        t = x.shape[1]
        feats = super().forward_features(x.flatten(0, 1))
        return feats.unflatten(0, (-1, t))

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """timm's ``forward_intermediates`` (feature maps after the stem and each stage) for videos.

        A ``(B, T, C, H, W)`` video gives per-frame maps ``(B, T, C_i, h_i, w_i)``, and the final features (unless
        ``intermediates_only``) in the layout of :meth:`forward_features`, ready for :meth:`forward_head`.
        Frames ``(B * T, C, H, W)``, stacked video-major, are passed to timm unchanged and give
        ``(B * T, C_i, h_i, w_i)`` maps, like ``timm.create_model(name, features_only=True)``. ``indices`` (last
        ``n`` maps, or which ones), ``stop_early`` and the rest are timm's.
        """
        frames, t = x, None
        if x.ndim == 5:
            self.check_input(x)
            frames, t = x.flatten(0, 1), x.shape[1]
        out = super().forward_intermediates(
            frames,
            indices=indices,
            norm=norm,
            stop_early=stop_early,
            output_fmt=output_fmt,
            intermediates_only=intermediates_only,
        )
        if t is None:
            return out
        if intermediates_only:
            return [f.unflatten(0, (-1, t)) for f in out]
        final, intermediates = out
        return final.unflatten(0, (-1, t)), [f.unflatten(0, (-1, t)) for f in intermediates]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``(B, T, C', h, w)`` features -> ``(B, num_classes)`` logits averaged over ``T``.

        The classifier runs per frame and the logits are averaged (TSMHead). With ``pre_logits=True`` the
        result is the time-averaged pooled feature ``(B, C')``; since the consensus is linear,
        ``model.fc(pre_logits)`` equals the logits up to float rounding.
        """
        if x.ndim != 5:
            raise ValueError(f"forward_head expects (B, T, C, h, w) features, got shape {tuple(x.shape)}")
        t = x.shape[1]  # -1 for the batch: keeps it dynamic in traced (ONNX) graphs
        x = self.global_pool(x.flatten(0, 1))
        if self.drop_rate:
            x = F.dropout(x, p=float(self.drop_rate), training=self.training)
        if pre_logits:
            return x.unflatten(0, (-1, t)).mean(1)
        return self.fc(x).unflatten(0, (-1, t)).mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` normalised video -> ``(B, num_classes)`` logits."""
        return self.forward_head(self.forward_features(x))

    # Hub format (weights topic): thin delegates to tsm_models.hub.
    def save_pretrained(self, save_directory: str, **kwargs: Any) -> Any:
        """Write ``model.safetensors``, ``config.json`` and a model card; see :func:`tsm_models.hub.save_pretrained`."""
        from .hub import save_pretrained

        return save_pretrained(self, save_directory, **kwargs)

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> str:
        """Upload weights, config and model card to the Hub; see :func:`tsm_models.hub.push_to_hub`."""
        from .hub import push_to_hub

        return push_to_hub(self, repo_id, **kwargs)

    def stream(self, window: int | None = None) -> StreamingTSM:
        """A :class:`~tsm_models.streaming.StreamingTSM` of this model for frame-by-frame inference.

        Needs ``shift_direction="online"`` (``ValueError`` otherwise). The stream shares this model's weights;
        ``window`` frames (default ``num_segments``) are averaged into its running clip prediction.
        """
        from .streaming import StreamingTSM

        return StreamingTSM(self, window=window)

    def extra_repr(self) -> str:
        return (
            f"num_segments={self.num_segments}, shift_div={self.shift_div}, shift_place={self.shift_place!r}, "
            f"shift_direction={self.shift_direction!r}, shift_every={self.shift_every}, "
            f"num_shifted={self.num_shifted}"
        )


def remove_temporal_shift(model: nn.Module) -> int:
    """Unwrap every :class:`TemporalShift` in ``model``, in place, turning a TSM into its TSN twin.

    The result has the same parameters (keys lose their ``.net``) and sees each frame independently.

    Returns:
        The number of shift modules removed.
    """
    count = 0
    for name, shift in shifted_modules(model):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, shift.net)  # also replaces a block of an nn.Sequential stage ("0", "1", ...)
        count += 1
    if hasattr(model, "num_shifted"):
        model.num_shifted = 0
    return count
