"""The temporal shift against a naive per-frame loop written from the MMAction2 definition."""

from __future__ import annotations

import pytest
import torch

from tsm_models import TemporalShift, temporal_shift


def naive_shift(x: torch.Tensor, num_segments: int, shift_div: int, direction: str) -> torch.Tensor:
    nt, c = x.shape[:2]
    fold = c // shift_div
    out = torch.zeros_like(x)
    for v in range(nt // num_segments):
        for t in range(num_segments):
            i = v * num_segments + t
            if direction == "bidirectional":
                if t + 1 < num_segments:  # [0, fold) <- future frame
                    out[i, :fold] = x[i + 1, :fold]
                if t >= 1:  # [fold, 2 fold) <- past frame
                    out[i, fold : 2 * fold] = x[i - 1, fold : 2 * fold]
                out[i, 2 * fold :] = x[i, 2 * fold :]
            else:
                if t >= 1:  # [0, fold) <- past frame
                    out[i, :fold] = x[i - 1, :fold]
                out[i, fold:] = x[i, fold:]
    return out


@pytest.mark.parametrize("direction", ["bidirectional", "online"])
@pytest.mark.parametrize(("n", "t", "c", "div"), [(1, 8, 64, 8), (3, 4, 16, 4), (2, 3, 10, 3), (1, 1, 8, 8)])
def test_shift_matches_naive_loop(direction: str, n: int, t: int, c: int, div: int) -> None:
    x = torch.randn(n * t, c, 5, 3)
    expected = naive_shift(x, t, div, direction)
    assert torch.equal(temporal_shift(x, t, div, direction), expected)


def test_shift_channels_last_and_input_untouched() -> None:
    x = torch.randn(16, 32, 6, 6).to(memory_format=torch.channels_last)
    before = x.clone()
    out = temporal_shift(x, 8, 8)
    assert torch.equal(x, before)
    assert torch.equal(out, naive_shift(x.contiguous(), 8, 8, "bidirectional"))


def test_zero_at_clip_ends_and_groups_do_not_mix() -> None:
    # two clips of 4 frames; frame i is filled with i + 1 so zeros can only come from padding
    x = torch.arange(1, 9, dtype=torch.float32).view(8, 1, 1, 1).expand(8, 16, 2, 2).contiguous()
    out = temporal_shift(x, 4, 8)  # fold = 2
    for clip in range(2):
        first, last = clip * 4, clip * 4 + 3
        assert (out[last, :2] == 0).all()  # future channels of the last frame
        assert (out[first, 2:4] == 0).all()  # past channels of the first frame
        assert torch.equal(out[first, :2], x[first + 1, :2])
        assert torch.equal(out[last, 2:4], x[last - 1, 2:4])
    assert torch.equal(out[:, 4:], x[:, 4:])


def test_gradients_flow_through_shift() -> None:
    x = torch.randn(8, 16, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda y: temporal_shift(y, 4, 4), (x,))
    assert torch.autograd.gradcheck(lambda y: temporal_shift(y, 4, 4, "online"), (x,))
    # channel 0 of frame 1 comes from frame 2: its gradient lands on frame 2
    x2 = torch.zeros(4, 8, 1, 1, requires_grad=True)
    temporal_shift(x2, 4, 8)[1, 0].sum().backward()
    assert x2.grad[2, 0].item() == 1.0 and x2.grad.sum().item() == 1.0


def test_temporal_shift_module_wraps_net() -> None:
    conv = torch.nn.Conv2d(16, 4, 1, bias=False)
    module = TemporalShift(conv, channels=16, num_segments=4, shift_div=8)
    x = torch.randn(8, 16, 3, 3)
    assert torch.allclose(module(x), conv(naive_shift(x, 4, 8, "bidirectional")))
    assert module.fold == 2
    assert [k for k, _ in module.named_parameters()] == ["net.weight"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(num_segments=3), "multiple of num_segments=3"),
        (dict(num_segments=4, shift_div=64), "larger than the 16 channels"),
        (dict(num_segments=4, shift_div=1), "shift_div must be an int >= 2"),
        (dict(num_segments=4, direction="sideways"), "shift_direction must be one of"),
        (dict(num_segments=0), "num_segments must be a positive int"),
    ],
)
def test_bad_shift_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        temporal_shift(torch.randn(8, 16, 2, 2), **kwargs)


def test_shift_rejects_non_4d() -> None:
    with pytest.raises(ValueError, match=r"\(N\*T, C, H, W\)"):
        temporal_shift(torch.randn(2, 4, 16, 2, 2), 4)
