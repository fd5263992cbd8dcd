"""What every TSM family shares: the settings vocabulary (:class:`TSMConfig`) and the video behaviour
(:class:`TSMMixin`) mixed into a timm network.

Layouts at the public boundary of every family:

* input video: ``(B, T, C, H, W)`` float, normalised; ``T`` is a multiple of ``num_segments`` (the shift works
  on groups of ``num_segments`` consecutive frames, e.g. two groups for 16 frames on 8 segments);
* :meth:`TSMMixin.forward_features`: ``(B, T, C', h, w)`` per-frame feature maps;
* :meth:`TSMMixin.forward_head` / ``forward``: ``(B, num_classes)`` logits, the mean over the ``T`` per-frame
  logits (MMAction2 ``TSMHead``: global pool -> dropout -> classifier per frame -> average).

Inside the network frames are stacked video-major, ``(B * T, C, H, W)``. A family class is
``class TSMFamily(TSMMixin, TimmNet)`` and implements two frame-level hooks, used by the video methods here
and by streaming: :meth:`~TSMMixin.forward_frame_features` (the 2D network with its shifts) and
:meth:`~TSMMixin.forward_frame_head` (pool, dropout, classifier per frame).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from . import _hub
from .non_local import resolve_non_local
from .shift import SHIFT_DIRECTIONS, SHIFT_PLACES, ShiftDirection, ShiftPlace, shifted_modules
from .streaming import StreamingTSM

if TYPE_CHECKING:
    from .zoo import ClipProtocol, ZooEntry

__all__ = ["TSMConfig", "TSMMixin"]


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


@dataclass(frozen=True)
class TSMConfig:
    """The settings of a temporal shift network: the one vocabulary of shift settings in the library.

    Zoo records (``ZooEntry.model_args``), ``create_model`` keyword arguments, saved ``config.json`` files and
    the model itself (``model.tsm_config``) all use these field names.

    Attributes:
        num_segments: frames per shift group (``T`` of the training clip).
        shift_div: ``1 / shift_div`` of the channels move each way (8 in every released model).
        shift_place: ``"residual"`` shifts the residual branch only (MMAction2 ``blockres``), ``"inplace"`` the
            whole block input (MMAction2 ``block``).
        shift_direction: ``"bidirectional"`` (offline TSM) or ``"online"`` (past -> present only, streamable).
        shift_every: shift every n-th block of each stage; ``None`` = the family's default (MMAction2's rule:
            2 for ResNet-101/152 with residual shift, else 1). A built model holds the resolved value.
        dropout: dropout before the classifier (TSMHead: 0.5).
        non_local: non-local blocks (TSM-ResNets only): ``None`` (none), or the pairwise function of mmcv's
            ``NonLocal3d``: ``"embedded_gaussian"``, ``"gaussian"`` or ``"dot_product"``.
        non_local_blocks: where they go, one 0/1 flag per block of each stage; ``None`` with a ``non_local``
            mode = MMAction2's ``((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0))`` (after layer2.{0,2}
            and layer3.{0,2,4}). The family constructors also take MMAction2's tuple as ``non_local=``.
    """

    num_segments: int = 8
    shift_div: int = 8
    shift_place: ShiftPlace = "residual"
    shift_direction: ShiftDirection = "bidirectional"
    shift_every: int | None = None
    dropout: float = 0.5
    non_local: str | None = None
    non_local_blocks: tuple[tuple[int, ...], ...] | None = None

    # Settings a checkpoint fixes: a zoo name refuses other values (``dropout`` may change for fine-tuning).
    ARCHITECTURE_FIELDS: ClassVar[tuple[str, ...]] = (
        "num_segments",
        "shift_div",
        "shift_place",
        "shift_direction",
        "shift_every",
        "non_local",
        "non_local_blocks",
    )

    def __post_init__(self) -> None:
        _check_int("num_segments", self.num_segments, 1)
        _check_int("shift_div", self.shift_div, 1)
        for name, value, allowed in (
            ("shift_place", self.shift_place, SHIFT_PLACES),
            ("shift_direction", self.shift_direction, SHIFT_DIRECTIONS),
        ):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str, one of {allowed}, got {type(value).__name__} {value!r}")
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.shift_every is not None:
            _check_int("shift_every", self.shift_every, 1)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)):
            raise TypeError(f"dropout must be a float in [0, 1), got {type(self.dropout).__name__} {self.dropout!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.non_local is not None or self.non_local_blocks is not None:
            mode, blocks = resolve_non_local(self.non_local, self.non_local_blocks)
            object.__setattr__(self, "non_local", mode)  # frozen: normalise (e.g. JSON lists -> tuples)
            object.__setattr__(self, "non_local_blocks", blocks)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of every setting, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def pop_from(cls, kwargs: dict[str, Any]) -> TSMConfig:
        """Take this class's fields out of ``kwargs`` (in place) and build a config from them."""
        return cls(**{name: kwargs.pop(name) for name in cls.field_names() if name in kwargs})

    def replace(self, **changes: Any) -> TSMConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the settings (JSON-serialisable); the non-local fields only when set, so the config of
        a model without non-local blocks reads as before they existed."""
        out = dataclasses.asdict(self)
        for name in ("non_local", "non_local_blocks"):
            if out[name] is None:
                del out[name]
        return out


def check_num_classes(num_classes: Any) -> int:
    """``num_classes`` of a family constructor: an int >= 0 (``TypeError`` / ``ValueError`` otherwise)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int):
        raise TypeError(f"num_classes must be an int, got {type(num_classes).__name__} {num_classes!r}")
    if num_classes < 0:
        raise ValueError(f"num_classes must be >= 0, got {num_classes}")
    return num_classes


def refuse_non_local(family: str, non_local: Any, non_local_blocks: Any) -> None:
    """Raise unless both non-local settings are unset: only TSM-ResNets have a non-local placement."""
    if non_local is not None or non_local_blocks is not None:
        raise ValueError(
            f"non_local={non_local!r}: non-local blocks exist only for TSM-ResNets (after layer2/layer3 of "
            f"tsm_r50); {family} has no such placement"
        )


def _value_checks_apply(t: torch.Tensor) -> bool:
    """Whether a data-dependent check may run here (not while tracing, compiling or capturing CUDA graphs)."""
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling() or t.is_meta:
        return False  # (meta tensors: shape-only runs hold no values to check)
    return not (t.is_cuda and torch.cuda.is_current_stream_capturing())


class TSMMixin:
    """Video behaviour of a TSM, mixed into a timm network (``class TSM(TSMMixin, ResNet)``).

    The family class sets :attr:`tsm_config` (resolved: ``shift_every`` is never ``None``) and implements
    :meth:`forward_frame_features` and :meth:`forward_frame_head`. Models built by
    :func:`tsm_models.create_model` from a zoo name carry that checkpoint's record in :attr:`zoo_entry`.
    """

    tsm_config: TSMConfig
    tsm_family: ClassVar[str] = ""  # "resnet", "mobilenetv2", "mobileone": the checkpoint key family it loads
    zoo_entry: ZooEntry | None = None  # the zoo record of a model built from a zoo name, else None
    base_model: str = ""  # the timm network (with weights tag) the family wraps, e.g. "resnet50.tv_in1k"
    label_names: list[str] | None = None  # class names, when the model was trained on named classes
    multi_label: bool = False  # trained multi-label (BCE): read the logits through a sigmoid, per class
    clip_protocol: ClipProtocol | None = None  # the test protocol a trained model was validated with
    in_chans: int
    num_classes: int

    @property
    def num_shifted(self) -> int:
        """Number of :class:`~tsm_models.TemporalShift` modules in the network."""
        return len(shifted_modules(self))  # type: ignore[arg-type]

    # -- settings, as attributes (read-only views of tsm_config)
    @property
    def num_segments(self) -> int:
        return self.tsm_config.num_segments

    @property
    def shift_div(self) -> int:
        return self.tsm_config.shift_div

    @property
    def shift_place(self) -> str:
        return self.tsm_config.shift_place

    @property
    def shift_direction(self) -> str:
        return self.tsm_config.shift_direction

    @property
    def shift_every(self) -> int | None:
        return self.tsm_config.shift_every

    # -- frame-level hooks (the family implements these)
    def forward_frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` frames stacked video-major -> ``(N, C', h, w)`` maps of the 2D network with its shifts."""
        raise NotImplementedError

    def forward_frame_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``(N, C', h, w)`` -> ``(N, num_classes)`` per-frame logits (pooled ``(N, C')`` if ``pre_logits``)."""
        raise NotImplementedError

    # -- video methods
    def check_input(self, x: torch.Tensor) -> None:
        """Raise unless ``x`` is a ``(B, T, C, H, W)`` video this model can take (``TypeError`` / ``ValueError``)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor video of shape (B, T, C, H, W), got {type(x).__name__}")
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
        weight = next(self.parameters(), None)  # type: ignore[attr-defined]
        if not x.is_floating_point():
            raise ValueError(
                f"expected a float video (normalised RGB), got dtype {x.dtype}; uint8 frames go through "
                "tsm_models.create_transform (or tsm_models.predict) first"
            )
        if weight is not None and x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
            raise ValueError(
                f"expected a video of dtype {weight.dtype} (the model's), got dtype {x.dtype}; convert it with "
                f"x.to({weight.dtype}) or the model with model.to({x.dtype}), or run under torch.autocast"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` video -> ``(B, T, C', h, w)`` per-frame feature maps."""
        self.check_input(x)
        t = x.shape[1]
        return self.forward_frame_features(x.flatten(0, 1)).unflatten(0, (-1, t))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``(B, T, C', h, w)`` features -> ``(B, num_classes)`` logits averaged over ``T``.

        The classifier runs per frame and the logits are averaged (TSMHead). With ``pre_logits=True`` the
        result is the time-averaged pooled feature ``(B, C')``; since the consensus is linear, the classifier
        applied to it equals the logits up to float rounding.
        """
        if x.ndim != 5:
            raise ValueError(f"forward_head expects (B, T, C, h, w) features, got shape {tuple(x.shape)}")
        t = x.shape[1]  # -1 for the batch: keeps it dynamic in traced (ONNX) graphs
        return self.forward_frame_head(x.flatten(0, 1), pre_logits=pre_logits).unflatten(0, (-1, t)).mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` normalised video -> ``(B, num_classes)`` logits.

        In eval mode non-finite logits raise ``ValueError`` (saying whether the input or the weights hold
        NaN/inf) instead of becoming NaN probabilities; training, tracing, compiling and CUDA-graph capture
        are not checked (the training loop checks its loss).
        """
        logits = self.forward_head(self.forward_features(x))
        if not self.training and _value_checks_apply(logits):  # type: ignore[attr-defined]
            self._check_finite(x, logits)
        return logits

    def _check_finite(self, x: torch.Tensor, logits: torch.Tensor) -> None:
        if bool(torch.isfinite(logits).all()):
            return
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"the input video holds {int((~torch.isfinite(x)).sum())} NaN/inf values")
        bad = [n for n, t in self.state_dict().items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]  # type: ignore[attr-defined]
        where = f"the weights hold NaN/inf ({', '.join(bad[:3])})" if bad else "the activations overflowed"
        raise ValueError(f"the model returned non-finite logits for a finite input: {where}")

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
        **kwargs: Any,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """timm's ``forward_intermediates`` (feature maps after the stem and each stage) for videos.

        A ``(B, T, C, H, W)`` video gives per-frame maps ``(B, T, C_i, h_i, w_i)``, and the final features (unless
        ``intermediates_only``) in the layout of :meth:`forward_features`, ready for :meth:`forward_head`.
        Frames ``(B * T, C, H, W)``, stacked video-major, are passed to timm unchanged and give
        ``(B * T, C_i, h_i, w_i)`` maps, like ``timm.create_model(name, features_only=True)``. ``indices`` (last
        ``n`` maps, or which ones), ``stop_early`` and the rest, including the family's own keyword arguments
        (``extra_blocks`` for MobileNetV2, ``exclude_final_conv`` for MobileOne), are timm's.
        """
        t = None
        if x.ndim == 5:
            self.check_input(x)
            x, t = x.flatten(0, 1), x.shape[1]
        out = super().forward_intermediates(  # type: ignore[misc]  # the timm network's, next in the MRO
            x,
            indices=indices,
            norm=norm,
            stop_early=stop_early,
            output_fmt=output_fmt,
            intermediates_only=intermediates_only,
            **kwargs,
        )
        if t is None:
            return out
        if intermediates_only:
            return [f.unflatten(0, (-1, t)) for f in out]
        final, intermediates = out
        return final.unflatten(0, (-1, t)), [f.unflatten(0, (-1, t)) for f in intermediates]

    def extra_repr(self) -> str:
        return f"{self.tsm_repr()}, num_shifted={self.num_shifted}"

    # -- delegates (the work lives in _hub and streaming)
    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> Path:
        """Write ``model.safetensors``, ``config.json`` and a model card; see :func:`tsm_models.save_pretrained`."""
        return _hub.save_pretrained(self, save_directory, **kwargs)  # type: ignore[arg-type]

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> str:
        """Upload weights, config and model card to the Hub; see :func:`tsm_models.push_to_hub`."""
        return _hub.push_to_hub(self, repo_id, **kwargs)  # type: ignore[arg-type]

    def stream(self, window: int | None = None) -> StreamingTSM:
        """A :class:`~tsm_models.StreamingTSM` of this model for frame-by-frame inference.

        Needs ``shift_direction="online"`` (``ValueError`` otherwise). The stream shares this model's weights;
        ``window`` frames (default ``num_segments``) are averaged into its running clip prediction.
        """
        return StreamingTSM(self, window=window)  # type: ignore[arg-type]

    def tsm_repr(self) -> str:
        """The settings, for ``extra_repr``."""
        c = self.tsm_config
        return (
            f"num_segments={c.num_segments}, shift_div={c.shift_div}, shift_place={c.shift_place!r}, "
            f"shift_direction={c.shift_direction!r}, shift_every={c.shift_every}"
        )
