"""The fast CPU paths are correct: every backend's logits agree with eager PyTorch, the ONNX graphs are verified
with onnxruntime, int8 keeps the top-5, and the exported streaming step streams like StreamingTSM.

Speed is measured by benchmarks/vs_mmaction2.py and benchmarks/streaming_step.py, never here."""

from __future__ import annotations

import pytest
import torch

import tsm_models
from tsm_models.models.backends import BACKENDS, OnnxRuntimeModel, prepare_backend
from tsm_models.models.streaming_step import (
    OnnxStream,
    StreamingStep,
    export_streaming_step,
    quantize_streaming_step,
)

pytest.importorskip("onnxruntime")

from _helpers import randomize_

T, S, K = 4, 32, 10


def _model(**kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    model = tsm_models.create_model("tsm_r18", num_classes=K, num_segments=T, **kwargs)
    return randomize_(model, seed=1).eval()


def _videos(n: int, seed: int, batch: int = 2) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, T, 3, S, S, generator=g) for _ in range(n)]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("backend", ["eager", "channels_last", "compile", "onnxruntime"])
def test_backend_logits_match_eager(backend):
    model = _model()
    (x,) = _videos(1, seed=2)
    with torch.inference_mode():
        ref = model(x)
    run = prepare_backend(_model(), backend, input_shape=(T, 3, S, S))
    with torch.no_grad():
        out = run(x)
    assert out.shape == (2, K) and out.dtype == torch.float32
    assert _rel(out, ref) < 1e-4


def test_onnxruntime_model_dynamic_batch_and_checks(tmp_path):
    model = _model()
    run = OnnxRuntimeModel.from_model(model, (T, 3, S, S), path=tmp_path / "m.onnx")
    assert run.max_rel_diff is not None and run.max_rel_diff < 1e-4
    assert (tmp_path / "m.onnx").is_file() and not run.int8
    x = _videos(1, seed=3, batch=3)[0]
    with torch.inference_mode():
        assert _rel(run(x), model(x)) < 1e-4
    again = OnnxRuntimeModel.from_file(tmp_path / "m.onnx")
    assert again.input_shape == (T, 3, S, S) and again.num_classes == K
    with pytest.raises(ValueError, match="takes videos"):
        run(torch.randn(1, T, 3, S + 2, S + 2))
    with pytest.raises(TypeError):
        run(x.numpy())


def _same_top5_up_to_ties(ref: torch.Tensor, out: torch.Tensor, tol: float) -> bool:
    """The top-5 sets agree, except for classes whose fp32 logit is within ``tol`` of the 5th best (near-ties
    that an approximate model may order either way)."""
    fifth = ref.topk(5).values[-1]
    sure_in = set((ref > fifth + tol).nonzero().flatten().tolist())  # clearly in the fp32 top-5
    sure_out = set((ref < fifth - tol).nonzero().flatten().tolist())  # clearly out of it
    got = set(out.topk(5).indices.tolist())
    return sure_in <= got and not (got & sure_out)


def test_int8_keeps_top5_on_held_out_videos():
    model = _model()
    calib = _videos(4, seed=10)
    run = OnnxRuntimeModel.from_model(model, (T, 3, S, S), int8=True, calibration=calib)
    assert run.int8
    decided = 0
    with torch.inference_mode():
        for x in _videos(3, seed=20):
            ref, out = model(x), run(x)
            assert _rel(out, ref) < 0.1  # approximate logits...
            tol = 0.03 * float(ref.abs().max())
            for r, o in zip(ref, out, strict=True):  # ...but the same best classes
                assert r.argmax() == o.argmax()
                assert _same_top5_up_to_ties(r, o, tol)
                decided += set(r.topk(5).indices.tolist()) == set(o.topk(5).indices.tolist())
    assert decided >= 4  # most of the 6 videos have no near-tie at the 5th place: their top-5 sets are equal


def test_bad_backend_arguments():
    model = _model()
    with pytest.raises(ValueError, match="backend must be one of"):
        prepare_backend(model, "tensorrt")
    with pytest.raises(ValueError, match="int8 runs through"):
        prepare_backend(model, "compile", int8=True)
    with pytest.raises(ValueError, match="needs input_shape"):
        prepare_backend(model, "onnxruntime")
    with pytest.raises(ValueError, match="calibration"):
        OnnxRuntimeModel.from_model(model, (T, 3, S, S), int8=True)
    assert set(BACKENDS) == {"eager", "channels_last", "compile", "onnxruntime"}


def test_streaming_step_is_streaming_tsm_with_explicit_caches():
    model = _model(shift_direction="online")
    stream = tsm_models.StreamingTSM(model)
    step = StreamingStep(model)
    frames = torch.randn(6, 1, 3, S, S, generator=torch.Generator().manual_seed(4))
    caches = step.init_caches(frames[0])
    assert len(caches) == step.num_caches == len(stream.streaming_shifts) > 0
    assert all(float(c.abs().sum()) == 0 for c in caches)
    with torch.inference_mode():
        for f in frames:
            logits, *caches = step(f, *caches)
            torch.testing.assert_close(logits, stream.step(f).logits, rtol=0, atol=0)
    with pytest.raises(ValueError, match="expected 8 caches"):
        step(frames[0])


def test_streaming_step_rejects_bidirectional_model():
    with pytest.raises(ValueError, match="online"):
        StreamingStep(_model())


def test_exported_streaming_step_streams_and_int8_agrees(tmp_path):
    model = _model(shift_direction="online")
    path = tmp_path / "step.onnx"
    rec = export_streaming_step(model, path, (1, 3, S, S), verify_frames=6)
    assert path.is_file() and rec.max_rel_diff < 1e-4 and len(rec.cache_shapes) == 8
    # the onnxruntime stream from a reset equals StreamingTSM from a reset, frame by frame, clip logits too
    stream, onnx_stream = tsm_models.StreamingTSM(model), OnnxStream(path, window=T)
    frames = torch.randn(10, 1, 3, S, S, generator=torch.Generator().manual_seed(5))
    for f in frames[:5]:
        a, b = stream.step(f), onnx_stream.step(f)
        assert _rel(b.logits, a.logits) < 1e-4 and _rel(b.clip_logits, a.clip_logits) < 1e-4
    onnx_stream.reset()
    stream.reset()
    assert _rel(onnx_stream.step(frames[0]).logits, stream.step(frames[0]).logits) < 1e-4
    # int8 of the step, calibrated on one stream, agrees on another
    q = quantize_streaming_step(path, tmp_path / "step_int8.onnx", list(frames[5:]))
    fp32, int8 = OnnxStream(path), OnnxStream(q)
    for f in torch.randn(6, 1, 3, S, S, generator=torch.Generator().manual_seed(6)):
        a, b = fp32.step(f).logits, int8.step(f).logits
        assert _rel(b, a) < 0.15 and a.argmax() == b.argmax()
    with pytest.raises(ValueError, match="takes frames"):
        fp32.step(torch.randn(1, 3, S + 1, S + 1))
    with pytest.raises(ValueError, match="not a streaming step"):
        OnnxStream(OnnxRuntimeModel.from_model(_model(), (T, 3, S, S), path=tmp_path / "clip.onnx").path)


def _clip_files(tmp_path, n: int) -> list:
    from _video_utils import write_video

    return [write_video(tmp_path / f"v{i}.mp4", 20 + 3 * i, size=(48, 40)) for i in range(n)]


def _classifier(**kwargs) -> tsm_models.VideoClassifier:
    from tsm_models.models.zoo import ClipProtocol

    protocol = ClipProtocol(num_frames=T, resize_short=36, crop_size=S, input_format="video", start_index=0)
    return tsm_models.VideoClassifier(_model(), protocol=protocol, **kwargs)


def test_classifier_backends_agree_on_videos(tmp_path):
    files = _clip_files(tmp_path, 2)
    eager = _classifier()
    ref = [eager.scores(eager.preprocess(f)) for f in files]
    for kwargs in ({"backend": "onnxruntime"}, {"backend": "channels_last"}):
        clf = _classifier(**kwargs)
        for f, r in zip(files, ref, strict=True):
            assert _rel(clf.scores(clf.preprocess(f)), r) < 1e-4
    int8 = _classifier(backend="onnxruntime", int8=True, calibration=files)
    assert int8.runner.int8 and int8(files[0], topk=1)[0][0] == eager(files[0], topk=1)[0][0]
    with pytest.raises(ValueError, match="calibration"):
        _classifier(backend="onnxruntime", int8=True)
    with pytest.raises(ValueError, match="backend must be one of"):
        _classifier(backend="fast")
    # an exported graph has a fixed view shape: a new crop size re-exports it
    bigger = _classifier(backend="onnxruntime").with_protocol(crop_size=S + 8, resize_short=S + 8)
    assert bigger.runner.input_shape == (T, 3, S + 8, S + 8)


@pytest.mark.parametrize("num_workers, batch_videos", [(0, 1), (0, 3), (1, 2)])
def test_predict_many_batches_and_workers_keep_order_and_errors(tmp_path, num_workers, batch_videos):
    files = _clip_files(tmp_path, 4)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    videos = [files[0], files[1], bad, files[2], files[3]]
    clf = _classifier()
    ref = [clf(f, topk=3) for f in files]
    out = list(clf.predict_many(videos, topk=3, num_workers=num_workers, batch_videos=batch_videos))
    assert [p.source for p in out] == [str(v) for v in videos]
    assert not out[2].ok and out[2].topk == []
    got = [p.topk for p in out if p.ok]
    for g, r in zip(got, ref, strict=True):
        assert [c for c, _ in g] == [c for c, _ in r]
        assert max(abs(a - b) for (_, a), (_, b) in zip(g, r, strict=True)) < 1e-5
    with pytest.raises(ValueError, match="batch_videos"):
        list(clf.predict_many(files, batch_videos=0))


@pytest.mark.parametrize("arch", ["tsm_r18", "tsm_mobilenetv2"])
def test_cli_export_streaming_step(tmp_path, capsys, arch):
    from tsm_models.cli import main

    out = tmp_path / "step.onnx"
    assert main(["export", arch, "--streaming", "--onnx", str(out), "--img-size", "32", "--iters", "2"]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and "shift caches" in text and "frames/s" in text
    stream = OnnxStream(out)
    assert stream.frame_shape == (1, 3, 32, 32) and stream.step(torch.randn(1, 3, 32, 32)).logits.ndim == 2
    # a bi-directional checkpoint can't stream: refused, nothing written
    assert main(["export", "tsm_r50_1x1x8_kinetics400", "--streaming", "--onnx", str(tmp_path / "b.onnx")]) == 2
    assert not (tmp_path / "b.onnx").exists()
