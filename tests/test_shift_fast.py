"""The fast shift paths (in-place inference shift, autograd Function) against the naive definition."""

from __future__ import annotations

import pytest
import torch
from test_shift import naive_shift
from torch import nn

from tsm_models import TemporalShift, temporal_shift
from tsm_models.models.shift import shifted_modules, temporal_shift_inplace

CASES = [(1, 8, 64, 8), (3, 4, 16, 4), (2, 3, 10, 3), (2, 1, 8, 8)]  # (videos, frames, channels, shift_div)


def _input(n: int, t: int, c: int, channels_last: bool, seed: int = 0) -> torch.Tensor:
    x = torch.randn(n * t, c, 5, 4, generator=torch.Generator().manual_seed(seed))
    return x.to(memory_format=torch.channels_last) if channels_last else x


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("direction", ["bidirectional", "online"])
@pytest.mark.parametrize(("n", "t", "c", "div"), CASES)
@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_inplace_shift_matches_naive_and_restores(
    mode: str, n: int, t: int, c: int, div: int, direction: str, channels_last: bool
) -> None:
    x = _input(n, t, c, channels_last)
    expected = naive_shift(x.contiguous(), t, div, direction)
    before = x.clone()
    ctx = torch.no_grad() if mode == "no_grad" else torch.inference_mode()
    with ctx, temporal_shift_inplace(x, t, div, direction) as shifted:
        assert shifted.data_ptr() == x.data_ptr()  # really in place
        assert torch.equal(shifted, expected)
    assert torch.equal(x, before)
    assert x.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_inplace_shift_restores_after_exception_and_keeps_version() -> None:
    x = _input(2, 4, 16, False)
    before = x.clone()
    version = x._version
    with pytest.raises(RuntimeError, match="boom"), torch.no_grad(), temporal_shift_inplace(x, 4, 4):
        assert not torch.equal(x, before)
        raise RuntimeError("boom")
    assert torch.equal(x, before)
    assert x._version == version  # an outer autograd graph that saved x stays valid


def test_inplace_shift_keeps_outer_graph_valid() -> None:
    # x is saved for backward by an op recorded with grad on; shifting it in place under no_grad must not
    # invalidate that graph (writes go through x.data, values are restored)
    w = torch.randn(8, 16, 1, 1, requires_grad=True)
    x = torch.randn(8, 16, 3, 3)
    y = torch.nn.functional.conv2d(x, w).sum()
    with torch.no_grad(), temporal_shift_inplace(x, 4, 8):
        pass
    y.backward()
    assert torch.allclose(w.grad, x.sum(dim=(0, 2, 3)).view(1, 16, 1, 1).expand(8, 16, 1, 1))


def test_inplace_shift_rejects_grad_mode_and_non_dense_inputs() -> None:
    x = torch.randn(8, 16, 3, 3)
    with pytest.raises(ValueError, match="autograd off"), temporal_shift_inplace(x, 4):
        pass
    strided = torch.randn(8, 16, 3, 6)[..., ::2]
    with pytest.raises(ValueError, match="contiguous or channels_last"), torch.no_grad():
        temporal_shift_inplace(strided, 4).__enter__()
    with pytest.raises(ValueError, match="multiple of num_segments"), torch.no_grad():
        temporal_shift_inplace(x, 3).__enter__()


def test_inference_tensor_outside_inference_mode_falls_back() -> None:
    with torch.inference_mode():
        x = torch.randn(8, 16, 3, 3)
    conv = nn.Conv2d(16, 4, 1, bias=False)
    module = TemporalShift(conv, 16, num_segments=4, shift_div=4)
    with torch.no_grad():  # in-place writes to an inference tensor are not allowed here
        out = module(x)
        assert torch.equal(out, conv(naive_shift(x, 4, 4, "bidirectional")))
        with pytest.raises(ValueError, match="inference tensor"):
            temporal_shift_inplace(x, 4, 4).__enter__()


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("direction", ["bidirectional", "online"])
def test_module_inference_uses_inplace_path_and_leaves_input(direction: str, channels_last: bool) -> None:
    conv = nn.Conv2d(16, 6, 1, bias=False)
    module = TemporalShift(conv, 16, num_segments=4, shift_div=4, direction=direction)
    assert module.inplace_inference
    x = _input(2, 4, 16, channels_last)
    before = x.clone()
    with torch.no_grad():
        expected = conv(naive_shift(x.contiguous(), 4, 4, direction).to(memory_format=x_format(x)))
        seen: list[torch.Tensor] = []
        handle = conv.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        out = module(x)
        handle.remove()
    assert seen[0].data_ptr() == x.data_ptr()  # the conv read the shifted input in place
    assert torch.equal(out, expected)
    assert torch.equal(x, before)


def x_format(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


def test_module_only_shifts_in_place_for_known_safe_nets() -> None:
    x = torch.randn(8, 16, 3, 3)
    before = x.clone()
    relu = TemporalShift(nn.ReLU(inplace=True), 16, num_segments=4, shift_div=4)
    assert not relu.inplace_inference
    with torch.no_grad():
        out = relu(x)
    assert torch.equal(out, naive_shift(before, 4, 4, "bidirectional").relu())
    assert torch.equal(x, before)
    # a net returning (a view of) its input: opting in must still give the shifted values, not the restored input
    ident = TemporalShift(nn.Identity(), 16, num_segments=4, shift_div=4)
    ident.inplace_inference = True
    with torch.no_grad():
        out = ident(x)
    assert torch.equal(out, naive_shift(before, 4, 4, "bidirectional"))
    assert torch.equal(x, before)


@pytest.mark.parametrize("place", ["residual", "inplace"])
@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_model_inference_equals_autograd_path(tiny_tsm, video, block: str, place: str) -> None:
    model = tiny_tsm(block, shift_place=place)
    assert all(m.inplace_inference for _, m in shifted_modules(model))
    x = video(b=2, t=4, size=32)
    before = x.clone()
    with torch.no_grad():
        fast = model(x)
        intermediates = model.forward_intermediates(x.flatten(0, 1), intermediates_only=True)
    slow = model(x)  # grad enabled: the out-of-place shift
    slow_intermediates = model.forward_intermediates(x.flatten(0, 1), intermediates_only=True)
    assert torch.allclose(fast, slow, rtol=0, atol=1e-6)
    for a, b in zip(intermediates, slow_intermediates, strict=True):  # stage outputs are not left shifted
        assert torch.allclose(a, b, rtol=0, atol=1e-6)
    assert torch.equal(x, before)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("direction", ["bidirectional", "online"])
def test_autograd_path_bit_identical_to_naive(direction: str, channels_last: bool) -> None:
    x = _input(2, 4, 16, channels_last)
    grad = torch.randn(8, 16, 5, 4, generator=torch.Generator().manual_seed(1))
    fast_in = x.clone().requires_grad_()
    out = temporal_shift(fast_in, 4, 4, direction)
    assert out.grad_fn is not None and "TemporalShift" in type(out.grad_fn).__name__
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last
    out.backward(grad)
    ref_in = x.clone().requires_grad_()
    ref = naive_shift(ref_in, 4, 4, direction)
    ref.backward(grad)
    assert torch.equal(out, ref)
    assert torch.equal(fast_in.grad, ref_in.grad)


def test_training_step_gradients_match_naive_shift(tiny_tsm, video) -> None:
    model = tiny_tsm("bottleneck", dropout=0.0).train()
    x = video(b=2, t=4, size=32)
    model(x).logsumexp(-1).sum().backward()
    fast = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    for _, m in shifted_modules(model):  # the same model with the naive shift
        m.forward = lambda y, m=m: m.net(naive_shift(y, m.num_segments, m.shift_div, m.direction))
    model(x).logsumexp(-1).sum().backward()
    for k, p in model.named_parameters():
        assert torch.allclose(fast[k], p.grad, rtol=1e-5, atol=1e-7), k
