"""Issue 16, items 2, 8, 10: the model and inference API under bad values (never a silent NaN or misranking)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tsm_models
from tsm_models import VideoClassifier
from tsm_models.models.zoo import ClipProtocol

PROTOCOL = ClipProtocol(num_frames=4, resize_short=40, crop_size=32)
FRAMES = np.random.default_rng(0).integers(0, 256, (8, 48, 64, 3), dtype=np.uint8)


# --- item 8: dtypes and arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float16, torch.float64, torch.int64])
def test_forward_refuses_another_dtype_clearly(tiny_tsm, video, dtype: torch.dtype) -> None:
    model = tiny_tsm()
    x = video().mul(50).add(128).clamp(0, 255).to(dtype)
    with pytest.raises(ValueError, match="dtype"):
        model(x)


def test_forward_accepts_the_models_own_dtype(tiny_tsm, video) -> None:
    model = tiny_tsm().double()
    assert model(video().double()).dtype == torch.float64


def test_unknown_create_model_argument_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="frobnicate") as info:
        tsm_models.create_model("tsm_r18", frobnicate=1)
    assert "tsm_r18" in str(info.value) and "num_segments" in str(info.value)  # names the model and what it takes
    with pytest.raises(TypeError, match="Did you mean num_segments"):
        tsm_models.create_model("tsm_r18", num_segment=4)


@pytest.mark.parametrize("name", ["drop_path_rate", "drop_block_rate"])
def test_drop_rates_out_of_range_refused(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        tsm_models.create_model("tsm_r18", num_segments=4, **{name: 5.0})


@pytest.mark.parametrize("in_chans", [0, -3, 2.5])
def test_in_chans_must_be_positive(in_chans) -> None:
    with pytest.raises(ValueError, match="in_chans"):
        tsm_models.create_model("tsm_r18", in_chans=in_chans)


# --- item 10: values ----------------------------------------------------------------------------------------


def test_nan_input_is_refused_in_eval(tiny_tsm, video) -> None:
    model = tiny_tsm()
    x = video()
    x[0, 0, 0, 0, 0] = float("nan")
    with torch.no_grad(), pytest.raises(ValueError, match="input"):
        model(x)
    assert model(video()).isfinite().all()  # finite input still works


def test_nan_weights_are_named_in_eval(tiny_tsm, video) -> None:
    model = tiny_tsm()
    with torch.no_grad():
        model.fc.weight[0, 0] = float("nan")
    with torch.no_grad(), pytest.raises(ValueError, match="weights"):
        model(video())


def test_training_forward_is_not_checked(tiny_tsm, video) -> None:
    # training has its own guard (the loss is checked); the forward stays free of syncs
    model = tiny_tsm().train()
    with torch.no_grad():
        model.fc.weight[0, 0] = float("nan")
    assert not model(video()).isfinite().all()


def test_float_frames_in_0_1_are_refused(tiny_tsm) -> None:
    with pytest.raises(ValueError, match="0-255"):
        tsm_models.predict(tiny_tsm(), FRAMES / 255.0, protocol=PROTOCOL)


def test_float_frames_in_0_255_and_int_frames_still_work(tiny_tsm) -> None:
    clf = VideoClassifier(tiny_tsm(), protocol=PROTOCOL)
    ref = clf.preprocess(FRAMES)
    for frames in (FRAMES.astype(np.float32), FRAMES.astype(np.int64), np.zeros_like(FRAMES, dtype=np.float32)):
        x = clf.preprocess(frames)
        assert x.shape == ref.shape
    assert torch.allclose(clf.preprocess(FRAMES.astype(np.float32)), ref, atol=0.02)


@pytest.mark.parametrize("bad", ["nan", "inf", "bool", "int_range"])
def test_frames_with_bad_values_are_refused(tiny_tsm, bad: str) -> None:
    frames = FRAMES.astype(np.float32)
    if bad == "nan":
        frames[:, 24, 32, 0] = np.nan
    elif bad == "inf":
        frames[0, 0, 0, 0] = np.inf
    elif bad == "bool":
        frames = FRAMES > 127
    else:
        frames = FRAMES.astype(np.int64) * 4
    with pytest.raises(ValueError, match="frames"):
        tsm_models.predict(tiny_tsm(), frames, protocol=PROTOCOL)


def test_fewer_labels_than_outputs_is_refused(tiny_tsm) -> None:
    model = tiny_tsm()  # 5 outputs
    with pytest.raises(ValueError, match=r"2 labels.*5 outputs"):
        VideoClassifier(model, labels=["a", "b"], protocol=PROTOCOL)
    # ranking a subset stays possible when asked for explicitly
    clf = VideoClassifier(model, labels=["a", "b"], protocol=PROTOCOL, num_labels=2)
    assert {label for label, _ in clf(FRAMES, topk=5)} == {"a", "b"}


# --- item 2: one bad video never aborts a batch -------------------------------------------------------------


class Exploding:
    """A source whose decoding raises an error no reader anticipates (an allocation failure)."""


def test_predict_many_goes_on_past_any_exception(tiny_tsm, monkeypatch: pytest.MonkeyPatch) -> None:
    clf = VideoClassifier(tiny_tsm(), protocol=PROTOCOL)
    real = clf.preprocess

    def preprocess(video):
        if isinstance(video, Exploding):
            raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 6291456000 bytes")
        return real(video)

    monkeypatch.setattr(clf, "preprocess", preprocess)
    for prefetch in (True, False):
        results = list(clf.predict_many([FRAMES, Exploding(), FRAMES], topk=2, prefetch=prefetch))
        assert [r.ok for r in results] == [True, False, True]
        assert "allocate" in str(results[1].error)
        assert results[0].topk == results[2].topk
