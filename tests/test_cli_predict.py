"""``tsm-models predict``: text and JSON output, weights argument, bad files reported at the end."""

from __future__ import annotations

import json

import pytest
import torch
from _video_utils import write_video
from torch import nn

from tsm_models.cli import main
from tsm_models.cli import predict as predict_cli
from tsm_models.labels import load_labels
from tsm_models.models.zoo import find_entry


class Tiny(nn.Module):
    """A zoo-entry stand-in with a fixed answer: class ``best`` wins."""

    def __init__(self, entry, best=5):
        super().__init__()
        self.zoo_entry = entry
        self.num_classes = entry.num_classes
        self.logits = nn.Parameter(torch.zeros(entry.num_classes))
        with torch.no_grad():
            self.logits[best] = 5.0

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


@pytest.fixture
def fake_create_model(monkeypatch):
    calls = []

    def create_model(name, pretrained=False, **kwargs):
        calls.append((name, pretrained))
        return Tiny(find_entry(name))

    monkeypatch.setattr(predict_cli, "create_model", create_model)
    return calls


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    bad = d / "broken.mp4"
    bad.write_bytes(b"\x00" * 300)
    return write_video(d / "a.mp4", 16), write_video(d / "b.mkv", 10, codec="mpeg4"), bad, d / "missing.avi"


def test_predict_text_and_weights(clips, fake_create_model, capsys):
    a, b, *_ = clips
    assert main(["predict", str(a), str(b), "-m", "tsm_r50_1x1x8_sthv1", "--topk", "3", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    best = load_labels("sthv1")[5]
    assert out.count(best) == 2 and str(a) in out and str(b) in out
    assert fake_create_model == [("tsm_r50_1x1x8_sthv1", True)]  # zoo names default to their weights
    assert main(["predict", str(a), "-m", "tsm_r50_1x1x8_sthv1", "--pretrained", "ckpt.safetensors"]) == 0
    assert fake_create_model[-1] == ("tsm_r50_1x1x8_sthv1", "ckpt.safetensors")


def test_predict_json_and_bad_files(clips, fake_create_model, capsys, caplog):
    a, b, bad, missing = clips
    argv = ["predict", str(a), str(bad), str(missing), str(b), "-m", "tsm_r50_1x1x8_kinetics400", "--json"]
    assert main([*argv, "--topk", "2"]) == 1  # the run goes on; the status reports the failures
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["video"] for r in records] == [str(a), str(bad), str(missing), str(b)]
    assert records[0]["predictions"][0]["label"] == load_labels("kinetics400")[5]
    assert len(records[3]["predictions"]) == 2
    assert "broken.mp4: cannot open as a video" in records[1]["error"]
    assert "missing.avi" in records[2]["error"]
    assert "2 of 4 videos could not be classified" in caplog.text
    assert "broken.mp4" in caplog.text and "missing.avi" in caplog.text


def test_predict_real_architecture_end_to_end(clips, capsys):
    a, *_ = clips
    torch.manual_seed(0)
    status = main(["predict", str(a), "-m", "tsm_r18", "--no-pretrained", "--json", "--topk", "4", "--device", "cpu"])
    assert status == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    preds = record["predictions"]
    assert len(preds) == 4 and all(p["label"].isdigit() for p in preds)  # no label list: class indices
    assert preds == sorted(preds, key=lambda p: -p["probability"])


def test_predict_labels_option(clips, fake_create_model, capsys, tmp_path):
    a, *_ = clips
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"class {i}" for i in range(174)) + "\n")
    assert main(["predict", str(a), "-m", "tsm_r50_1x1x8_sthv1", "--labels", str(names), "--topk", "1"]) == 0
    assert "class 5" in capsys.readouterr().out
    assert main(["predict", str(a), "-m", "tsm_r50_1x1x8_sthv1", "--labels", "sthv2", "--topk", "1"]) == 0
    assert load_labels("sthv2")[5] in capsys.readouterr().out
    assert main(["predict", str(a), "-m", "tsm_r50_1x1x8_sthv1", "--labels", "nowhere.txt"]) == 2


def test_predict_usage_errors(clips, caplog):
    a, *_ = clips
    assert main(["predict", str(a), "-m", "tsm_r18"]) == 2  # an architecture has no zoo weights
    assert "--pretrained PATH" in caplog.text
    assert main(["predict", str(a), "-m", "tsm_r5O_kinetics", "--no-pretrained"]) == 2
    assert main(["predict", str(a), "-m", "tsm_r18", "--no-pretrained", "--topk", "0"]) == 2
