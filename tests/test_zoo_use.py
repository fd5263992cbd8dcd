"""Using the new zoo entries: pretrained=True through the one resolver, views, flow, BGR, the CLI filters."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from _weights_utils import mmaction2_checkpoint, to_mmaction2_layout, to_original_tsm_layout
from test_pretrained import Server, assert_same_weights, checkpoint_bytes, files_in, tiny
from test_pretrained import caches as caches  # the fixtures
from test_pretrained import server as server

import tsm_models
from tsm_models.cli import main as cli_main
from tsm_models.inference import VideoClassifier
from tsm_models.models._pretrained import load_pretrained
from tsm_models.models.zoo import ZOO


def _tiny_entry(name: str, url: str, num_classes: int = 5) -> tsm_models.ZooEntry:
    """The zoo record ``name`` pointed at ``url`` and sized for :func:`tiny` (4 segments, ``num_classes``)."""
    e = ZOO[name]
    return dataclasses.replace(e, tag=f"tiny_{e.tag}", url=url, num_classes=num_classes, num_labels=num_classes)


def test_mmaction2_1x_entry_downloads_with_its_hash_checked(server: Server, caches: dict[str, Path]) -> None:
    source = tiny(seed=3).state_dict()
    data = checkpoint_bytes(mmaction2_checkpoint(to_mmaction2_layout(source)))
    real = ZOO["tsm_r50.mm1_8f_sthv2"]
    # the released file name carries be0fc26e, which these bytes do not hash to: refused, nothing stored
    server.files[f"/v1.0/{real.filename}"] = data
    with pytest.raises(ValueError, match="sha256 mismatch"):
        load_pretrained(tiny(), True, entry=_tiny_entry(real.name, server.url + f"/v1.0/{real.filename}"))
    assert files_in(caches["cache"]) == []
    entry = _tiny_entry(real.name, server.publish(data))
    model = tiny()
    load_pretrained(model, True, entry=entry, progress=False)
    assert_same_weights(model, source)
    assert files_in(caches["cache"]) == [f"{entry.name}-{hashlib.sha256(data).hexdigest()[:8]}.safetensors"]


def test_original_repo_entry_without_a_hash(
    server: Server, caches: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    source = tiny(seed=4).state_dict()
    original = {"epoch": 50, "arch": "resnet50", "state_dict": to_original_tsm_layout(to_mmaction2_layout(source))}
    real = ZOO["tsm_r50.mit_8f_k400"]
    assert real.sha256_prefix is None
    server.files[f"/tsm/models/{real.filename}"] = checkpoint_bytes(original)
    entry = _tiny_entry(real.name, server.url + f"/tsm/models/{real.filename}")
    model = tiny()
    with caplog.at_level(logging.WARNING, logger="tsm_models"):
        load_pretrained(model, True, entry=entry, progress=False)
    assert_same_weights(model, source)
    assert "cannot be checked" in caplog.text
    assert files_in(caches["cache"]) == [f"{entry.name}.safetensors"]
    server.stop()  # the second load comes from the cache
    again = tiny()
    load_pretrained(again, True, entry=entry, progress=False)
    assert_same_weights(again, source)


def test_pretrained_true_for_a_new_entry_tries_its_own_sources(
    caches: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    for name in ("tsm_r50.mm1_8f_k400", "tsm_r101.mit_8f_sthv2"):
        entry = ZOO[name]
        with pytest.raises(FileNotFoundError, match=f"(?s)tsm-models/{entry.name}.*{entry.url}"):
            tsm_models.create_model(entry.name, pretrained=True)


def test_single_view_and_all_views() -> None:
    """``views="single"`` runs one view; the default runs the protocol's clips x crops (here 10 x 10)."""
    e = ZOO["tsm_r50.mm1_8f_dense_k400"]
    # the same views on small frames, 4 frames per clip for the 4-segment tiny model
    small = dataclasses.replace(e.protocol, num_frames=4, resize_short=40, crop_size=32)
    model = tiny().eval()
    seen: list[int] = []
    model.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0]))
    frames = np.random.default_rng(0).integers(0, 256, (90, 48, 64, 3), dtype=np.uint8)
    labels = [str(i) for i in range(5)]
    probs = VideoClassifier(model, labels=labels, protocol=small, batch_size=50)(frames, topk=5)
    assert sum(seen) == 100 == small.num_views and len(probs) == 5
    seen.clear()
    one = VideoClassifier(model, labels=labels, protocol=small, views="single")
    assert one.preprocess(frames).shape == (1, 4, 3, 32, 32)
    one(frames)
    assert seen == [1]
    with pytest.raises(ValueError, match="views"):
        VideoClassifier(model, labels=labels, protocol=small, views="some")


def test_flow_entry_runs_on_user_flow_stacks_and_predict_refuses_video() -> None:
    e = ZOO["tsm_r50.mit_8f_flow_k400"]
    model = tsm_models.create_model(e.name, pretrained=False).eval()
    assert model.conv1.in_channels == 10
    assert model.pretrained_cfg["input_size"] == (10, 224, 224) and len(model.pretrained_cfg["mean"]) == 10
    with torch.no_grad():
        out = model(torch.randn(1, 8, 10, 32, 32))
    assert out.shape == (1, 400)
    with pytest.raises(ValueError, match="optical flow"):
        VideoClassifier(model)


def test_cli_list_filters_and_info(capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["list", "--dataset", "sthv2", "--source", "mm1", "--family", "resnet"]) == 0
    assert capsys.readouterr().out.split() == [
        "tsm_r50.mm1_8f_sthv2",
        "tsm_r50.mm1_16f_sthv2",
        "tsm_r101.mm1_8f_sthv2",
    ]
    assert cli_main(["list", "--family", "mobilenetv2", "--source", "mit"]) == 0
    assert capsys.readouterr().out.split() == [
        "tsm_mobilenetv2.mit_8f_dense_k400",
        "tsm_mobilenetv2.mit_8f_online_jester",
    ]
    assert cli_main(["list", "--dataset", "k400", "*nl*"]) == 0
    assert len(capsys.readouterr().out.split()) == 7  # 3 MMAction2 1.x + 3 0.x + 1 original
    assert cli_main(["list", "--dataset", "nope"]) == 2
    assert cli_main(["info", "tsm_r50_1x1x8_50e_kinetics400_rgb"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["name"] == "tsm_r50.mm0_8f_320p_k400" and "newest" in record["config_note"]


def test_cli_predict_views_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from _video_utils import write_video

    from tsm_models.cli import predict as predict_cli

    seen: list[int] = []

    class Fixed(torch.nn.Module):  # the record's model stand-in: counts the views it is given
        def __init__(self, entry: tsm_models.ZooEntry) -> None:
            super().__init__()
            self.zoo_entry, self.num_classes = entry, entry.num_classes
            self.logits = torch.nn.Parameter(torch.zeros(entry.num_classes))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.shape[0])
            return self.logits.expand(x.shape[0], -1)

    monkeypatch.setattr(predict_cli, "create_model", lambda name, pretrained=False: Fixed(ZOO[name]))
    video = write_video(tmp_path / "a.mp4", 12)
    name = "tsm_r50.mm1_8f_sthv2"  # 2 clips x ThreeCrop(256) = 6 views
    assert cli_main(["predict", str(video), "-m", name, "--device", "cpu"]) == 0
    assert sum(seen) == 6
    seen.clear()
    assert cli_main(["predict", str(video), "-m", name, "--device", "cpu", "--views", "single"]) == 0
    assert seen == [1] and str(video) in capsys.readouterr().out


def test_convert_zoo_finds_originals_with_and_without_a_hash(tmp_path: Path) -> None:
    from tsm_models.cli.convert_zoo import _local_original

    mit, mm1 = ZOO["tsm_r50.mit_8f_sthv2"], ZOO["tsm_r50.mm1_8f_k400"]
    (tmp_path / mit.filename).write_bytes(b"original-repo file: no hash in its name to check")
    assert _local_original(mit, tmp_path) == tmp_path / mit.filename
    (tmp_path / mm1.filename).write_bytes(b"not the released bytes")
    with pytest.raises(ValueError, match="does not match the released prefix 64d69186"):
        _local_original(mm1, tmp_path)
    with pytest.raises(FileNotFoundError, match="expected the released file"):
        _local_original(ZOO["tsm_r50.mm1_16f_k400"], tmp_path)


def test_flow_checkpoint_in_the_original_layout_loads(tmp_path: Path) -> None:
    from test_pretrained import TINY

    from tsm_models import TSM

    source = TSM(num_classes=5, in_chans=10, **TINY).state_dict()
    assert source["conv1.weight"].shape[1] == 10
    path = tmp_path / ZOO["tsm_r50.mit_8f_flow_k400"].filename
    torch.save({"epoch": 50, "state_dict": to_original_tsm_layout(to_mmaction2_layout(source))}, path)
    model = TSM(num_classes=5, in_chans=10, **TINY)
    load_pretrained(model, str(path))
    assert_same_weights(model, source)
