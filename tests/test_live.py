"""``live``: a streaming model frame by frame from a file and a loopback HTTP stream, the demo's smoothing,
frame skipping, dropping to keep up, JSON lines, bad sources."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _apps_utils import ZOO_NAME, tiny_model
from _http_utils import closed_port_url, serve_directory
from _video_utils import write_video

from tsm_models.apps.live import LiveStats, Smoother, frame_preprocess, highgui, run_live
from tsm_models.cli import _shared, main
from tsm_models.cli.live import default_live_model
from tsm_models.data.video import open_video
from tsm_models.inference import VideoClassifier

pytestmark = pytest.mark.usefixtures("one_thread")


SEED = 0  # a tiny random model that changes its mind on the colour changes of the clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """48 frames at 24 fps: red, green, blue, 16 frames each (H.264)."""
    import av

    path = tmp_path_factory.mktemp("live") / "cam.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(48):
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[:] = [(250, 30, 30), (30, 250, 30), (30, 30, 250)][i // 16]
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def expected_changes(model, path, every=1, smooth=12):
    """The label changes computed by hand: stream each kept frame, smooth as the original demo."""
    clf = VideoClassifier(model)
    stream, pre, smoother = model.stream(), frame_preprocess(clf.transform), Smoother(smooth)
    out, current = [], -1
    with open_video(path) as reader:
        for i, frame in enumerate(reader.iter_frames()):
            if i % every:
                continue
            best = smoother.update(stream.frame_logits(pre(frame))[0])
            if best != current:
                current = best
                out.append((i, clf.labels[best]))
    return out


def test_smoother_is_the_demo_rule():
    s = Smoother(window=1)
    one_hot = torch.eye(3)
    # a new class is accepted only when the previous output held for two steps
    assert [s.update(one_hot[c]) for c in [0, 0, 1, 2, 2, 2, 0]] == [0, 0, 1, 1, 2, 2, 0]
    s = Smoother(window=3, hold=False)  # the argmax of the summed last 3 logits
    assert [s.update(v) for v in torch.tensor([[3.0, 0], [0, 2], [0, 2], [0, 2]])] == [0, 0, 1, 1]


def test_file_source_matches_frame_by_frame_stream(clip):
    model = tiny_model(online=True, seed=SEED)
    stats = LiveStats()
    changes = list(run_live(model, str(clip), smooth=2, stats=stats))
    assert [(c.frame, c.label) for c in changes] == expected_changes(model, clip, smooth=2)
    assert len(changes) >= 3  # the colour changes change the tiny model's mind
    assert (stats.frames_read, stats.processed, stats.dropped) == (48, 48, 0)
    assert changes[1].time == pytest.approx(changes[1].frame / 24, abs=1e-3)
    skipped = list(run_live(model, str(clip), every=2, smooth=2, stats=(half := LiveStats())))
    assert half.processed == 24 and [(c.frame, c.label) for c in skipped] == expected_changes(model, clip, 2, 2)


def test_loopback_http_stream_gives_the_same_labels(clip):
    model = tiny_model(online=True, seed=SEED)
    with serve_directory(clip.parent) as base:
        changes = list(run_live(model, f"{base}/{clip.name}", smooth=2))
    assert [(c.frame, c.label) for c in changes] == expected_changes(model, clip, smooth=2)


def test_realtime_drops_frames_it_has_no_time_for(tmp_path):
    fast = write_video(tmp_path / "fast.mp4", 40, fps=50)  # 0.8 s, paced like a camera
    stats = LiveStats()
    slow = lambda *_: __import__("time").sleep(0.06)  # noqa: E731 - a consumer slower than 50 frames/s
    list(run_live(tiny_model(online=True), str(fast), realtime=True, on_frame=slow, stats=stats))
    assert stats.frames_read == 40 and stats.dropped > 5
    assert stats.processed + stats.dropped == 40  # every frame is either classified or dropped
    assert 0.7 < stats.seconds < 5


def test_cli_json_lines_and_bad_sources(clip, monkeypatch, capsys, caplog):
    monkeypatch.setattr(
        _shared, "create_model", lambda name, pretrained=False, **kw: tiny_model(online=True, seed=SEED)
    )
    assert main(["live", "--source", str(clip), "-m", ZOO_NAME, "--smooth", "2", "--max-frames", "30"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines and set(lines[0]) == {"frame", "time", "label", "probability"}
    assert [(x["frame"], x["label"]) for x in lines] == [
        c for c in expected_changes(tiny_model(online=True, seed=SEED), clip, smooth=2) if c[0] < 30
    ]
    for argv, message in [
        (["--source", "/dev/video97"], "cannot open camera /dev/video97"),
        (["--source", closed_port_url()], "Connection refused"),
        (["--source", "missing.mp4"], "video source not found: missing.mp4"),
        (["--source", str(clip), "--every", "0"], "every must be an int >= 1"),
    ]:
        caplog.clear()
        assert main(["live", *argv, "-m", ZOO_NAME]) == 2
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and message in errors[0], errors
    monkeypatch.setattr(_shared, "create_model", lambda name, pretrained=False, **kw: tiny_model())
    caplog.clear()
    assert main(["live", "--source", str(clip), "-m", ZOO_NAME]) == 2
    assert "needs a model built with shift_direction='online'" in caplog.text


def test_show_needs_a_gui_and_default_model(clip, caplog):
    try:
        highgui()
    except ValueError as exc:  # this OpenCV (or none) has no GUI backend: --show says so and exits 2
        assert main(["live", "--source", str(clip), "--show"]) == 2
        assert str(exc) in caplog.text and "pip install opencv-python" in caplog.text
    default = default_live_model()
    if default is None:  # no online Jester model in the zoo yet: -m is then required, and the error says so
        caplog.clear()
        assert main(["live", "--source", str(clip)]) == 2
        assert "no online Jester model" in caplog.text
    else:
        from tsm_models.models.zoo import ZOO

        assert ZOO[default].model_args.get("shift_direction") == "online"
