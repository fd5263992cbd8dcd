"""Hub format: save_pretrained / from_pretrained / push_to_hub, model card, and the convert CLI (all offline)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import huggingface_hub
import huggingface_hub.constants
import pytest
import timm
import torch
from _weights_utils import (
    mmaction2_checkpoint,
    random_mmaction2_state_dict,
    to_mmaction2_layout,
)
from safetensors.torch import load_file, save_file

import tsm_models
from tsm_models.cli import main
from tsm_models.models._hub import model_config
from tsm_models.models._model_card import model_card
from tsm_models.models.zoo import ZOO

SNAPSHOT = "fedcba9876543210fedcba9876543210fedcba98"
ARGS = dict(num_classes=6, num_segments=4, shift_place="inplace")


def randomized(model: tsm_models.TSM, seed: int = 0) -> tsm_models.TSM:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) * 0.2 + 0.9 if t.ndim == 1 else torch.randn(t.shape) * 0.05)
    return model.eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A tsm_r18 (6 classes, 4 segments, in-place shift) saved with save_pretrained, and its weights."""
    model = randomized(tsm_models.create_model("tsm_r18", **ARGS))
    out = tmp_path_factory.mktemp("saved") / "tsm_r18_test"
    assert model.save_pretrained(out) == out
    return out, model.state_dict()


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "hf"


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], skip: tuple[str, ...] = ()) -> bool:
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a if k not in skip)


# ---------------------------------------------------------------------------------------------------------
# save / load


def test_save_pretrained_writes_weights_config_and_card(saved: tuple[Path, dict]) -> None:
    folder, weights = saved
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "tsm_r18"
    assert config["num_classes"] == 6
    assert config["model_args"] == dict(
        num_classes=6, num_segments=4, shift_div=8, shift_place="inplace", shift_direction="bidirectional",
        shift_every=1, dropout=0.5,
    )  # fmt: skip
    assert same_weights(load_file(str(folder / "model.safetensors")), weights)


def test_from_pretrained_folder_roundtrip(saved: tuple[Path, dict]) -> None:
    folder, weights = saved
    model = tsm_models.from_pretrained(folder)
    assert not model.training
    assert (model.num_segments, model.shift_place, model.num_classes) == (4, "inplace", 6)
    assert same_weights(model.state_dict(), weights)
    reference = randomized(tsm_models.create_model("tsm_r18", **ARGS))
    reference.load_state_dict(weights)
    video = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(video), reference(video))


def test_from_pretrained_new_classifier(saved: tuple[Path, dict]) -> None:
    folder, weights = saved
    model = tsm_models.from_pretrained(folder, num_classes=3)
    assert model.fc.out_features == 3
    got = model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in weights.items() if not k.startswith("fc."))


def test_timm_reads_the_folder(saved: tuple[Path, dict]) -> None:
    folder, weights = saved
    model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    assert isinstance(model, tsm_models.TSM) and model.num_segments == 4
    assert same_weights(model.state_dict(), weights)


def test_loading_is_strict(saved: tuple[Path, dict], tmp_path: Path) -> None:
    folder, weights = saved
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    save_file({k: v for k, v in weights.items() if k != "layer3.0.net.bn1.bias"}, str(broken / "model.safetensors"))
    with pytest.raises(ValueError, match=r"missing from the checkpoint: \[layer3\.0\.net\.bn1\.bias\]"):
        tsm_models.from_pretrained(broken)
    with pytest.raises(ValueError, match=r"different architecture: num_segments=4 \(model: 8\)"):
        tsm_models.create_model("tsm_r18", pretrained=folder, num_segments=8, shift_place="inplace")
    (broken / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        tsm_models.from_pretrained(broken)


def test_from_pretrained_hub_offline(saved: tuple[Path, dict], offline_hub: Path) -> None:
    folder, weights = saved
    snap = offline_hub / "models--someorg--tsm_r18_test" / "snapshots" / SNAPSHOT
    shutil.copytree(folder, snap)
    (offline_hub / "models--someorg--tsm_r18_test" / "refs").mkdir()
    (offline_hub / "models--someorg--tsm_r18_test" / "refs" / "main").write_text(SNAPSHOT)
    model = tsm_models.from_pretrained("someorg/tsm_r18_test")
    assert same_weights(model.state_dict(), weights)
    via_timm = timm.create_model("hf-hub:someorg/tsm_r18_test", pretrained=True)
    assert isinstance(via_timm, tsm_models.TSM) and same_weights(via_timm.state_dict(), weights)
    with pytest.raises(FileNotFoundError):
        tsm_models.from_pretrained("someorg/not_cached")
    with pytest.raises(FileNotFoundError, match="neither a folder saved by save_pretrained nor a Hub repo id"):
        tsm_models.from_pretrained("no_such_folder")


def test_save_needs_a_registered_model(tmp_path: Path) -> None:
    from timm.models.resnet import BasicBlock

    bare = tsm_models.TSM(block=BasicBlock, layers=(1, 1, 1, 1), num_classes=3, num_segments=2)
    with pytest.raises(ValueError, match=r"needs a model built by tsm_models\.create_model"):
        bare.save_pretrained(tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_push_to_hub_uploads_one_folder(saved: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any]] = []

    class FakeApi:
        def __init__(self, token: str | None = None) -> None:
            calls.append(("init", token))

        def create_repo(self, repo_id: str, **kwargs: Any) -> None:
            calls.append(("create_repo", (repo_id, kwargs)))

        def upload_folder(self, *, repo_id: str, folder_path: str, **kwargs: Any) -> Any:
            files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
            calls.append(("upload_folder", (repo_id, files, kwargs)))
            return type("CommitInfo", (), {"commit_url": f"https://hub.test/{repo_id}/commit/1"})()

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    model = tsm_models.from_pretrained(saved[0])
    url = model.push_to_hub("someorg/tsm_r18_test", token="t0ken", private=True)
    assert url == "https://hub.test/someorg/tsm_r18_test/commit/1"
    assert calls[0] == ("init", "t0ken")
    assert calls[1] == ("create_repo", ("someorg/tsm_r18_test", {"private": True, "exist_ok": True}))
    _, files, _ = calls[2][1]
    assert sorted(files) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads(files["config.json"])["architecture"] == "tsm_r18"


# ---------------------------------------------------------------------------------------------------------
# Model card and config of a zoo model


def test_model_card_of_a_zoo_model() -> None:
    with torch.device("meta"):
        model = tsm_models.create_model("tsm_r50_1x1x16_50e_sthv2_rgb")
    entry = ZOO["tsm_r50.mm0_16f_seg8_c339_sthv2"]
    config = model_config(model)
    assert config["architecture"] == entry.arch and config["pretrained_cfg"]["tag"] == entry.tag
    assert config["model_args"]["num_segments"] == 8 and config["num_classes"] == 339
    assert len(config["label_names"]) == 174
    assert config["tsm_models"]["zoo_entry"]["url"] == entry.url
    card = model_card(model, config)
    for text in (
        "pipeline_tag: video-classification",
        "library_name: tsm_models",
        "base_model: timm/resnet50.tv_in1k",
        "{type: top-1 accuracy, value: 57.68}",
        "| MMAction2 (reported) | 57.68 | 83.65 |",
        "174 named classes",
        "only indices 0..173 are named",
        "resize the short side to 256",
        "normalise with mean [123.675, 116.28, 103.53]",
        "the shift groups every 8 frames",
        "@inproceedings{lin2019tsm",
        entry.url,
    ):
        assert text in card, text


# ---------------------------------------------------------------------------------------------------------
# CLI


def test_cli_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = randomized(tsm_models.create_model("tsm_r18", **ARGS), seed=7).state_dict()
    src = tmp_path / "mm.pth"
    torch.save(mmaction2_checkpoint(to_mmaction2_layout(source)), src)
    out = tmp_path / "out"
    argv = ["convert", str(src), "--model", "tsm_r18", "--out", str(out), "--num-segments", "4", "--num-classes", "6"]
    assert main(argv) == 2  # the checkpoint shifts in place; the default residual model does not fit
    assert not out.exists()
    model = tsm_models.create_model("tsm_r18", pretrained=src, **ARGS)  # sanity: the file itself is fine
    assert same_weights(model.state_dict(), source)
    capsys.readouterr()


def test_cli_convert_residual(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kwargs = dict(num_classes=6, num_segments=4)
    source = randomized(tsm_models.create_model("tsm_r18", **kwargs), seed=8).state_dict()
    src = tmp_path / "mm.pth"
    torch.save(mmaction2_checkpoint(to_mmaction2_layout(source)), src)
    out = tmp_path / "out"
    argv = ["convert", str(src), "--model", "tsm_r18", "--out", str(out), "--num-segments", "4", "--num-classes", "6"]
    assert main(argv) == 0
    assert f"-> {out}" in capsys.readouterr().out
    assert same_weights(tsm_models.from_pretrained(out).state_dict(), source)


def test_cli_convert_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    entry = ZOO["tsm_r50.mm0_8f_340x256_k400"]
    src_dir = tmp_path / "originals"
    src_dir.mkdir()
    sd = random_mmaction2_state_dict(50, 400, seed=11)
    torch.save(mmaction2_checkpoint(sd), src_dir / entry.filename)
    out = tmp_path / "hub"
    argv = ["convert-zoo", "--out", str(out), "--src-dir", str(src_dir), "--pattern", entry.name]
    assert main(argv) == 2  # a generated file cannot have the released sha256 prefix
    assert "does not match the released prefix af7fb746" in capsys.readouterr().err or not out.exists()
    assert not out.exists()
    # accept the file as if it were the released one: everything after the hash check runs for real
    monkeypatch.setattr("tsm_models.cli.convert_zoo.sha256_file", lambda path: entry.sha256_prefix + "0" * 56)
    assert main(argv) == 0
    assert f"{entry.name} -> {out / entry.name}" in capsys.readouterr().out
    assert sorted(p.name for p in (out / entry.name).iterdir()) == ["README.md", "config.json", "model.safetensors"]
    converted = load_file(str(out / entry.name / "model.safetensors"))
    assert torch.equal(converted["layer1.0.conv1.net.weight"], sd["backbone.layer1.0.conv1.conv.net.weight"])
    assert torch.equal(converted["fc.bias"], sd["cls_head.fc_cls.bias"])
    reloaded = tsm_models.from_pretrained(out / entry.name)
    assert reloaded.zoo_entry == entry and torch.equal(reloaded.fc.weight, sd["cls_head.fc_cls.weight"])
    assert main(["convert-zoo", "--out", str(out), "--pattern", "nothing*"]) == 2
