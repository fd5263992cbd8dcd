"""``features``: one .safetensors per video + index.jsonl, DataLoader workers, resume, bad videos listed."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from _apps_utils import SMALL, ZOO_NAME, tiny_model
from _video_utils import truncate, write_frame_folder, write_video
from safetensors import safe_open
from safetensors.torch import load_file

from tsm_models.apps.features import extract_features, list_videos, load_index
from tsm_models.cli import _shared, main
from tsm_models.data.views import VideoViews, load_views
from tsm_models.inference import VideoClassifier

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("dataset")
    write_video(d / "a.mp4", 20)
    (d / "sub").mkdir()
    write_video(d / "sub" / "b.mkv", 12, codec="mpeg4")
    write_frame_folder(d / "sub" / "c", 9)  # raw frames count as one video
    truncate(write_video(d / "whole.mp4", 30), d / "sub" / "broken.mp4", 0.3)
    (d / "whole.mp4").unlink()
    (d / "notes.txt").write_text("not a video")
    return d


def test_list_videos(dataset, tmp_path):
    names = [p.replace(str(dataset) + "/", "") for p in list_videos(dataset)]
    assert names == ["a.mp4", "sub/b.mkv", "sub/broken.mp4", "sub/c"]
    listing = tmp_path / "list.txt"
    listing.write_text(f"# comment\na.mp4 3\n\nsub/c 9 1\n{dataset}/sub/b.mkv\nhttp://127.0.0.1:1/x.mp4\n")
    assert list_videos(listing, root=dataset) == [
        str(dataset / "a.mp4"),
        str(dataset / "sub/c"),
        str(dataset / "sub/b.mkv"),
        "http://127.0.0.1:1/x.mp4",
    ]


def test_views_dataset_returns_errors_per_item(dataset):
    clf = VideoClassifier(tiny_model())
    items = list(VideoViews(list_videos(dataset), clf.protocol).loader(num_workers=0))
    assert [i.ok for i in items] == [True, True, False, True]
    assert items[0].views.shape == (1, 4, 3, 32, 32) and "broken.mp4" in items[2].error
    torch.testing.assert_close(items[0].views, load_views(dataset / "a.mp4", clf.protocol))


def test_features_index_resume_and_failures(dataset, tmp_path):
    model = tiny_model()
    out = tmp_path / "feats"
    report = extract_features(model, dataset, out, pool="avg", workers=2, progress=False)
    assert len(report.written) == 3 and report.skipped == [] and not report.ok
    assert [v.split("/")[-1] for v, _ in report.failed] == ["broken.mp4"]
    assert json.loads((out / "failed.jsonl").read_text())["video"].endswith("broken.mp4")
    index = load_index(out)
    assert [e["file"] for e in index] == ["a.mp4.safetensors", "sub__b.mkv.safetensors", "sub__c.safetensors"]
    feats = load_file(out / "a.mp4.safetensors")["features"]
    assert feats.shape == (16,) and index[0]["shape"] == [16]
    # the clip feature is the model's pre-logits: fc of it gives the logits of the clip
    views = load_views(dataset / "a.mp4", VideoClassifier(model).protocol)
    with torch.no_grad():
        torch.testing.assert_close(model.fc(feats), model(views)[0], atol=1e-4, rtol=1e-4)
    with safe_open(out / "a.mp4.safetensors", "pt") as f:
        assert f.metadata()["video"] == str(dataset / "a.mp4") and f.metadata()["pool"] == "avg"

    # a killed run: one file gone, the index cut mid-line; the rerun redoes only what is missing
    (out / "sub__c.safetensors").unlink()
    with open(out / "index.jsonl", "a") as f:
        f.write('{"video": "half a li')
    again = extract_features(model, dataset, out, pool="avg", progress=False)
    assert [v.split("/")[-1] for v in again.written] == ["c"] and len(again.skipped) == 2
    assert len(again.failed) == 1  # the broken video is tried again, and listed again
    assert sorted(e["file"] for e in load_index(out)) == sorted(e["file"] for e in index)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_pool_frame_and_maps_and_protocol_views(dataset, tmp_path):
    model = tiny_model()
    videos = [dataset / "a.mp4"]
    extract_features(model, videos, tmp_path / "f", pool="frame", progress=False)
    extract_features(model, videos, tmp_path / "n", pool="none", progress=False)
    frame = load_file(next((tmp_path / "f").glob("*.safetensors")))["features"]
    maps = load_file(next((tmp_path / "n").glob("*.safetensors")))["features"]
    assert frame.shape == (4, 16) and maps.shape == (4, 16, 1, 1)
    torch.testing.assert_close(maps.mean((-2, -1)), frame)
    three = tiny_model(protocol=dataclasses.replace(SMALL, num_clips=2, crop="three", num_crops=3))
    extract_features(three, videos, tmp_path / "p", pool="frame", views="protocol", progress=False)
    assert load_file(next((tmp_path / "p").glob("*.safetensors")))["features"].shape == (6, 4, 16)


def test_cli_exit_status_and_bad_input(dataset, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(_shared, "create_model", lambda name, pretrained=False, **kw: tiny_model())
    out = tmp_path / "o"
    assert main(["features", str(dataset), "-m", ZOO_NAME, "--out", str(out), "--workers", "0"]) == 1
    assert "1 videos could not be read" in caplog.text and "broken.mp4" in caplog.text
    assert len(load_index(out)) == 3
    caplog.clear()
    assert main(["features", str(dataset / "missing"), "-m", ZOO_NAME, "--out", str(out)]) == 2
    assert "no such video list or folder" in caplog.text
    (tmp_path / "file").write_text("")
    assert main(["features", str(dataset), "-m", ZOO_NAME, "--out", str(tmp_path / "file")]) == 2
    assert "is a file; expected a folder" in caplog.text


def test_predict_many_in_worker_processes_matches_the_thread(dataset):
    clf = VideoClassifier(tiny_model())
    videos = list_videos(dataset)
    threads = list(clf.predict_many(videos, topk=3))
    workers = list(clf.predict_many(videos, topk=3, num_workers=2))
    assert [p.source for p in workers] == videos and [p.ok for p in workers] == [True, True, False, True]
    for a, b in zip(threads, workers, strict=True):
        assert [n for n, _ in a.topk] == [n for n, _ in b.topk]
        assert [p for _, p in a.topk] == pytest.approx([p for _, p in b.topk])
    assert "broken.mp4" in str(workers[2].error)


def test_views_dataset_turns_any_error_into_that_items_error(dataset, monkeypatch):
    from tsm_models.data import views as views_module

    real = views_module.load_views

    def load(video, protocol, transform=None):  # an allocation failure on one video, not a decoding error
        if str(video).endswith("b.mkv"):
            raise MemoryError()
        return real(video, protocol, transform)

    monkeypatch.setattr(views_module, "load_views", load)
    clf = VideoClassifier(tiny_model())
    items = list(VideoViews(list_videos(dataset), clf.protocol).loader(num_workers=0))
    assert [i.ok for i in items] == [True, False, False, True]
    assert "b.mkv" in items[1].error and "MemoryError" in items[1].error
