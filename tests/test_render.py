"""Labelled output video (H.264 through PyAV, same frames/fps/duration, atomic), PNG strip, GIF."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from _video_utils import read_indices, write_video

from tsm_models.apps.render import draw_labels, encode_video, write_gif, write_labelled_video, write_strip
from tsm_models.data.video import open_video

LABELS = [("juggling balls", 0.62), ("dribbling basketball", 0.21)]


def test_labelled_video_keeps_frames_rate_and_duration(tmp_path):
    src = write_video(tmp_path / "in.mp4", 40, size=(96, 72), fps=30)
    out = tmp_path / "out.mp4"
    assert write_labelled_video(src, out, LABELS, title="tiny") == 40
    with open_video(src) as a, open_video(out) as b:
        assert (b.total_frames, b.fps) == (a.total_frames, a.fps) == (40, 30.0)
        np.testing.assert_allclose(b.frame_times, a.frame_times, atol=1e-3)  # same duration, same timestamps
        assert b._stream.codec_context.name == "h264"
        x, y = a.read(range(40)), b.read(range(40))
    # the frames are the input's, with the labels in a box at the top left (the index stripes elsewhere survive)
    assert read_indices(y[:, 40:]) == list(range(40))
    assert np.abs(x[:, 40:].astype(int) - y[:, 40:]).mean() < 6
    assert np.abs(x[:, :30, :50].astype(int) - y[:, :30, :50]).mean() > 20
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_labels_per_frame_and_odd_sizes(tmp_path):
    frames = np.full((6, 45, 61, 3), 128, np.uint8)
    seen = []

    def at(i):
        seen.append(i)
        return [(f"label {i}", i / 6)]

    out = tmp_path / "o.mkv"
    assert write_labelled_video(frames, out, at, fps=12) == 6 and seen == list(range(6))
    with open_video(out) as r:  # odd sizes are padded by one pixel for 4:2:0 H.264
        assert (r.total_frames, r.fps, r.read([0]).shape) == (6, 12.0, (1, 46, 62, 3))


def test_an_error_leaves_no_file(tmp_path):
    out = tmp_path / "o.mp4"

    def frames():
        yield np.zeros((32, 32, 3), np.uint8)
        yield np.zeros((16, 16, 3), np.uint8)

    with pytest.raises(ValueError, match="frame 1 is 16x16"):
        encode_video(frames(), out, Fraction(25))
    with pytest.raises(ValueError, match=r"must end in \.mp4 or \.mov or \.mkv"):
        encode_video(frames(), tmp_path / "o.avi", 25)
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match="not a writable folder"):
        encode_video(frames(), tmp_path / "f" / "o.mp4", 25)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_strip_and_gif(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (4, 48, 64, 3), dtype=np.uint8)
    write_strip(frames, tmp_path / "s.png", LABELS, title="tiny")
    from PIL import Image

    with Image.open(tmp_path / "s.png") as im:
        assert im.format == "PNG" and im.height > 120 and im.width >= 4 * 160
    assert write_gif(frames, tmp_path / "a.gif", fps=4) == 4
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 4
    drawn = draw_labels(frames[0], LABELS)
    assert drawn.shape == frames[0].shape and not np.array_equal(drawn, frames[0])


def test_predict_out_video_and_image(tmp_path, monkeypatch, caplog):
    from _apps_utils import ZOO_NAME, tiny_model
    from PIL import Image

    from tsm_models.cli import main
    from tsm_models.cli import predict as predict_cli

    monkeypatch.setattr(predict_cli, "create_model", lambda name, pretrained=False, **kw: tiny_model())
    src = write_video(tmp_path / "in.mp4", 30, size=(96, 72), fps=15)
    video, image = tmp_path / "out.mp4", tmp_path / "out.png"
    argv = ["predict", str(src), "-m", ZOO_NAME, "--topk", "3"]
    assert main([*argv, "--out-video", str(video), "--out-image", str(image)]) == 0
    with open_video(video) as r:
        assert (r.total_frames, r.fps) == (30, 15.0)
    with Image.open(image) as im:
        assert im.format == "PNG" and im.width >= 4 * 120  # the 4 sampled frames side by side
    one, two = [*argv], ["predict", str(src), str(src), *argv[2:]]
    for args, message in [
        ([*one, "--out-video", str(tmp_path / "x.avi")], "must end in .mp4 or .mov or .mkv"),
        ([*one, "--out-image", str(src / "x.png")], "is not a writable folder"),
        ([*two, "--out-video", str(tmp_path / "x.mp4")], "take one VIDEO, got 2"),
    ]:
        caplog.clear()
        assert main(args) == 2
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and message in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4", "out.png"]
