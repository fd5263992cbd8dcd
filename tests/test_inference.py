"""predict / VideoClassifier: the record's protocol (sampling, views, averaging), labels, batch use."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from _video_utils import paint_index, read_indices, write_video
from torch import nn

import tsm_models
from tsm_models.data.sampling import sample_indices
from tsm_models.inference import Prediction, VideoClassifier, average_clips, predict
from tsm_models.labels import load_labels
from tsm_models.models.zoo import ZOO, find_entry
from tsm_models.models.zoo import ClipProtocol as Protocol

SMALL = dict(resize_short=32, crop_size=32)  # keep the zoo protocols' logic, shrink the frames


class Probe(nn.Module):
    """Stand-in for a zoo model: logits are a fixed linear function of each view's mean pixel values."""

    def __init__(self, entry, num_classes=None):
        super().__init__()
        self.zoo_entry = entry
        self.num_classes = num_classes or entry.num_classes
        self.num_segments = tsm_models.TSMConfig(**entry.model_args).num_segments
        self.weight = nn.Parameter(torch.linspace(-1, 1, 3 * self.num_classes).view(self.num_classes, 3))
        self.bias = nn.Parameter(torch.zeros(self.num_classes))
        self.calls = []

    def forward(self, x):  # (B, T, 3, H, W) -> (B, K)
        self.calls.append(tuple(x.shape))
        return x.mean((1, 3, 4)) @ self.weight.T + self.bias


def frames_video(n, h=40, w=56):
    return np.stack([paint_index(i, h, w) for i in range(n)])


def test_average_clips_modes():
    scores = torch.randn(2, 5, 7)
    assert torch.allclose(average_clips(scores, "score"), scores.mean(1))
    assert torch.allclose(average_clips(scores, "prob"), scores.softmax(-1).mean(1))
    assert average_clips(scores, None) is scores
    with pytest.raises(ValueError, match="average_clips"):
        average_clips(scores, "max")
    with pytest.raises(ValueError, match=r"\(B, V, K\)"):
        average_clips(scores[0], "score")


def test_zoo_protocol_sampling_and_views(tmp_path):
    video = write_video(tmp_path / "v.mp4", 100)
    for name in ["tsm_r50_1x1x8_kinetics400", "tsm_r50_dense_1x1x8_kinetics400", "tsm_r50_1x1x16_sthv2"]:
        entry = find_entry(name)
        clf = VideoClassifier(Probe(entry), protocol=replace(entry.protocol, **SMALL))
        frames = clf.load(video)
        assert read_indices(frames) == sample_indices(entry.protocol, 100).tolist()
        views = clf.preprocess(video)
        p = entry.protocol
        assert views.shape == (p.num_clips * p.num_crops, p.num_frames, 3, 32, 32)
    # three crops x twice-sampled clips: crop-major views
    three = Protocol(num_clips=2, crop="three", num_crops=3, resize_short=32, crop_size=32)
    clf = VideoClassifier(Probe(ZOO["tsm_r50.mm0_8f_340x256_k400"]), protocol=three)
    assert clf.preprocess(frames_video(30)).shape == (6, 8, 3, 32, 32)
    # MMAction2's later "accurate" test setting on top of a record: three 256 crops of short side 256
    accurate = VideoClassifier(Probe(ZOO["tsm_r50.mm0_8f_200616_sthv1"])).with_protocol(
        crop="three", num_crops=3, crop_size=256, average_clips="prob"
    )
    assert accurate.preprocess(frames_video(30)).shape == (3, 8, 3, 256, 256)
    assert accurate.labels == load_labels("sthv1")


@pytest.mark.parametrize("mode", ["score", "prob"])
def test_views_are_averaged_like_mmaction2(mode):
    entry = ZOO["tsm_r50.mm0_8f_dense_340x256_k400"]
    model = Probe(entry)
    protocol = replace(entry.protocol, average_clips=mode, **SMALL)
    clf = VideoClassifier(model, protocol=protocol, batch_size=4)
    video = frames_video(200)
    views = clf.preprocess(video)
    with torch.no_grad():
        logits = model(views)  # (10, K)
    expected = logits.softmax(-1).mean(0) if mode == "prob" else logits.mean(0).softmax(-1)
    model.calls.clear()
    probs = clf.scores(views)
    assert [c[0] for c in model.calls] == [4, 4, 2]  # 10 views in batches of 4
    assert torch.allclose(probs, expected, atol=1e-6)
    top = clf(video, topk=3)
    labels = load_labels("kinetics400")
    order = expected.argsort(descending=True)[:3].tolist()
    assert [name for name, _ in top] == [labels[i] for i in order]
    assert np.allclose([p for _, p in top], expected[order].numpy(), atol=1e-6)


def test_only_named_classes_are_ranked():
    entry = ZOO["tsm_r50.mm0_16f_seg8_c339_sthv2"]  # 339 logits, 174 labels
    model = Probe(entry)
    with torch.no_grad():
        model.bias[200:] = 50.0  # unnamed outputs dominate
        model.bias[17] = 10.0
    clf = VideoClassifier(model, protocol=replace(entry.protocol, **SMALL))
    assert clf.num_labels == 174
    top = clf(frames_video(40), topk=174)
    names = load_labels("sthv2")
    assert top[0][0] == names[17] and len(top) == 174
    assert set(n for n, _ in top) == set(names)
    assert sum(p for _, p in top) < 0.01  # softmax over all 339 logits, as MMAction2 computes it


def test_real_tsm_architecture_model_with_labels(tmp_path):
    torch.manual_seed(0)
    model = tsm_models.create_model("tsm_r18", num_segments=4, num_classes=3, pretrained=False)
    protocol = Protocol(num_frames=4, resize_short=40, crop_size=32)
    video = write_video(tmp_path / "v.avi", 12, codec="mpeg4")
    top = predict(model, video, topk=2, labels=["a", "b", "c"], protocol=protocol)
    assert len(top) == 2 and {n for n, _ in top} <= {"a", "b", "c"}
    clf = VideoClassifier(model, labels=["a", "b", "c"], protocol=protocol)
    with torch.no_grad():
        expected = model(clf.preprocess(video)).mean(0).softmax(-1)
    assert top == clf.topk(expected, 2)
    # no labels: class indices as names; default protocol: one clip of num_segments frames
    default = VideoClassifier(model)
    assert default.labels == ["0", "1", "2"] and default.protocol.num_frames == 4


def test_reader_passed_in_stays_open(tmp_path):
    entry = ZOO["tsm_r50.mm0_8f_340x256_k400"]
    clf = VideoClassifier(Probe(entry), protocol=replace(entry.protocol, **SMALL))
    with tsm_models.open_video(write_video(tmp_path / "v.mkv", 24, codec="mpeg4")) as video:
        first = clf(video, topk=1)
        assert clf(video, topk=1) == first  # the caller's reader is reused, not closed
        assert read_indices(video.read([3])) == [3]


def test_zoo_model_with_new_classifier():
    entry = ZOO["tsm_r50.mm0_8f_200616_sthv1"]
    clf = VideoClassifier(Probe(entry, num_classes=6))  # e.g. create_model(zoo name, num_classes=6)
    assert clf.protocol == entry.protocol and clf.labels == [str(i) for i in range(6)]
    named = VideoClassifier(Probe(entry, num_classes=6), labels=list("abcdef"))
    assert named.num_labels == 6


def test_short_video_repeats_frames():
    entry = ZOO["tsm_r50.mm0_8f_340x256_k400"]
    clf = VideoClassifier(Probe(entry), protocol=replace(entry.protocol, **SMALL))
    assert read_indices(clf.load(frames_video(5))) == [0, 0, 1, 2, 2, 3, 4, 4]
    assert len(clf(frames_video(5), topk=5)) == 5


def test_predict_many_goes_on_past_bad_videos(tmp_path):
    entry = ZOO["tsm_r50.mm0_8f_200616_sthv1"]
    clf = VideoClassifier(Probe(entry), protocol=replace(entry.protocol, **SMALL))
    good = write_video(tmp_path / "good.mp4", 20)
    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    results = list(clf.predict_many([good, bad, tmp_path / "missing.mkv", frames_video(9)], topk=2))
    assert [r.ok for r in results] == [True, False, False, True]
    assert isinstance(results[1], Prediction) and "bad.mp4" in str(results[1].error)
    assert isinstance(results[2].error, FileNotFoundError)
    assert len(results[0].topk) == 2 and results[0].topk[0][0] in load_labels("sthv1")


def test_bad_arguments():
    entry = ZOO["tsm_r50.mm0_8f_340x256_k400"]
    with pytest.raises(ValueError, match="topk"):
        VideoClassifier(Probe(entry))(frames_video(8), topk=0)
    with pytest.raises(ValueError, match="num_labels"):
        VideoClassifier(Probe(entry), num_labels=500)
    with pytest.raises(TypeError, match="protocol"):
        VideoClassifier(Probe(entry), protocol={"num_frames": 8})
