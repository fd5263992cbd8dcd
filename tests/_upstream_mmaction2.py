"""Independent re-implementations of MMAction2 1.2.0 TSM forwards beyond ResNet, and their checkpoints.

Written from the upstream source (open-mmlab/mmaction2 @ 4d6c9347 ``mmaction/models/backbones/
{mobilenet_v2,mobilenet_v2_tsm,resnet_tsm,mobileone_tsm}.py``, ``heads/tsm_head.py``; open-mmlab/mmcv
``mmcv/cnn/bricks/non_local.py``; open-mmlab/mmpretrain ``models/backbones/mobileone.py``,
``models/utils/se_layer.py``), in plain ``torch.nn.functional`` on state-dict keys. Nothing here imports
tsm_models. ``tools/mmaction2_parity.py --part families`` checks these forwards against MMAction2 itself.

Weights are made by running a forward with :class:`Weights` in ``init`` mode: every tensor is created at its
first use with the shape the upstream module has (so the keys and shapes are the upstream ones), convs
He-scaled, and **every BatchNorm calibrated on the activations it sees** (running mean/var = the batch
statistics of a random calibration clip, perturbed by a few per cent; gamma in [0.5, 1.5], beta ~ N(0, 0.2)).
Each BN output is then O(1) however deep the random net is, so fp32 rounding noise in the logits stays near
1e-6 of their size instead of being amplified by random running statistics. The classifier is N(0, 1/C).

Layouts: video ``(B, T, 3, H, W)``; frames ``(B * T, C, H, W)`` video-major; logits ``(B, K)`` (TSMHead:
pool -> dropout (eval: identity) -> fc per frame -> mean over the ``T`` frames).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "NL_STAGES",
    "Weights",
    "make_state_dict",
    "random_video",
    "mmaction2_checkpoint",
    "mmaction2_shift",
    "mobilenetv2_tsm_forward",
    "mobileone_reparameterize",
    "mobileone_tsm_forward",
    "resnet50_tsm_nl_forward",
    "save_checkpoint",
]


RES_GAMMA = 0.2  # init scale of the BN that ends a residual branch (see Weights.bn)


class Weights:
    """State-dict access for the functional forwards.

    With ``init=True`` a missing tensor is created at its first use (see the module docstring); otherwise a
    missing key is a ``KeyError`` (the forward reads exactly the upstream keys).
    """

    def __init__(self, sd: dict[str, torch.Tensor] | None = None, *, init: bool = False, seed: int = 0) -> None:
        self.sd: dict[str, torch.Tensor] = {} if sd is None else sd
        self.init = init
        self.g = torch.Generator().manual_seed(seed)

    def _get(self, key: str, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        if key not in self.sd:
            if not self.init:
                raise KeyError(key)
            self.sd[key] = make()
        return self.sd[key]

    def randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=self.g)

    def rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.g)

    def conv(
        self,
        x: torch.Tensor,
        prefix: str,
        out_ch: int,
        k: int | tuple[int, ...] = 1,
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | None = None,
        groups: int = 1,
        bias: bool = False,
        scale: float = 1.0,
    ) -> torch.Tensor:
        """Conv2d (4-D ``x``) or Conv3d (5-D ``x``) with weight ``prefix.weight`` (and ``prefix.bias``).

        ``scale`` multiplies the He-normal init (only when the weight is created)."""
        nd = x.ndim - 2
        ks = (k,) * nd if isinstance(k, int) else tuple(k)
        if padding is None:
            padding = tuple(s // 2 for s in ks)
        shape = (out_ch, x.shape[1] // groups, *ks)
        fan_in = shape[1] * math.prod(ks)
        w = self._get(prefix + ".weight", lambda: self.randn(*shape) * scale * (2.0 / fan_in) ** 0.5)
        b = self._get(prefix + ".bias", lambda: self.randn(out_ch) * 0.1) if bias else None
        fn = F.conv2d if nd == 2 else F.conv3d
        return fn(x, w, b, stride=stride, padding=padding, groups=groups)

    def bn(self, x: torch.Tensor, prefix: str, gamma: float = 1.0) -> torch.Tensor:
        """Eval-mode BatchNorm (2-D or 3-D), eps 1e-5; in init mode calibrated on ``x`` first.

        ``gamma`` scales the created affine weight: the BN that ends a residual branch gets a small one, so each
        block is near the identity and rounding errors are not amplified from block to block."""
        c = x.shape[1]
        if self.init and prefix + ".running_mean" not in self.sd:
            dims = [d for d in range(x.ndim) if d != 1]
            mean = x.detach().mean(dims)
            var = x.detach().var(dims, unbiased=False)
            std = (var + 1e-5).sqrt()
            self.sd[prefix + ".weight"] = (self.rand(c) + 0.5) * gamma
            self.sd[prefix + ".bias"] = self.randn(c) * 0.2 * gamma
            self.sd[prefix + ".running_mean"] = mean + self.randn(c) * 0.05 * std
            self.sd[prefix + ".running_var"] = (var + mean.square()) * (self.rand(c) * 0.2 + 0.9) + 1e-6
            self.sd[prefix + ".num_batches_tracked"] = torch.tensor(
                int(torch.randint(1, 10**6, (1,), generator=self.g))
            )
        s = self.sd
        return F.batch_norm(
            x,
            s[prefix + ".running_mean"],
            s[prefix + ".running_var"],
            s[prefix + ".weight"],
            s[prefix + ".bias"],
            training=False,
            eps=1e-5,
        )

    def linear(self, x: torch.Tensor, prefix: str, out: int) -> torch.Tensor:
        c = x.shape[1]
        w = self._get(prefix + ".weight", lambda: self.randn(out, c) / c**0.5)
        b = self._get(prefix + ".bias", lambda: self.randn(out) * 0.1)
        return F.linear(x, w, b)


def random_video(batch: int = 2, frames: int = 8, size: int = 64, seed: int = 1) -> torch.Tensor:
    """A random normalised clip ``(B, T, 3, H, W)``."""
    return torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


def make_state_dict(
    forward: Callable[..., torch.Tensor], video: torch.Tensor, *args: object, seed: int = 0, **kwargs: object
) -> dict[str, torch.Tensor]:
    """Create the weights of ``forward(weights, video, *args, **kwargs)`` by one init-mode pass on ``video``.

    The BatchNorms are calibrated on ``video`` itself; the parity tests then run on the same clip, where
    every BN sees its input normalised (on another clip deep random nets drift away from unit scale).
    """
    w = Weights(init=True, seed=seed)
    with torch.no_grad():
        forward(w, video, *args, **kwargs)
    return w.sd


def mmaction2_checkpoint(state_dict: dict[str, torch.Tensor], config: str | None = None) -> dict:
    """MMAction2 1.x released file: ``{'meta': {...}, 'state_dict': {'backbone.*', 'cls_head.fc_cls.*'}}``."""
    meta: dict = {"mmengine_version": "0.8.4", "time": "20230825_120000", "epoch": 50, "iter": 157000}
    if config is not None:
        meta["cfg"] = config
    return {"meta": meta, "state_dict": state_dict}


def save_checkpoint(obj: object, path: str, legacy: bool = False) -> None:
    """``torch.save``; ``legacy=True`` writes the pre-1.6 non-zip pickle format."""
    if legacy:
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        torch.save(obj, path)


def checkpoint_bytes(obj: object, legacy: bool = False) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------------
# TemporalShift (resnet_tsm.py, used by all three backbones)


def mmaction2_shift(x: torch.Tensor, num_segments: int, shift_div: int = 8) -> torch.Tensor:
    """MMAction2 ``TemporalShift.shift`` verbatim (4-D view, zeros as ``slice - slice``, ``torch.cat``)."""
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


def _conv_module(
    w: Weights,
    x: torch.Tensor,
    prefix: str,
    out: int,
    k: int = 1,
    stride: int = 1,
    groups: int = 1,
    act=None,
    gamma=1.0,
):
    """mmcv ConvModule(conv, BN, act): keys ``prefix.conv.weight`` (bias='auto': none with a norm), ``prefix.bn.*``."""
    x = w.bn(w.conv(x, prefix + ".conv", out, k, stride, groups=groups), prefix + ".bn", gamma)
    return act(x) if act is not None else x


def _tsm_head(w: Weights, x: torch.Tensor, b: int, num_classes: int) -> torch.Tensor:
    """TSMHead: AdaptiveAvgPool2d(1) -> flatten -> dropout (eval) -> fc_cls -> view(-1, T, K) -> mean(1)."""
    x = F.adaptive_avg_pool2d(x, 1).flatten(1)
    logits = w.linear(x, "cls_head.fc_cls", num_classes)
    return logits.view(b, -1, num_classes).mean(1)


def _frames(video: torch.Tensor) -> tuple[torch.Tensor, int]:
    return video.flatten(0, 1), video.shape[0]


# --------------------------------------------------------------------------------------------------------
# MobileNetV2TSM (mobilenet_v2.py + mobilenet_v2_tsm.py), widen_factor 1

MBV2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def mobilenetv2_tsm_forward(
    w: Weights, video: torch.Tensor, num_segments: int = 8, num_classes: int = 400, shift_div: int = 8
) -> torch.Tensor:
    """Recognizer2D(MobileNetV2TSM, TSMHead) in eval mode: ``(B, T, 3, H, W)`` -> ``(B, K)``.

    InvertedResidual: ``conv`` = [expand ConvModule (t != 1)], dw ConvModule, project ConvModule (no act);
    the shift wraps ``conv[0]`` (``len(conv) == 3 and use_res_connect``) -> ``layerX.Y.conv.0.net.conv.weight``.
    """
    relu6 = F.relu6
    x, b = _frames(video)
    x = _conv_module(w, x, "backbone.conv1", 32, 3, 2, act=relu6)
    cin = 32
    for i, (t, c, n, s) in enumerate(MBV2_SETTINGS, start=1):
        for j in range(n):
            stride = s if j == 0 else 1
            p = f"backbone.layer{i}.{j}.conv"
            hidden = round(cin * t)
            res = stride == 1 and cin == c
            y = x
            k = 0
            if t != 1:
                shifted = res  # len(m.conv) == 3 and m.use_res_connect
                name = f"{p}.0.net" if shifted else f"{p}.0"
                y = _conv_module(
                    w, mmaction2_shift(y, num_segments, shift_div) if shifted else y, name, hidden, 1, act=relu6
                )
                k = 1
            y = _conv_module(w, y, f"{p}.{k}", hidden, 3, stride, groups=hidden, act=relu6)
            y = _conv_module(w, y, f"{p}.{k + 1}", c, 1, gamma=RES_GAMMA if res else 1.0)
            x = x + y if res else y
            cin = c
    x = _conv_module(w, x, "backbone.conv2", 1280, 1, act=relu6)
    return _tsm_head(w, x, b, num_classes)


# --------------------------------------------------------------------------------------------------------
# ResNetTSM-50 + NL3DWrapper(NonLocal3d) (resnet_tsm.py, mmcv non_local.py)

# non_local=((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0)) of the three NL configs
NL_STAGES = ((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0))
R50 = (3, 4, 6, 3)


def nl_qk_scale(x: torch.Tensor, inter: int) -> float:
    """Init scale of theta/phi (relative to He) giving pairwise logits ~ N(0, 1) on ``x``.

    An unscaled softmax over O(50) logits (He init on O(4) features) is a near-argmax whose near-ties flip with
    fp32 rounding; the test weights must keep the forward well conditioned. Only used when weights are created.
    """
    rms = float(x.detach().pow(2).mean().sqrt()) + 1e-6
    return inter**-0.25 / (2**0.5 * rms)


def nonlocal3d(w: Weights, x: torch.Tensor, prefix: str, mode: str) -> torch.Tensor:
    """mmcv NonLocal3d(C, sub_sample=True, use_scale=False, norm_cfg=BN3d, mode) on ``(N, C, T, H, W)``.

    ``g`` = ConvModule(C, C/2, 1, bias, no norm) + MaxPool3d(1, 2, 2) -> ``g.0.conv.*``; ``theta`` =
    ConvModule -> ``theta.conv.*``; ``phi`` = ConvModule + pool -> ``phi.0.conv.*`` (``gaussian``: no theta,
    phi = the pool alone); ``conv_out`` = ConvModule(C/2, C, norm BN3d, no bias) -> ``conv_out.conv.weight``,
    ``conv_out.bn.*``. Returns ``x + conv_out(y)``.
    """
    n, c = x.shape[:2]
    inter = max(c // 2, 1)

    def pool(t: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(t, kernel_size=(1, 2, 2))

    g_x = pool(w.conv(x, prefix + ".g.0.conv", inter, 1, bias=True)).view(n, inter, -1).permute(0, 2, 1)
    if mode == "gaussian":
        theta_x = x.view(n, c, -1).permute(0, 2, 1)
        phi_x = pool(x).view(n, c, -1)
        pairwise = torch.matmul(theta_x, phi_x).softmax(dim=-1)
    else:
        qk_scale = nl_qk_scale(x, inter)
        theta_x = (
            w.conv(x, prefix + ".theta.conv", inter, 1, bias=True, scale=qk_scale).view(n, inter, -1).permute(0, 2, 1)
        )
        phi_x = pool(w.conv(x, prefix + ".phi.0.conv", inter, 1, bias=True, scale=qk_scale)).view(n, inter, -1)
        pairwise = torch.matmul(theta_x, phi_x)
        if mode == "embedded_gaussian":  # use_scale=False
            pairwise = pairwise.softmax(dim=-1)
        elif mode == "dot_product":
            pairwise = pairwise / pairwise.shape[-1]
        else:
            raise ValueError(mode)
    y = torch.matmul(pairwise, g_x).permute(0, 2, 1).contiguous().reshape(n, inter, *x.shape[2:])
    return x + w.bn(w.conv(y, prefix + ".conv_out.conv", c, 1), prefix + ".conv_out.bn", RES_GAMMA)


def _bottleneck(w: Weights, x: torch.Tensor, p: str, planes: int, stride: int, shift: Callable | None, down: bool):
    """mmaction ResNet Bottleneck (ConvModules conv1/2/3, stride on conv2, ``downsample.conv/bn``)."""
    relu = F.relu
    branch_in = shift(x) if shift is not None else x
    conv1 = f"{p}conv1.conv.net" if shift is not None else f"{p}conv1.conv"
    out = relu(w.bn(w.conv(branch_in, conv1, planes, 1), f"{p}conv1.bn"))
    out = _conv_module(w, out, f"{p}conv2", planes, 3, stride, act=relu)
    out = _conv_module(w, out, f"{p}conv3", planes * 4, 1, gamma=RES_GAMMA)
    identity = _conv_module(w, x, f"{p}downsample", planes * 4, 1, stride) if down else x
    return relu(out + identity)


def resnet50_tsm_nl_forward(
    w: Weights,
    video: torch.Tensor,
    mode: str | None = "embedded_gaussian",
    num_segments: int = 8,
    num_classes: int = 400,
    non_local: tuple[tuple[int, ...], ...] = NL_STAGES,
) -> torch.Tensor:
    """Recognizer2D(ResNetTSM-50 blockres, NL3DWrapper where ``non_local`` says, TSMHead), eval.

    A wrapped block's keys gain ``.block`` (``layer2.0.block.conv1.conv.net.weight``) and its NonLocal3d sits
    at ``layer2.0.non_local_block.*``; the wrapper views ``(N*T, C, H, W)`` as ``(N, C, T, H, W)``.
    ``mode=None`` gives the plain ResNetTSM-50.
    """

    def shift(t: torch.Tensor) -> torch.Tensor:
        return mmaction2_shift(t, num_segments, 8)

    x, b = _frames(video)
    x = _conv_module(w, x, "backbone.conv1", 64, 7, 2, act=F.relu)
    x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
    for stage, n in enumerate(R50, start=1):
        planes = 64 * 2 ** (stage - 1)
        for j in range(n):
            stride = 2 if j == 0 and stage > 1 else 1
            nl = mode is not None and non_local[stage - 1][j]
            p = f"backbone.layer{stage}.{j}." + ("block." if nl else "")
            x = _bottleneck(w, x, p, planes, stride, shift, j == 0)
            if nl:
                nt, c, h, ww = x.shape
                x5 = x.view(nt // num_segments, num_segments, c, h, ww).transpose(1, 2).contiguous()
                x5 = nonlocal3d(w, x5, f"backbone.layer{stage}.{j}.non_local_block", mode)
                x = x5.transpose(1, 2).contiguous().view(nt, c, h, ww)
    return _tsm_head(w, x, b, num_classes)


# --------------------------------------------------------------------------------------------------------
# MobileOneTSM-S4 (mobileone_tsm.py over mmpretrain MobileOne 's4')

S4 = dict(num_blocks=(2, 8, 10, 1), width_factor=(3.0, 3.5, 3.5, 4.0), num_se_blocks=(0, 0, 5, 1))


def _make_divisible(value: float, divisor: int, min_value: int | None = None, min_ratio: float = 0.9) -> int:
    """mmpretrain ``make_divisible``."""
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < min_ratio * value:
        new_value += divisor
    return new_value


def mobileone_blocks() -> list[tuple[str, int, int, int, int, bool]]:
    """``(prefix, in, out, kernel, stride, se)`` of every MobileOneBlock of s4, in forward order.

    Prefixes are those of MobileOneTSM (every block wrapped in TemporalShift: ``.net``), stage0 included.
    """
    blocks = [("backbone.stage0.net", 3, 64, 3, 2, False)]  # min(64, int(64 * 3.0))
    cin = 64
    for i, (n, wf, se) in enumerate(
        zip(S4["num_blocks"], S4["width_factor"], S4["num_se_blocks"], strict=True), start=1
    ):
        planes = int((64, 128, 256, 512)[i - 1] * wf)
        for j in range(n):
            use_se = j >= n - se
            blocks.append((f"backbone.stage{i}.{2 * j}.net", cin, cin, 3, 2 if j == 0 else 1, use_se))
            blocks.append((f"backbone.stage{i}.{2 * j + 1}.net", cin, planes, 1, 1, use_se))
            cin = planes
    return blocks


def _mobileone_block(
    w: Weights, x: torch.Tensor, p: str, cin: int, cout: int, k: int, stride: int, se: bool, deploy: bool
):
    """mmpretrain MobileOneBlock (1 conv branch): ``act(se(branch_norm(x) + branch_scale(x) + conv(x)))``.

    Depthwise (``groups = in``) for the 3x3 blocks of stages 1-4, dense for stage0 and the 1x1 blocks.
    """
    groups = cin if (k == 3 and cin == cout and not p.startswith("backbone.stage0")) else 1
    pad = k // 2
    if deploy:
        out = w.conv(x, p + ".branch_reparam", cout, k, stride, pad, groups, bias=True)
    else:
        out = 0
        gamma = 1.0
        if cin == cout and stride == 1:
            out = w.bn(x, p + ".branch_norm")
            gamma = RES_GAMMA  # the block is identity BN + small conv branches (see Weights.bn)
        if k > 1:
            out = out + w.bn(
                w.conv(x, p + ".branch_scale.conv", cout, 1, stride, 0, groups), p + ".branch_scale.norm", gamma
            )
        out = out + w.bn(
            w.conv(x, p + ".branch_conv_list.0.conv", cout, k, stride, pad, groups),
            p + ".branch_conv_list.0.norm",
            gamma,
        )
    if se:  # SELayer(ratio=16): pool -> ConvModule(bias, ReLU) -> ConvModule(bias, Sigmoid) -> x * weight
        sq = _make_divisible(cout // 16, 8)
        s = F.adaptive_avg_pool2d(out, 1)
        s = F.relu(w.conv(s, p + ".se.conv1.conv", sq, 1, bias=True))
        s = torch.sigmoid(w.conv(s, p + ".se.conv2.conv", cout, 1, bias=True))
        out = out * s
    return F.relu(out)


def mobileone_tsm_forward(
    w: Weights,
    video: torch.Tensor,
    num_segments: int = 8,
    num_classes: int = 400,
    deploy: bool = False,
    shift_div: int = 8,
) -> torch.Tensor:
    """Recognizer2D(MobileOneTSM-s4, TSMHead) in eval: ``(B, T, 3, H, W)`` -> ``(B, K)``.

    Every block is ``TemporalShift(block)``: the shifted input feeds all branches (an in-place shift), also on
    stage0 whose 3 channels give ``fold = 0`` (a no-op). The released 16-frame config keeps the backbone at
    ``num_segments=8`` and sets only the head to 16: pass 16 frames with ``num_segments=8`` (the head averages
    all frames of a video either way).
    """
    x, b = _frames(video)
    for p, cin, cout, k, stride, se in mobileone_blocks():
        x = _mobileone_block(w, mmaction2_shift(x, num_segments, shift_div), p, cin, cout, k, stride, se, deploy)
    return _tsm_head(w, x, b, num_classes)


def mobileone_reparameterize(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """mmpretrain ``MobileOneBlock.reparameterize`` on a training-time state dict -> the deploy state dict.

    Each branch's conv+BN is fused (``w * gamma / std``, ``beta - mean * gamma / std``), the 1x1 scale branch
    padded to 3x3, the identity BN turned into an identity conv (``_norm_to_conv``), and all summed into
    ``branch_reparam.{weight,bias}``; SE and the head pass through.
    """
    out = {k: v for k, v in sd.items() if ".branch_" not in k}

    def fuse(conv: torch.Tensor, bn: str) -> tuple[torch.Tensor, torch.Tensor]:
        std = (sd[bn + ".running_var"] + 1e-5).sqrt()
        t = sd[bn + ".weight"] / std
        return conv * t.reshape(-1, 1, 1, 1), sd[bn + ".bias"] - sd[bn + ".running_mean"] * t

    for p, cin, cout, k, stride, _se in mobileone_blocks():
        weight, bias = fuse(sd[p + ".branch_conv_list.0.conv.weight"], p + ".branch_conv_list.0.norm")
        if k > 1:
            ws, bs = fuse(sd[p + ".branch_scale.conv.weight"], p + ".branch_scale.norm")
            weight = weight + F.pad(ws, [k // 2] * 4)
            bias = bias + bs
        if cin == cout and stride == 1:
            groups = cin if (k == 3 and not p.startswith("backbone.stage0")) else 1
            input_dim = cin // groups
            ident = torch.zeros(cin, input_dim, k, k, dtype=weight.dtype)
            for i in range(cin):
                ident[i, i % input_dim, k // 2, k // 2] = 1
            wn, bn_ = fuse(ident, p + ".branch_norm")
            weight = weight + wn
            bias = bias + bn_
        out[p + ".branch_reparam.weight"] = weight
        out[p + ".branch_reparam.bias"] = bias
    return out
