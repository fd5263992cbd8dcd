"""http(s) URL inputs (FFmpeg through PyAV) for predict, timeline and features, against a 127.0.0.1 server;
a timeout and one clear error for URLs that do not answer."""

from __future__ import annotations

import json
import socket
import time

import pytest
import torch
from _apps_utils import ZOO_NAME, tiny_model
from _http_utils import closed_port_url, serve_directory
from _video_utils import read_indices, write_video
from safetensors.torch import load_file

from tsm_models import extract_features, timeline
from tsm_models.cli import _shared, main
from tsm_models.data.video import PyAVReader, open_video
from tsm_models.inference import VideoClassifier

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    d = tmp_path_factory.mktemp("www")
    write_video(d / "clip.mp4", 60, fps=25)  # moov at the end: FFmpeg needs byte ranges, as from real servers
    with serve_directory(d) as base:
        yield d, base


def test_reader_on_a_url_reads_the_same_frames(served):
    _, base = served
    with open_video(f"{base}/clip.mp4") as r:
        assert (r.total_frames, r.fps) == (60, 25.0)
        assert read_indices(r.read([59, 3, 30, 3])) == [59, 3, 30, 3]
        assert read_indices(list(r.iter_frames())) == list(range(60))


def test_predict_timeline_features_on_urls_equal_the_file(served, tmp_path):
    d, base = served
    url, path = f"{base}/clip.mp4", d / "clip.mp4"
    clf = VideoClassifier(tiny_model())
    assert clf(url, topk=5) == clf(path, topk=5)
    a, b = timeline(clf, url, window=1.0), timeline(clf, path, window=1.0)
    assert a.source == url and [w.to_dict() for w in a] == [w.to_dict() for w in b]
    listing = tmp_path / "list.txt"
    listing.write_text(f"{url}\n{path}\n")
    report = extract_features(clf, listing, tmp_path / "f", progress=False)
    assert report.ok and len(report.written) == 2
    files = sorted((tmp_path / "f").glob("*.safetensors"))
    torch.testing.assert_close(load_file(files[0])["features"], load_file(files[1])["features"])


def test_unreachable_and_silent_urls_fail_with_one_line(tmp_path):
    t = time.perf_counter()
    with pytest.raises(ValueError, match=r"cannot read the URL .*Connection refused"):
        open_video(closed_port_url())
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/clip.mp4"
        with pytest.raises(ValueError, match="cannot read the URL"):
            PyAVReader(url, timeout=1.0)
    assert time.perf_counter() - t < 10


def test_cli_predict_and_timeline_urls(served, tmp_path, monkeypatch, capsys, caplog):
    _, base = served
    monkeypatch.setattr(_shared, "create_model", lambda name, pretrained=False, **kw: tiny_model())
    from tsm_models.cli import predict as predict_cli

    monkeypatch.setattr(predict_cli, "create_model", lambda name, pretrained=False, **kw: tiny_model())
    bad = closed_port_url()
    assert main(["predict", f"{base}/clip.mp4", bad, "-m", ZOO_NAME, "--json"]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert records[0]["predictions"] and "Connection refused" in records[1]["error"]
    assert main(["timeline", f"{base}/clip.mp4", "-m", ZOO_NAME, "--out", str(tmp_path / "t.json")]) == 0
    assert json.loads((tmp_path / "t.json").read_text())["video"] == f"{base}/clip.mp4"
    caplog.clear()
    assert main(["timeline", bad, "-m", ZOO_NAME, "--out", str(tmp_path / "u.json")]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "Connection refused" in errors[0] and not (tmp_path / "u.json").exists()
