"""StreamingTSM: frame-by-frame inference equals the offline online-shift model, frame by frame."""

from __future__ import annotations

import copy
import importlib.util
import io
import itertools
from pathlib import Path
from typing import Any

import pytest
import torch
from timm.models.resnet import BasicBlock, Bottleneck
from torch import nn

import tsm_models
from tsm_models import TSM, StreamingTSM, TemporalShift
from tsm_models.models.streaming import StreamingShift

SIZE = 32
NUM_CLASSES = 7

_TINY_BASIC = dict(block=BasicBlock, channels=(8, 16, 32, 64), stem_width=16)
_TINY_BOTTLENECK = dict(block=Bottleneck, channels=(4, 8, 16, 32), stem_width=16)
# Tiny TSMs (BasicBlock and Bottleneck, both placements, deep stem, shift_every=2) and one registry architecture.
CASES: dict[str, dict[str, Any]] = {
    "basic-residual": dict(_TINY_BASIC, layers=(2, 1, 1, 1), shift_place="residual"),
    "basic-inplace": dict(_TINY_BASIC, layers=(2, 1, 1, 1), shift_place="inplace"),
    "bottleneck-residual": dict(_TINY_BOTTLENECK, layers=(2, 1, 1, 1), shift_place="residual"),
    "bottleneck-inplace": dict(_TINY_BOTTLENECK, layers=(2, 1, 1, 1), shift_place="inplace"),
    "bottleneck-deep-stem-every2": dict(
        _TINY_BOTTLENECK, layers=(1, 1, 3, 1), stem_type="deep", avg_down=True, shift_every=2
    ),
    "tsm_r18-inplace": dict(model_name="tsm_r18", shift_place="inplace"),
}


def _randomize(model: nn.Module, seed: int) -> None:
    """Non-trivial BN statistics and an O(1) classifier, so that every layer matters in the comparison."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
        model.fc.weight.copy_(torch.randn(model.fc.weight.shape, generator=g) / model.fc.in_features**0.5)
        model.fc.bias.copy_(torch.randn(model.fc.bias.shape, generator=g))


def build(case: str, num_segments: int, seed: int = 0, **overrides: Any) -> TSM:
    kwargs = {**CASES[case], "num_segments": num_segments, "num_classes": NUM_CLASSES, "shift_direction": "online"}
    kwargs.update(overrides)
    torch.manual_seed(seed)
    name = kwargs.pop("model_name", None)
    model = tsm_models.create_model(name, **kwargs) if name else TSM(**kwargs)
    _randomize(model, seed)
    return model.eval()


def offline_frame_logits(model: TSM, clip: torch.Tensor) -> torch.Tensor:
    """Per-frame logits ``(B, T, K)`` of the offline model (its head without the mean over time)."""
    with torch.no_grad():
        feats = model.forward_features(clip)
        return model.fc(model.global_pool(feats.flatten(0, 1))).unflatten(0, clip.shape[:2])


def with_num_segments(model: TSM, num_segments: int) -> TSM:
    """A copy of ``model`` whose shift groups hold ``num_segments`` frames (the shift has no parameters)."""
    other = copy.deepcopy(model)
    other.tsm_config = other.tsm_config.replace(num_segments=num_segments)
    for _, shift in tsm_models.models.shifted_modules(other):
        shift.num_segments = num_segments
    return other


def assert_close_rel(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-5) -> None:
    scale = expected.abs().max().item()
    assert scale > 1e-2, "reference logits are degenerate"
    diff = (actual - expected).abs().max().item()
    assert diff <= rel * scale, f"max |diff| {diff:.3e} > {rel} * {scale:.3e}"


@pytest.mark.parametrize("case", list(CASES))
def test_streaming_equals_offline_per_frame(case: str) -> None:
    num_segments, steps = 4, 6  # stream past the training clip length: one endless shift group
    model = build(case, num_segments)
    clip = torch.randn(2, steps, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    stream = model.stream()
    outs = [stream.step(clip[:, t]) for t in range(steps)]

    expected = offline_frame_logits(with_num_segments(model, steps), clip)  # (B, T, K)
    per_frame = torch.stack([o.logits for o in outs], 1)
    assert per_frame.shape == (2, steps, NUM_CLASSES)
    assert_close_rel(per_frame, expected)
    # frame t depends on earlier frames: the shift is active, the comparison is not trivially per-image
    no_shift = offline_frame_logits(with_num_segments(model, 1), clip.flatten(0, 1)[:, None])
    assert (no_shift.view_as(expected)[:, 1:] - expected[:, 1:]).abs().max() > 1e-3 * expected.abs().max()
    # the running prediction is the mean of the last num_segments per-frame logits
    for t, out in enumerate(outs):
        assert_close_rel(out.clip_logits, per_frame[:, max(0, t - num_segments + 1) : t + 1].mean(1))
    # the first num_segments frames are exactly the model's own clip: same prediction as its forward
    with torch.no_grad():
        clip_pred = model(clip[:, :num_segments])
    assert_close_rel(outs[num_segments - 1].clip_logits, clip_pred)


def test_step_runs_one_frame_through_the_backbone() -> None:
    model = build("basic-residual", 8)
    stream = model.stream()
    seen: list[tuple[int, ...]] = []
    handle = stream.net.layer4[0].conv2.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    try:
        stream.step(torch.randn(2, 3, SIZE, SIZE))
    finally:
        handle.remove()
    assert len(seen) == 1 and seen[0][0] == 2  # batch 2, one frame each, not a window of 8


def test_reset_starts_a_new_stream() -> None:
    model = build("bottleneck-inplace", 4)
    g = torch.Generator().manual_seed(2)
    clip_a, clip_b = torch.randn(1, 3, 3, SIZE, SIZE, generator=g), torch.randn(1, 4, 3, SIZE, SIZE, generator=g)
    stream = model.stream()
    for t in range(3):
        stream.step(clip_a[:, t])
    stream.reset()
    assert stream.num_frames == 0
    assert all(m.cache is None for m in stream.streaming_shifts)
    outs = [stream.step(clip_b[:, t]) for t in range(4)]
    assert stream.num_frames == 4
    fresh = model.stream()
    fresh_outs = [fresh.step(clip_b[:, t]) for t in range(4)]
    for a, b in zip(outs, fresh_outs, strict=True):
        assert torch.equal(a.logits, b.logits) and torch.equal(a.clip_logits, b.clip_logits)
    assert_close_rel(outs[0].clip_logits, outs[0].logits)  # history cleared: only the new frame counts
    # without the reset, clip A's frames would leak into the shifts and the mean
    leaky = model.stream()
    for t in range(3):
        leaky.step(clip_a[:, t])
    assert not torch.allclose(leaky.step(clip_b[:, 0]).logits, outs[0].logits)


def test_window_option_and_step_result() -> None:
    model = build("basic-residual", 8)
    stream = tsm_models.StreamingTSM(model, window=2)
    frames = torch.randn(3, 1, 3, SIZE, SIZE)
    outs = [stream(f) for f in frames]  # forward == step
    assert isinstance(outs[0], tsm_models.models.streaming.StreamStep)
    _, clip_logits = outs[2]
    assert_close_rel(clip_logits, (outs[1].logits + outs[2].logits) / 2)
    assert stream.window == 2 and model.stream().window == 8


def test_shares_weights_and_leaves_model_untouched() -> None:
    model = build("basic-residual", 4)
    model.train()
    stream = model.stream()
    assert model.training and not stream.training and not any(m.training for m in stream.modules())
    assert len(tsm_models.models.shifted_modules(model)) == model.num_shifted  # model keeps its TemporalShifts
    assert len(stream.streaming_shifts) == model.num_shifted
    assert not tsm_models.models.shifted_modules(stream.net)
    params = {id(p) for p in model.parameters()}
    assert {id(p) for p in stream.parameters()} == params
    frame = torch.randn(1, 3, SIZE, SIZE)
    before = stream.step(frame).logits
    with torch.no_grad():
        model.fc.bias.add_(1.0)  # an update of the model is seen by the stream
    stream.reset()
    assert_close_rel(stream.step(frame).logits, before + 1.0)


def test_refuses_bidirectional_and_non_tsm() -> None:
    model = build("basic-residual", 4, shift_direction="bidirectional")
    with pytest.raises(ValueError, match=r"future|next frame"):
        model.stream()
    with pytest.raises(ValueError, match="shift_direction='online'"):
        StreamingTSM(model)
    with pytest.raises(TypeError, match="expects a TSM model"):
        StreamingTSM(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="online TemporalShift"):
        StreamingShift.from_temporal_shift(TemporalShift(nn.Identity(), 8, 4, 8, "bidirectional"))


def test_bad_inputs_raise_clear_errors() -> None:
    stream = build("basic-residual", 4).stream()
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        stream.step(torch.randn(1, 4, 3, SIZE, SIZE))  # a clip, not a frame
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        stream.step(torch.randn(1, 1, SIZE, SIZE))
    with pytest.raises(ValueError, match="float frame"):
        stream.step(torch.zeros(1, 3, SIZE, SIZE, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"torch\.Tensor"):
        stream.step([[0.0]])
    stream.step(torch.randn(1, 3, SIZE, SIZE))
    with pytest.raises(ValueError, match="reset"):
        stream.step(torch.randn(2, 3, SIZE, SIZE))
    with pytest.raises(ValueError, match="inference-only"):
        stream.train()
    with pytest.raises(ValueError, match="window"):
        StreamingTSM(build("basic-residual", 4), window=0)
    stream.reset()
    assert stream.step(torch.randn(2, 3, SIZE, SIZE)).logits.shape == (2, NUM_CLASSES)


# --- examples/streaming.py (pure parts: no video decoding needed) ---


def _load_example():
    path = Path(__file__).resolve().parents[1] / "examples" / "streaming.py"
    spec = importlib.util.spec_from_file_location("streaming_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _ScriptedStream:
    """Stands in for a StreamingTSM: per-frame logits given in advance, the running mean over ``window``."""

    def __init__(self, logits: list[list[float]], window: int) -> None:
        self.logits = [torch.tensor([row], dtype=torch.float32) for row in logits]
        self.window = window
        self.seen: list[torch.Tensor] = []

    def step(self, frame: torch.Tensor) -> tsm_models.models.streaming.StreamStep:
        self.seen.append(frame)
        t = len(self.seen) - 1
        recent = self.logits[max(0, t - self.window + 1) : t + 1]
        return tsm_models.models.streaming.StreamStep(self.logits[t], torch.stack(recent).mean(0))


def test_example_prints_label_changes() -> None:
    example = _load_example()
    # per-frame winners: dark x3, bright x4; with a 2-frame mean the clip label flips at frame 4, not 3
    scripted = _ScriptedStream([[2, 0]] * 3 + [[0, 1.5]] * 4, window=2)
    frames = [torch.full((1, 3, 4, 4), float(i)) for i in range(7)]
    out = io.StringIO()
    changes = example.classify_stream(scripted, iter(frames), ["dark", "bright"], fps=10.0, out=out)
    assert len(scripted.seen) == 7 and all(a is b for a, b in zip(scripted.seen, frames, strict=True))
    assert [(c.frame_index, c.label) for c in changes] == [(0, "dark"), (4, "bright")]
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "dark" in lines[0] and "0.00s" in lines[0]
    assert "bright" in lines[1] and "0.40s" in lines[1]
    assert changes[1].probability == pytest.approx(torch.softmax(torch.tensor([0.0, 1.5]), 0)[1].item())


def test_example_classifies_with_a_real_stream() -> None:
    example = _load_example()
    model = build("basic-residual", 4)
    frames = [torch.randn(1, 3, SIZE, SIZE) for _ in range(5)]
    out = io.StringIO()
    changes = example.classify_stream(model.stream(), iter(frames), [f"c{i}" for i in range(NUM_CLASSES)], 25.0, out)
    stream = model.stream()
    final = [stream.step(f) for f in frames][-1].clip_logits.argmax(1).item()
    assert changes and changes[0].frame_index == 0 and changes[-1].label == f"c{final}"
    assert len(out.getvalue().splitlines()) == len(changes)


def test_example_synthetic_frames_and_labels(tmp_path: Path) -> None:
    example = _load_example()
    frames = list(example.synthetic_frames(num_frames=5, height=40, width=48))
    assert len(frames) == 5 and all(f.shape == (40, 48, 3) and f.dtype.name == "uint8" for f in frames)
    assert any((a != b).any() for a, b in itertools.pairwise(frames))  # something moves
    assert example.resolve_labels("kinetics400") == tsm_models.load_labels("kinetics400")
    label_file = tmp_path / "classes.txt"
    label_file.write_text("wave\n\nclap\n", encoding="utf-8")
    assert example.resolve_labels(str(label_file)) == ["wave", "clap"]
    with pytest.raises(FileNotFoundError):
        example.resolve_labels(str(tmp_path / "missing.txt"))


def test_example_demo_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    example = _load_example()
    argv = ["--demo", "--model", "tsm_r18", "--size", "32", "--frames", "5", "--num-segments", "2"]
    assert example.main([*argv, "--labels", "sthv2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    sthv2 = tsm_models.load_labels("sthv2")
    assert lines and lines[0].startswith("frame      0") and "0.00s" in lines[0]
    assert all(any(f"  {name}  (" in line for name in sthv2) for line in lines)


def test_example_refuses_zoo_weights_and_missing_input() -> None:
    example = _load_example()
    with pytest.raises(SystemExit):
        example.parse_args([])  # neither a video nor --demo
    with pytest.raises(ValueError, match="shift_direction"):
        example.main(["--demo", "--model", "tsm_r50_1x1x8_kinetics400", "--frames", "1"])


def test_a_tsm_without_shifts_streams_frame_by_frame() -> None:
    model = build("basic-residual", 4, shift_direction="bidirectional")
    tsm_models.models.remove_temporal_shift(model)  # a TSN: no temporal mixing, each frame on its own
    frames = torch.randn(3, 1, 3, SIZE, SIZE)
    stream = model.stream()
    assert not stream.streaming_shifts
    for frame in frames:
        assert_close_rel(
            stream.step(frame).logits, offline_frame_logits(model, frame[:, None].expand(-1, 4, -1, -1, -1))[:, 0]
        )


def test_example_loads_a_saved_online_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = _load_example()
    model = build("tsm_r18-inplace", 2, num_classes=3, shift_place="residual")  # the example's placement
    model.save_pretrained(tmp_path / "online")
    labels = tmp_path / "labels.txt"
    labels.write_text("left\nright\nup\n", encoding="utf-8")
    argv = ["--demo", "--frames", "3", "--size", "32", "--num-segments", "2", "--labels", str(labels)]
    argv += ["--model", "tsm_r18", "--pretrained", str(tmp_path / "online")]
    assert example.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    # the same frames through the saved model's own stream give the printed labels
    preprocess = example.make_preprocess(32)
    stream = model.stream()
    probs = [stream.step(preprocess(f)).clip_logits.softmax(1)[0] for f in example.synthetic_frames(3)]
    winners = [int(p.argmax()) for p in probs]
    expected = [i for i, w in enumerate(winners) if i == 0 or w != winners[i - 1]]
    assert [int(line.split()[1]) for line in lines] == expected
    assert [line.split()[3] for line in lines] == [["left", "right", "up"][winners[i]] for i in expected]
    assert [line.split()[4] for line in lines] == [f"({probs[i][winners[i]]:.2f})" for i in expected]
