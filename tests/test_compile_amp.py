"""torch.compile without graph breaks, AMP autocast and channels_last, on tiny TSMs."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
import torch._dynamo.testing
from test_shift import naive_shift

from tsm_models import temporal_shift
from tsm_models.models import shifted_modules


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("direction", ["bidirectional", "online"])
def test_compiled_shift_fullgraph_same_values_and_grads(direction: str) -> None:
    x = torch.randn(8, 16, 3, 3, generator=torch.Generator().manual_seed(0))
    fn = torch.compile(lambda y: temporal_shift(y, 4, 4, direction), fullgraph=True, backend="aot_eager")
    assert torch.equal(fn(x), naive_shift(x, 4, 4, direction))
    xg = x.clone().requires_grad_()
    grad = torch.randn_like(x)
    fn(xg).backward(grad)
    ref = x.clone().requires_grad_()
    naive_shift(ref, 4, 4, direction).backward(grad)
    assert torch.equal(xg.grad, ref.grad)


@pytest.mark.parametrize("grad", [False, True])
def test_model_traces_without_graph_breaks(tiny_tsm, video, grad: bool) -> None:
    model = tiny_tsm("bottleneck")
    x = video(b=1, t=4, size=32)
    counter = torch._dynamo.testing.CompileCounter()  # fullgraph=True raises on any graph break
    with torch.set_grad_enabled(grad):
        out = torch.compile(model, fullgraph=True, backend=counter)(x)
    assert counter.frame_count == 1
    with torch.no_grad():
        ref = model(x)
    assert torch.allclose(out, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_inductor_compile_same_outputs(tiny_tsm, video) -> None:
    model = tiny_tsm("basic")
    x = video(b=2, t=4, size=32)
    with torch.no_grad():
        ref = model(x)
        out = torch.compile(model, fullgraph=True)(x)
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_inference_and_training(tiny_tsm, video, dtype: torch.dtype) -> None:
    model = tiny_tsm("bottleneck")
    x = video(b=2, t=4, size=32)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=dtype):
            low = model(x)
    assert low.dtype == dtype
    assert torch.isfinite(low).all()
    assert (low.float() - ref).abs().max() <= 0.05 * ref.abs().max()
    model.train()
    with torch.autocast("cpu", dtype=dtype):
        loss = model(x).float().logsumexp(-1).mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("place", ["residual", "inplace"])
def test_channels_last_end_to_end(tiny_tsm, video, place: str, grad: bool) -> None:
    model = tiny_tsm("bottleneck", shift_place=place)
    x = video(b=2, t=4, size=32)
    with torch.no_grad():
        ref = model(x)
    model = model.to(memory_format=torch.channels_last)
    x_cl = x.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)  # each frame stored HWC
    formats: list[bool] = []
    hooks = [
        m.net.register_forward_pre_hook(
            lambda _m, args: formats.append(args[0].is_contiguous(memory_format=torch.channels_last))
        )
        for _, m in shifted_modules(model)
    ]
    with torch.set_grad_enabled(grad):
        out = model(x_cl)
    for h in hooks:
        h.remove()
    assert formats and all(formats)  # the shifted features stay channels_last (no hidden format copies)
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-5)
