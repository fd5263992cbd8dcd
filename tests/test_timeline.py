"""``timeline``: sliding windows of a long video, each frame decoded once; JSON/CSV/plot; bad input."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest
import torch
from _apps_utils import ZOO_NAME, tiny_model
from _video_utils import write_video

from tsm_models import timeline
from tsm_models.cli import _shared, main
from tsm_models.data.sampling import sample_indices
from tsm_models.data.video import open_video
from tsm_models.inference import VideoClassifier

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("timeline")
    return write_video(d / "long.mp4", 200, fps=25)  # 8 s


def test_windows_match_clip_predictions_and_decode_once(clip):
    model = tiny_model()
    clf = VideoClassifier(model)
    with open_video(clip) as reader:
        tl = timeline(clf, reader, window=1.0, stride=0.5, topk=3)
        # each frame decoded once, front to back, up to the last frame the last window samples
        last = int((sample_indices(clf.protocol, 25) + tl[-1].start_frame).max())
        assert reader.frames_decoded == tl.frames_decoded == last + 1
    # 25-frame windows every 12 frames over 200 frames
    assert len(tl) == (200 - 25) // 12 + 1 == 15
    assert [(w.start_frame, w.end_frame) for w in tl[:2]] == [(0, 25), (12, 37)]
    assert tl[1].start == pytest.approx(12 / 25) and tl[1].end == pytest.approx(37 / 25)
    with open_video(clip) as reader:
        for w, probs in zip(tl, tl.probabilities, strict=True):
            # the entry's sampling of a 25-frame clip, shifted to the window: the same as classifying that clip
            frames = reader.read(sample_indices(clf.protocol, 25) + w.start_frame)
            expected = clf.scores(clf._to_views(frames))
            torch.testing.assert_close(torch.from_numpy(probs), expected, atol=1e-5, rtol=1e-4)
            assert [name for name, _ in w.labels] == [name for name, _ in clf.topk(expected, 3)]


def test_memory_does_not_grow_with_the_video(tmp_path):
    clf = VideoClassifier(tiny_model())
    short = timeline(clf, write_video(tmp_path / "a.mp4", 60), window=1.0, stride=0.5)
    long = timeline(clf, write_video(tmp_path / "b.mp4", 400), window=1.0, stride=0.5)
    # frames held at once: those of the windows in flight (about window/stride windows x 4 frames), not the video
    assert long.max_frames_held == short.max_frames_held <= 4 * 3
    assert len(long) > 5 * len(short)


def test_array_input_needs_fps_and_windows_must_fit():
    clf = VideoClassifier(tiny_model())
    frames = np.zeros((30, 40, 40, 3), np.uint8)
    with pytest.raises(ValueError, match="no frame rate; pass fps="):
        timeline(clf, frames, window=1.0)
    assert len(timeline(clf, frames, window=1.0, stride=0.2, fps=10)) == (30 - 10) // 2 + 1
    with pytest.raises(ValueError, match=r"window of 4 s \(40 frames at 10 fps\) is longer than the video \(3.00 s"):
        timeline(clf, frames, window=4.0, fps=10)
    with pytest.raises(ValueError, match="stride must be a positive"):
        timeline(clf, frames, window=1.0, stride=0, fps=10)
    with pytest.raises(ValueError, match="less than one frame"):
        timeline(clf, frames, window=1.0, stride=0.01, fps=10)
    with pytest.raises(TypeError, match="number of seconds"):
        timeline(clf, frames, window="2", fps=10)


def test_json_csv_and_plot(clip, tmp_path):
    pytest.importorskip("matplotlib")  # the `plot` extra
    tl = timeline(VideoClassifier(tiny_model()), clip, window=2.0, stride=1.0, topk=2)
    tl.save(tmp_path / "t.json")
    tl.save(tmp_path / "t.csv")
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["fps"] == 25.0 and data["duration"] == 8.0 and len(data["windows"]) == len(tl) == 7
    assert data["windows"][0] == tl[0].to_dict() and set(data["windows"][0]) == {"start", "end", "labels"}
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert len(rows) == 2 * len(tl) and rows[0]["rank"] == "1" and rows[1]["label"] == tl[0].labels[1][0]
    tl.plot(tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.json", "t.png"]  # no temporary files left


@pytest.fixture
def cli_model(monkeypatch):
    monkeypatch.setattr(_shared, "create_model", lambda name, pretrained=False, **kw: tiny_model())


def test_cli_outputs(clip, tmp_path, cli_model, capsys):
    pytest.importorskip("matplotlib")
    out, plot, video = tmp_path / "t.csv", tmp_path / "t.png", tmp_path / "t.mp4"
    argv = ["timeline", str(clip), "-m", ZOO_NAME, "--window-seconds", "2", "--stride-seconds", "2"]
    assert main([*argv, "--out", str(out), "--plot", str(plot), "--out-video", str(video), "--device", "cpu"]) == 0
    assert out.is_file() and plot.is_file()
    with open_video(video) as r:
        assert r.total_frames == 200 and r.fps == 25.0
    assert main([*argv, "--topk", "1"]) == 0  # no --out: one JSON line per window on stdout
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 4 and len(lines[0]["labels"]) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--window-seconds", "60"], "is longer than the video"),
        (["--stride-seconds", "0"], "stride must be a positive"),
        (["--out", "{tmp}/t.txt"], "must end in .json or .csv"),
        (["--out", "{tmp}/file/t.json"], "is not a writable folder"),
    ],
)
def test_cli_bad_input(clip, tmp_path, cli_model, caplog, extra, message):
    (tmp_path / "file").write_text("not a folder")
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    assert main(["timeline", str(clip), "-m", ZOO_NAME, *extra]) == 2
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and message in errors[0].getMessage()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing written


def test_labels_at_picks_the_nearest_window_centre():
    from tsm_models.apps.timeline import Timeline, TimelineWindow

    tl = Timeline([TimelineWindow(a / 10, (a + 10) / 10, [(str(a), 1.0)], a, a + 10) for a in (0, 5, 10)])
    # centres 4.5, 9.5, 14.5
    assert [tl.labels_at(i)[0][0] for i in (0, 4, 7, 8, 12, 13, 99)] == ["0", "0", "0", "5", "5", "10", "10"]


def test_cli_plot_without_matplotlib_says_what_to_install(clip, tmp_path, cli_model, caplog, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the `plot` extra were not installed
    assert main(["timeline", str(clip), "-m", ZOO_NAME, "--plot", str(tmp_path / "t.png")]) == 2
    assert "pip install 'tsm-models[plot]'" in caplog.text and not (tmp_path / "t.png").exists()
