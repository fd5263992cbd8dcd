"""The benchmark library and CLI on tiny models (behaviour only; no speed is asserted)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import timm
import torch

from tsm_models.cli import main
from tsm_models.tools.benchmark import benchmark, benchmark_train_step, resolve_setup
from tsm_models.tools.timing import measure_peak_memory, time_interleaved


def test_time_interleaved_alternates_and_excludes_warmup() -> None:
    calls: list[str] = []
    warm: dict[str, float] = {}
    times = time_interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        iters=3,
        warmup=2,
        on_warmup=lambda label, s: warm.__setitem__(label, s),
    )
    warmup_calls, timed_calls = ["a", "a", "b", "b"], ["a", "b", "b", "a", "a", "b"]
    assert calls == [*warmup_calls, *timed_calls]
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    assert set(warm) == {"a", "b"}
    with pytest.raises(ValueError, match="iters >= 1"):
        time_interleaved({"a": lambda: None}, iters=0)


def test_resolve_setup_follows_the_zoo_protocol() -> None:
    dense = resolve_setup("tsm_r50_dense_1x1x8_kinetics400")
    assert (dense.num_frames, dense.num_clips, dense.num_crops, dense.frames_per_video) == (8, 10, 1, 80)
    assert dense.input_shape == (1, 80, 3, 224, 224) and dense.base_model == "resnet50"
    arch = resolve_setup("tsm_r18", batch=4, img_size=64)
    assert arch.input_shape == (4, 8, 3, 64, 64) and arch.base_model == "resnet18"
    with pytest.raises(ValueError, match="unknown model name"):
        resolve_setup("tsm_r5O")
    with pytest.raises(ValueError, match="dtype must be one of"):
        resolve_setup("tsm_r18", dtype="int8")
    with pytest.raises(ValueError, match="compile_mode must be one of"):
        resolve_setup("tsm_r18", compile=True, compile_mode="fast")
    with pytest.raises(ValueError, match="batch must be a positive int"):
        resolve_setup("tsm_r18", batch=0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"torch\.cuda\.is_available"):
            resolve_setup("tsm_r18", device="cuda")


def test_measure_peak_memory_sees_a_large_temporary() -> None:
    def allocate() -> None:
        t = torch.ones(16 * 2**20)  # 64 MiB, touched
        assert t[-1] == 1

    peak = measure_peak_memory(allocate)
    if peak is None:
        pytest.skip("peak RSS is not readable on this OS")
    assert peak >= 48 * 2**20


def test_benchmark_tiny_models_with_yardstick(tiny_tsm) -> None:
    model = tiny_tsm("basic", num_segments=8)
    plain = timm.create_model("resnet18", num_classes=5, channels=(8, 16, 32, 64))
    setup = resolve_setup("tsm_r18", img_size=32, num_classes=5, channels_last=True, dtype="bf16")
    result = benchmark(setup, iters=2, warmup=1, models=(model, plain))
    assert set(result.times) == {"tsm", "yardstick"} and all(len(v) == 2 for v in result.times.values())
    assert result.videos_per_second("tsm") == pytest.approx(1 / result.median("tsm"))
    assert result.ratio() == pytest.approx(result.median("yardstick") / result.median("tsm"))
    assert set(result.peak_memory) == {"tsm", "yardstick"}
    assert result.machine["torch"] == torch.__version__ and result.machine["cpu_count"] >= 1
    assert result.to_dict()["summary"]["tsm"]["videos_per_s"] > 0


def test_train_step_updates_weights(tiny_tsm) -> None:
    model = tiny_tsm("basic", num_segments=8, dropout=0.0)
    before = model.fc.weight.detach().clone()
    setup = resolve_setup("tsm_r18", img_size=32, num_classes=5, batch=2)
    result = benchmark_train_step(setup, iters=1, warmup=1, model=model)
    assert len(result.times) == 1 and result.median > 0
    assert not torch.equal(model.fc.weight, before)
    assert result.peak_memory is None or result.peak_memory >= 0


def test_train_step_with_grad_checkpointing_takes_the_same_steps(tiny_tsm) -> None:
    model = tiny_tsm("basic", num_segments=8, dropout=0.0)
    twin = copy.deepcopy(model)
    for m, ckpt in ((model, False), (twin, True)):
        setup = resolve_setup("tsm_r18", img_size=32, num_classes=5, batch=2, grad_checkpointing=ckpt)
        benchmark_train_step(setup, iters=1, warmup=1, model=m)
    assert twin.grad_checkpointing and not model.grad_checkpointing
    for (name, a), b in zip(model.named_parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)


def test_cli_benchmark(capsys) -> None:
    threads = torch.get_num_threads()
    try:
        rc = main(["benchmark", "tsm_r18", "--img-size", "32", "--iters", "1", "--warmup", "0", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    text = capsys.readouterr().out
    assert rc == 0
    assert "batch 1 x 8 frames (8 x 1 clips x 1 crops) at 32px, fp32" in text
    assert "yardstick" in text and "ratio      tsm runs at" in text and "video/s" in text


def test_cli_benchmark_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.mp4"
    assert main(["benchmark", "tsm_r50_1x1x8_kinetics400", "--with-io", str(missing)]) == 2
    assert main(["benchmark", "tsm_r18", "--threads", "0"]) == 2
    assert main(["benchmark", "tsm_r18", "--grad-checkpointing"]) == 2  # only for --train-step
    with pytest.raises(FileNotFoundError, match="not found"):
        benchmark(resolve_setup("tsm_r18", img_size=32), with_io=missing)


def _write_video(path: Path, num_frames: int = 24, size: tuple[int, int] = (80, 64)) -> Path:
    av = pytest.importorskip("av")
    import numpy as np

    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(num_frames):
            frame = np.full((height, width, 3), i * 10 % 256, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_with_io_times_the_whole_pipeline(tiny_tsm, tmp_path: Path) -> None:
    video_path = _write_video(tmp_path / "clip.mp4")
    model = tiny_tsm("basic", num_segments=8, num_classes=400)
    setup = resolve_setup("tsm_r50_1x1x8_kinetics400", img_size=32)
    seen: list[tuple[int, ...]] = []
    model.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
    result = benchmark(setup, iters=1, warmup=0, yardstick=False, with_io=video_path, models=(model, None))
    assert set(result.times) == {"tsm", "tsm+io"}
    assert (1, 8, 3, 32, 32) in seen  # the decoded, preprocessed clip reached the model
