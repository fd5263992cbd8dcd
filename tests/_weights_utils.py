"""Helpers of the weights tests: MMAction2-layout checkpoints and an independent MMAction2 forward.

Everything here is written from the MMAction2 description in ``research/mmaction2_tsm.md`` (§1-§3), not from
tsm_models: the keys come from the ResNetTSM module structure, the forward is plain ``torch.nn.functional``
on those keys, and the shift is MMAction2's ``TemporalShift.shift`` slicing-and-cat formula.
"""

from __future__ import annotations

import io
import pickle
import re

import torch
import torch.nn.functional as F

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _is_shifted(depth: int, place: str, block: int) -> bool:
    # ResNetTSM.make_temporal_shift: n_round = 2 when layer3 has >= 23 blocks, blockres only.
    n_round = 2 if place == "blockres" and DEPTHS[depth][2] >= 23 else 1
    return place == "block" or block % n_round == 0


def mmaction2_shapes(depth: int, num_classes: int, place: str = "blockres") -> dict[str, tuple[int, ...]]:
    """MMAction2 ResNetTSM + TSMHead state-dict keys and shapes (``place``: ``"blockres"`` or ``"block"``)."""
    shapes: dict[str, tuple[int, ...]] = {"backbone.conv1.conv.weight": (64, 3, 7, 7)}
    shapes.update({f"backbone.conv1.bn.{s}": (64,) for s in _BN})
    inplanes = 64
    for stage, n in enumerate(DEPTHS[depth], start=1):
        planes = 64 * 2 ** (stage - 1)
        for j in range(n):
            cin = inplanes if j == 0 else planes * 4
            p = f"backbone.layer{stage}.{j}." + ("net." if place == "block" else "")
            net = "net." if place == "blockres" and _is_shifted(depth, place, j) else ""
            shapes[f"{p}conv1.conv.{net}weight"] = (planes, cin, 1, 1)
            shapes[f"{p}conv2.conv.weight"] = (planes, planes, 3, 3)
            shapes[f"{p}conv3.conv.weight"] = (planes * 4, planes, 1, 1)
            for conv, c in (("conv1", planes), ("conv2", planes), ("conv3", planes * 4)):
                shapes.update({f"{p}{conv}.bn.{s}": (c,) for s in _BN})
            if j == 0:
                shapes[f"{p}downsample.conv.weight"] = (planes * 4, cin, 1, 1)
                shapes.update({f"{p}downsample.bn.{s}": (planes * 4,) for s in _BN})
        inplanes = planes * 4
    shapes["cls_head.fc_cls.weight"] = (num_classes, 2048)
    shapes["cls_head.fc_cls.bias"] = (num_classes,)
    return {k: () if k.endswith("num_batches_tracked") else v for k, v in shapes.items()}


_POOL_SIZE = 1 << 22  # > the largest ResNet-101 tensor (512 * 512 * 3 * 3)


def random_mmaction2_state_dict(
    depth: int, num_classes: int, place: str = "blockres", seed: int = 0
) -> dict[str, torch.Tensor]:
    """Random weights and BN statistics in the MMAction2 layout (He-scaled convs keep activations finite).

    Tensors are slices of one shared random pool at random offsets (fast; the values still differ per key).
    """
    g = torch.Generator().manual_seed(seed)
    normal = torch.randn(2 * _POOL_SIZE, generator=g)
    uniform = torch.rand(2 * _POOL_SIZE, generator=g)

    def draw(pool: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        start = int(torch.randint(0, _POOL_SIZE, (1,), generator=g))
        return pool[start : start + int(torch.Size(shape).numel())].reshape(shape)

    sd: dict[str, torch.Tensor] = {}
    for key, shape in mmaction2_shapes(depth, num_classes, place).items():
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(int(torch.randint(1, 10**6, (1,), generator=g)))
        elif key.endswith(".weight") and len(shape) == 4:
            sd[key] = draw(normal, shape) * (2.0 / (shape[1] * shape[2] * shape[3])) ** 0.5
        elif key.endswith("bn.weight"):
            sd[key] = draw(uniform, shape) * 0.5 + 0.5
        elif key.endswith("running_var"):
            sd[key] = draw(uniform, shape) + 0.5
        elif key.startswith("cls_head"):
            sd[key] = draw(normal, shape) * 0.05
        else:  # bn bias, running_mean
            sd[key] = draw(normal, shape) * 0.1
    # every value above is a fresh tensor (arithmetic on a pool slice), so no two keys share storage
    return sd


def mmaction2_config_text(depth: int, num_classes: int, num_segments: int | None, place: str = "blockres") -> str:
    """A config text like the one MMAction2 stores in ``meta['config']`` (segments omitted when ``None``)."""
    seg = f", num_segments={num_segments}" if num_segments is not None else ""
    shift = ", shift_place='block'" if place == "block" else ""
    return (
        "model = dict(\n    type='Recognizer2D',\n"
        f"    backbone=dict(type='ResNetTSM', pretrained='torchvision://resnet{depth}', depth={depth}, "
        f"norm_eval=False, shift_div=8{seg}{shift}),\n"
        f"    cls_head=dict(type='TSMHead', num_classes={num_classes}, in_channels=2048, spatial_type='avg', "
        "consensus=dict(type='AvgConsensus', dim=1), dropout_ratio=0.5, init_std=0.001, is_shift=True))\n"
        "test_pipeline = [dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=8, test_mode=True)]\n"
    )


def mmaction2_checkpoint(state_dict: dict[str, torch.Tensor], config: str | None = None) -> dict:
    """A released-file dict: ``{'meta': {...}, 'state_dict': ...}`` (tools/publish_model.py drops the optimizer)."""
    meta = {"mmcv_version": "1.0.2", "time": "Sun Jun  7 21:18:00 2020", "epoch": 50, "iter": 100}
    if config is not None:
        meta.update(config=config, mmaction_version="0.5.0+7dc99cf")
    return {"meta": meta, "state_dict": state_dict}


# --------------------------------------------------------------------------------------------------------
# Other layouts, renamed from the MMAction2 one by the §2.4 / §8 rules.


def to_old_mmaction2_layout(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """MMAction2 before 2020-07-04: bare convs, ``bnN``, ``downsample.0/1``, ``conv1.net.weight``."""
    out = {}
    for key, value in sd.items():
        key = re.sub(r"backbone\.conv1\.conv\.", "backbone.conv1.", key)
        key = re.sub(r"backbone\.conv1\.bn\.", "backbone.bn1.", key)
        key = re.sub(r"\.conv(\d)\.conv\.", r".conv\1.", key)
        key = re.sub(r"\.conv(\d)\.bn\.", r".bn\1.", key)
        key = key.replace("downsample.conv.", "downsample.0.").replace("downsample.bn.", "downsample.1.")
        out[key] = value
    return out


def to_original_tsm_layout(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """mit-han-lab/temporal-shift-module (DataParallel): ``module.base_model.*``, ``module.new_fc.*``."""
    out = {}
    for key, value in to_old_mmaction2_layout(sd).items():
        key = key.replace("backbone.", "module.base_model.").replace("cls_head.fc_cls.", "module.new_fc.")
        out[key] = value
    return out


def to_mmaction2_layout(our_sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our keys -> MMAction2 ConvModule keys (for checkpoints of tiny test models)."""
    out = {}
    for key, value in our_sd.items():
        if key.startswith("fc."):
            out["cls_head.fc_cls." + key[3:]] = value
            continue
        key = re.sub(r"^conv1\.weight$", "conv1.conv.weight", key)
        key = re.sub(r"^bn1\.", "conv1.bn.", key)
        key = re.sub(r"(layer\d\.\d+\.(?:net\.)?)conv(\d)\.((?:net\.)?weight)$", r"\1conv\2.conv.\3", key)
        key = re.sub(r"(layer\d\.\d+\.(?:net\.)?)bn(\d)\.", r"\1conv\2.bn.", key)
        key = key.replace("downsample.0.", "downsample.conv.").replace("downsample.1.", "downsample.bn.")
        out["backbone." + key] = value
    return out


# --------------------------------------------------------------------------------------------------------
# Independent MMAction2 forward (eval mode).


def mmaction2_shift(x: torch.Tensor, num_segments: int, shift_div: int = 8) -> torch.Tensor:
    """MMAction2 ``TemporalShift.shift`` verbatim: 4-D view, zeros made as ``slice - slice``, ``torch.cat``."""
    n, c, h, w = x.size()
    x = x.view(-1, num_segments, c, h * w)
    fold = c // shift_div
    left_split = x[:, :, :fold, :]
    mid_split = x[:, :, fold : 2 * fold, :]
    right_split = x[:, :, 2 * fold :, :]
    zeros = left_split - left_split
    blank = zeros[:, :1, :, :]
    left_split = left_split[:, 1:, :, :]
    left_split = torch.cat((left_split, blank), 1)
    zeros = mid_split - mid_split
    blank = zeros[:, :1, :, :]
    mid_split = mid_split[:, :-1, :, :]
    mid_split = torch.cat((blank, mid_split), 1)
    out = torch.cat((left_split, mid_split, right_split), 2)
    return out.view(n, c, h, w)


def _conv_bn(sd: dict, conv_key: str, bn: str, x: torch.Tensor, stride: int = 1, relu: bool = True) -> torch.Tensor:
    w = sd[conv_key]
    x = F.conv2d(x, w, stride=stride, padding=w.shape[-1] // 2)
    x = F.batch_norm(
        x,
        sd[bn + ".running_mean"],
        sd[bn + ".running_var"],
        sd[bn + ".weight"],
        sd[bn + ".bias"],
        training=False,
        momentum=0.1,
        eps=1e-5,
    )
    return F.relu(x) if relu else x


def mmaction2_forward(
    sd: dict[str, torch.Tensor], video: torch.Tensor, depth: int, num_segments: int, place: str = "blockres"
) -> torch.Tensor:
    """Recognizer2D + ResNetTSM + TSMHead of 2020 in eval mode: ``(B, T, 3, H, W)`` -> ``(B, K)``.

    The head applies the fc per frame and averages the logits over all ``T`` frames of a video (the
    v0.5-v0.7 behaviour the zoo numbers were produced with); the shift groups every ``num_segments`` frames.
    """
    b, t = video.shape[:2]
    x = video.reshape(b * t, *video.shape[2:])
    x = _conv_bn(sd, "backbone.conv1.conv.weight", "backbone.conv1.bn", x, stride=2)
    x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    for stage, n in enumerate(DEPTHS[depth], start=1):
        for j in range(n):
            stride = 2 if j == 0 and stage > 1 else 1
            p = f"backbone.layer{stage}.{j}."
            if place == "block":  # TemporalShift(net=block): branch and shortcut see the shifted input
                p += "net."
                x = mmaction2_shift(x, num_segments)
            shifted = place == "blockres" and _is_shifted(depth, place, j)
            branch_in = mmaction2_shift(x, num_segments) if shifted else x
            conv1 = f"{p}conv1.conv.net.weight" if shifted else f"{p}conv1.conv.weight"
            out = _conv_bn(sd, conv1, f"{p}conv1.bn", branch_in)
            out = _conv_bn(sd, f"{p}conv2.conv.weight", f"{p}conv2.bn", out, stride=stride)
            out = _conv_bn(sd, f"{p}conv3.conv.weight", f"{p}conv3.bn", out, relu=False)
            identity = x
            if j == 0:
                identity = _conv_bn(sd, f"{p}downsample.conv.weight", f"{p}downsample.bn", x, stride, relu=False)
            x = F.relu(out + identity)
    x = F.adaptive_avg_pool2d(x, 1).flatten(1)  # (B*T, 2048); dropout is identity in eval
    logits = F.linear(x, sd["cls_head.fc_cls.weight"], sd["cls_head.fc_cls.bias"])  # fc per frame
    return logits.view(b, t, -1).mean(dim=1)  # AvgConsensus over the frames


# --------------------------------------------------------------------------------------------------------
# Malformed files


_CALLED: list[str] = []


def _not_to_be_called(*args: object) -> None:
    """Target of the malicious pickle: records a call (the tests assert it never happens)."""
    _CALLED.append(repr(args))


class _Payload:
    def __reduce__(self) -> tuple:
        return (_not_to_be_called, ("payload ran",))


def pickle_with_forbidden_global(state_dict: dict[str, torch.Tensor]) -> bytes:
    """A ``torch.save`` file whose meta holds an object that unpickles by calling a function."""
    buf = io.BytesIO()
    torch.save({"meta": {"hook": _Payload()}, "state_dict": state_dict}, buf, pickle_module=pickle)
    return buf.getvalue()


def payload_calls() -> list[str]:
    return list(_CALLED)
