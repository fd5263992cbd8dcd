"""Independent re-implementations of the original TSM repository's forwards, and its on-disk formats.

Written from mit-han-lab/temporal-shift-module @ 1f6a834b: ``ops/models.py`` (TSN), ``ops/temporal_shift.py``,
``ops/non_local.py``, ``archs/mobilenet_v2.py`` and ``online_demo/{mobilenet_v2_tsm,main}.py``, in plain
``torch.nn.functional`` on state-dict keys (see :class:`_upstream_mmaction2.Weights` for how weights are made
and why BatchNorms are calibrated). Nothing here imports tsm_models. ``tools/mmaction2_parity.py --part
original`` checks these forwards against the repository's own modules.

Formats:

* training checkpoints (``main.py``): ``{'epoch', 'arch', 'state_dict', 'optimizer', 'best_prec1'}`` saved from
  ``nn.DataParallel`` -> keys ``module.base_model.*`` and ``module.new_fc.*`` (the base model's last layer is
  an ``nn.Dropout``, so it has no keys);
* the online demo's ``mobilenetv2_jester_online.pth.tar``: a bare ``MobileNetV2(n_class=27).state_dict()``
  (``features.*``, ``classifier.*``), written by torch < 1.6 in the legacy (non-zip) pickle format.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from _upstream_mmaction2 import MBV2_SETTINGS, NL_STAGES, R50, RES_GAMMA, Weights, nl_qk_scale

__all__ = [
    "ONLINE_SHIFT_BLOCKS",
    "online_demo_buffers",
    "online_demo_loop",
    "online_demo_step",
    "original_checkpoint",
    "original_shift",
    "tsn_mobilenetv2_forward",
    "tsn_resnet50_forward",
]


def original_checkpoint(state_dict: dict[str, torch.Tensor], arch: str) -> dict:
    """``main.py``'s ``save_checkpoint`` dict (DataParallel keys already in ``state_dict``)."""
    optimizer = {"state": {}, "param_groups": [{"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "params": [0, 1]}]}
    return {"epoch": 50, "arch": arch, "state_dict": state_dict, "optimizer": optimizer, "best_prec1": 71.2}


def original_shift(x: torch.Tensor, n_segment: int, fold_div: int = 8) -> torch.Tensor:
    """``ops/temporal_shift.py`` ``TemporalShift.shift`` (not in place), verbatim."""
    nt, c, h, w = x.size()
    n_batch = nt // n_segment
    x = x.view(n_batch, n_segment, c, h, w)
    fold = c // fold_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]  # shift left
    out[:, 1:, fold : 2 * fold] = x[:, :-1, fold : 2 * fold]  # shift right
    out[:, :, 2 * fold :] = x[:, :, 2 * fold :]  # not shift
    return out.view(nt, c, h, w)


def _conv_bn(
    w: Weights, x, conv: str, bn: str, out: int, k: int, stride: int = 1, groups: int = 1, act: bool = True, gamma=1.0
):
    x = w.bn(w.conv(x, conv, out, k, stride, groups=groups), bn, gamma)
    return F.relu6(x) if act else x


# --------------------------------------------------------------------------------------------------------
# archs/mobilenet_v2.py (and online_demo/mobilenet_v2_tsm.py): features.0 conv_bn, features.1..17 blocks,
# features.18 conv_1x1_bn, classifier. A block's ``conv`` Sequential: t=1 -> 0 dw, 1 BN, 3 pw, 4 BN;
# t=6 -> 0 expand, 1 BN, 3 dw, 4 BN, 6 project, 7 BN (ReLU6 at 2 and 5).


def _mbv2_blocks() -> list[tuple[int, int, int, int, int]]:
    """``(feature index, in, out, stride, t)`` of the 17 InvertedResiduals."""
    out, cin, idx = [], 32, 1
    for t, c, n, s in MBV2_SETTINGS:
        for i in range(n):
            out.append((idx, cin, c, s if i == 0 else 1, t))
            cin, idx = c, idx + 1
    return out


def _mbv2(w: Weights, x: torch.Tensor, p: str, expand_input, expand_key) -> torch.Tensor:
    """MobileNetV2 features + ``x.mean(3).mean(2)``: ``expand_input(block_index, x)`` feeds the expand conv of a
    residual t=6 block; ``expand_key(feature_index, residual)`` names its weight."""
    x = _conv_bn(w, x, f"{p}features.0.0", f"{p}features.0.1", 32, 3, 2)
    for gi, (idx, cin, cout, stride, t) in enumerate(_mbv2_blocks()):
        q = f"{p}features.{idx}.conv."
        hidden = int(cin * t)
        res = stride == 1 and cin == cout
        if t == 1:
            y = _conv_bn(w, x, q + "0", q + "1", hidden, 3, stride, groups=hidden)
            y = _conv_bn(w, y, q + "3", q + "4", cout, 1, act=False)
        else:
            y = expand_input(gi, x) if res else x
            y = _conv_bn(w, y, expand_key(q, res), q + "1", hidden, 1)
            y = _conv_bn(w, y, q + "3", q + "4", hidden, 3, stride, groups=hidden)
            y = _conv_bn(w, y, q + "6", q + "7", cout, 1, act=False, gamma=RES_GAMMA if res else 1.0)
        x = x + y if res else y
    x = _conv_bn(w, x, f"{p}features.18.0", f"{p}features.18.1", 1280, 1)
    return x.mean(3).mean(2)


def tsn_mobilenetv2_forward(
    w: Weights, video: torch.Tensor, num_segments: int = 8, num_classes: int = 400, shift_div: int = 8
) -> torch.Tensor:
    """``TSN(num_classes, num_segments, 'RGB', base_model='mobilenetv2', is_shift=True)`` in eval, from
    DataParallel keys: the shift wraps ``conv[0]`` when ``len(m.conv) == 8 and m.use_res_connect`` ->
    ``module.base_model.features.3.conv.0.net.weight``; ``classifier`` is a Dropout, ``new_fc`` the fc; the
    consensus averages the ``num_segments`` frames of each view."""
    b = video.shape[0]
    x = video.reshape(-1, 3, *video.shape[-2:])
    feats = _mbv2(
        w,
        x,
        "module.base_model.",
        lambda _gi, y: original_shift(y, num_segments, shift_div),
        lambda q, res: q + ("0.net" if res else "0"),
    )
    logits = w.linear(feats, "module.new_fc", num_classes)
    return logits.view(-1, num_segments, num_classes).mean(1).view(b, -1, num_classes).mean(1)


# --------------------------------------------------------------------------------------------------------
# TSN(resnet50, is_shift=True, shift_place='blockres', non_local=True): torchvision ResNet keys.


def _nl3d(w: Weights, x: torch.Tensor, p: str) -> torch.Tensor:
    """``ops/non_local.py`` NONLocalBlock3D(C) (embedded gaussian, inter C/2, sub_sample, bn_layer):
    ``g`` = Sequential(Conv3d(bias), MaxPool3d(1,2,2)) -> ``g.0``; ``theta`` Conv3d; ``phi`` -> ``phi.0``;
    ``W`` = Sequential(Conv3d(C/2 -> C, **with bias**), BatchNorm3d) -> ``W.0``, ``W.1``; ``z = W(y) + x``."""
    n, c = x.shape[:2]
    inter = max(c // 2, 1)

    def pool(t):
        return F.max_pool3d(t, kernel_size=(1, 2, 2))

    qk_scale = nl_qk_scale(x, inter)  # well-conditioned test weights (see nl_qk_scale)
    g_x = pool(w.conv(x, p + "g.0", inter, 1, bias=True)).view(n, inter, -1).permute(0, 2, 1)
    theta_x = w.conv(x, p + "theta", inter, 1, bias=True, scale=qk_scale).view(n, inter, -1).permute(0, 2, 1)
    phi_x = pool(w.conv(x, p + "phi.0", inter, 1, bias=True, scale=qk_scale)).view(n, inter, -1)
    f_div_c = F.softmax(torch.matmul(theta_x, phi_x), dim=-1)
    y = torch.matmul(f_div_c, g_x).permute(0, 2, 1).contiguous().view(n, inter, *x.shape[2:])
    return w.bn(w.conv(y, p + "W.0", c, 1, bias=True), p + "W.1", RES_GAMMA) + x


def tsn_resnet50_forward(
    w: Weights, video: torch.Tensor, num_segments: int = 8, num_classes: int = 400, non_local: bool = True
) -> torch.Tensor:
    """``TSN(..., base_model='resnet50', is_shift=True, shift_place='blockres', non_local=True)`` in eval.

    ``make_temporal_shift`` wraps every block's ``conv1`` (``...layer1.0.conv1.net.weight``), then
    ``make_non_local`` wraps layer2.{0,2} and layer3.{0,2,4} in ``NL3DWrapper`` (``...layer2.0.block.*``,
    ``...layer2.0.nl.*``); the wrapper runs the block, views ``(N, C, T, H, W)`` and applies the NL block.
    """
    b = video.shape[0]
    x = video.reshape(-1, 3, *video.shape[-2:])
    p = "module.base_model."
    x = F.relu(w.bn(w.conv(x, p + "conv1", 64, 7, 2), p + "bn1"))
    x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    for stage, n in enumerate(R50, start=1):
        planes = 64 * 2 ** (stage - 1)
        for j in range(n):
            stride = 2 if j == 0 and stage > 1 else 1
            nl = non_local and NL_STAGES[stage - 1][j]
            q = f"{p}layer{stage}.{j}." + ("block." if nl else "")
            out = F.relu(w.bn(w.conv(original_shift(x, num_segments), q + "conv1.net", planes, 1), q + "bn1"))
            out = F.relu(w.bn(w.conv(out, q + "conv2", planes, 3, stride), q + "bn2"))
            out = w.bn(w.conv(out, q + "conv3", planes * 4, 1), q + "bn3", RES_GAMMA)
            identity = w.bn(w.conv(x, q + "downsample.0", planes * 4, 1, stride), q + "downsample.1") if j == 0 else x
            x = F.relu(out + identity)
            if nl:
                nt, c, h, ww = x.shape
                x5 = x.view(nt // num_segments, num_segments, c, h, ww).transpose(1, 2)
                x5 = _nl3d(w, x5, f"{p}layer{stage}.{j}.nl.")
                x = x5.transpose(1, 2).contiguous().view(nt, c, h, ww)
    feats = F.adaptive_avg_pool2d(x, 1).flatten(1)
    logits = w.linear(feats, "module.new_fc", num_classes)
    return logits.view(b, -1, num_classes).mean(1)


# --------------------------------------------------------------------------------------------------------
# online_demo/mobilenet_v2_tsm.py

ONLINE_SHIFT_BLOCKS = (2, 4, 5, 7, 8, 9, 11, 12, 14, 15)  # shift_block_idx: global block indices


def online_demo_buffers(batch: int, size: int, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """The zero shift buffers of the demo (``(1, 3, 56, 56)``, ``(1, 4, 28, 28)`` ... at 224 px)."""
    out = []
    for gi, (_idx, cin, _cout, _s, _t) in enumerate(_mbv2_blocks()):
        if gi in ONLINE_SHIFT_BLOCKS:
            stride = {24: 4, 32: 8, 64: 16, 96: 16, 160: 32}[cin]
            out.append(torch.zeros(batch, cin // 8, size // stride, size // stride, dtype=dtype))
    return out


def online_demo_step(
    w: Weights, frame: torch.Tensor, buffers: list[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``MobileNetV2(n_class=27).forward(x, *shift_buffer)``: one frame ``(B, 3, H, W)`` -> ``(logits, buffers)``.

    ``InvertedResidualWithShift``: ``x1, x2 = x[:, :c//8], x[:, c//8:]``; returns ``x + conv(cat(buffer, x2))``
    and ``x1`` as the next buffer (bare keys: ``features.5.conv.0.weight``, ``classifier.*``).
    """
    new: list[torch.Tensor] = []
    it = iter(buffers)

    def expand_input(gi: int, x: torch.Tensor) -> torch.Tensor:
        if gi not in ONLINE_SHIFT_BLOCKS:
            return x
        c = x.size(1)
        x1, x2 = x[:, : c // 8], x[:, c // 8 :]
        new.append(x1)
        return torch.cat((next(it), x2), dim=1)

    feats = _mbv2(w, frame, "", expand_input, lambda q, res: q + "0")
    return w.linear(feats, "classifier", 27), new


def online_demo_loop(w: Weights, video: torch.Tensor) -> torch.Tensor:
    """The demo's loop over ``(B, T, 3, H, W)`` from zero buffers -> per-frame logits ``(B, T, 27)``."""
    buffers = online_demo_buffers(video.shape[0], video.shape[-1], video.dtype)
    outs = []
    for t in range(video.shape[1]):
        logits, buffers = online_demo_step(w, video[:, t], buffers)
        outs.append(logits)
    return torch.stack(outs, 1)


def online_demo_clip_forward(w: Weights, video: torch.Tensor) -> torch.Tensor:
    """For :func:`make_state_dict`: the mean of the demo loop's per-frame logits, ``(B, 27)``."""
    return online_demo_loop(w, video).mean(1)
