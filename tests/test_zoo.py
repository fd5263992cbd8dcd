"""The zoo registry: record invariants, labels, aliases, the generated MODEL_ZOO.md, the CLI views of it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tsm_models
from tsm_models import ZOO, load_labels
from tsm_models.cli import main
from tsm_models.models.zoo import aliases, find_entry
from tsm_models.tools.zoo_doc import zoo_markdown

ROOT = Path(__file__).resolve().parents[1]
SEED_NAMES = {
    "tsm_r50_1x1x8_kinetics400",
    "tsm_r50_video_1x1x8_kinetics400",
    "tsm_r50_dense_1x1x8_kinetics400",
    "tsm_r50_1x1x16_kinetics400",
    "tsm_r50_1x1x8_sthv1",
    "tsm_r50_1x1x16_sthv2",
    "tsm_r101_1x1x8_sthv2",
}


def test_zoo_has_the_seven_seed_checkpoints() -> None:
    assert {find_entry(name).name for name in SEED_NAMES} <= set(ZOO) == set(tsm_models.list_models(pretrained=True))
    assert len({find_entry(name).name for name in SEED_NAMES}) == 7  # seven distinct records under the seed's names


@pytest.mark.parametrize("entry", list(ZOO.values()), ids=list(ZOO))
def test_entry_invariants(entry) -> None:
    # the 8 hex digits of the file name are the recorded sha256 prefix; the file name carries the config name
    match = re.fullmatch(r"(.+)_(\d{8})-([0-9a-f]{8})\.pth", entry.filename)
    assert match and match.group(3) == entry.sha256_prefix
    assert match.group(2) == entry.released.replace("-", "")
    assert entry.url.startswith("https://")
    assert any(name in entry.url for name in (entry.config, *entry.aliases))
    assert len(load_labels(entry.dataset)) == entry.num_labels <= entry.num_classes
    assert entry.protocol.num_frames % tsm_models.TSMConfig(**entry.model_args).num_segments == 0
    assert entry.metrics is not None and 0 < entry.metrics.top1 < entry.metrics.top5 < 100
    assert entry.recipe is not None and entry.recipe.weight_decay in (1e-4, 5e-4)
    assert tsm_models.get_zoo_entry(entry.config) is entry
    assert entry.arch in tsm_models.list_models("tsm_r*")


def test_recorded_quirks_of_the_2020_checkpoints() -> None:
    assert ZOO["tsm_r101.mm0_8f_c339_sthv2"].model_args["shift_every"] == 2
    for name in ("tsm_r50_1x1x16_kinetics400", "tsm_r50_1x1x16_sthv2"):
        entry = find_entry(name)
        assert tsm_models.TSMConfig(**entry.model_args).num_segments == 8 and entry.protocol.num_frames == 16
    for name in ("tsm_r50_1x1x16_sthv2", "tsm_r101_1x1x8_sthv2"):
        assert find_entry(name).num_classes == 339 and find_entry(name).num_labels == 174
    dense = ZOO["tsm_r50.mm0_8f_dense_340x256_k400"].protocol
    assert (dense.sampling, dense.num_clips) == ("dense", 10)


def test_label_lists_are_packaged() -> None:
    assert len(load_labels("kinetics400")) == 400
    assert load_labels("sthv2")[0] == "Approaching something with your camera"
    assert set(load_labels("sthv1")) == set(load_labels("sthv2"))
    with pytest.raises(ValueError, match="expected one of"):
        load_labels("ucf101")


def test_read_labels_from_a_set_name_or_a_file(tmp_path: Path) -> None:
    assert tsm_models.labels.read_labels("sthv1") == load_labels("sthv1")
    (tmp_path / "names.txt").write_text("wave\n\n clap \n")
    assert tsm_models.labels.read_labels(str(tmp_path / "names.txt")) == ["wave", "clap"]
    with pytest.raises(FileNotFoundError, match="expected one of"):
        tsm_models.labels.read_labels(str(tmp_path / "missing.txt"))
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="holds no class names"):
        tsm_models.labels.read_labels(str(tmp_path / "empty.txt"))


def test_aliases_resolve_to_zoo_names() -> None:
    table = aliases()
    assert table["tsm_r50_1x1x8_50e_kinetics400_rgb"] == table["tsm_r50_1x1x8_kinetics400"]
    assert table["tsm_r50_1x1x8_kinetics400"] == "tsm_r50.mm0_8f_340x256_k400"
    assert table["tsm_r50_video_1x1x8_100e_kinetics400_rgb"] == table["tsm_r50_video_1x1x8_kinetics400"]
    assert all(table[n] in ZOO for n in SEED_NAMES)
    # every entry: its seed name (if any), its config name(s) and its file stem
    assert len(table) == sum(len(e.all_aliases) for e in ZOO.values())


def test_list_models_filters() -> None:
    assert tsm_models.list_models("*sthv2*", pretrained=True) == [
        "tsm_r101.mm0_8f_c339_sthv2",
        "tsm_r50.mm0_16f_seg8_c339_sthv2",
    ]
    assert "tsm_r18" in tsm_models.list_models() and "tsm_r18" not in tsm_models.list_models(pretrained=True)


def test_model_zoo_md_is_generated_from_the_registry() -> None:
    committed = (ROOT / "MODEL_ZOO.md").read_text(encoding="utf-8")
    assert committed == zoo_markdown(), (
        "MODEL_ZOO.md is stale: run `python -m tsm_models zoo --markdown > MODEL_ZOO.md`"
    )
    for entry in ZOO.values():
        assert entry.name in committed and entry.url in committed


def test_cli_zoo_markdown_via_python_m() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tsm_models", "zoo", "--markdown"], capture_output=True, text=True, check=True
    )
    assert out.stdout == zoo_markdown()


def test_cli_list_and_info(capsys) -> None:
    assert main(["list", "*sthv1*", "--pretrained"]) == 0
    assert capsys.readouterr().out.split() == ["tsm_r50.mm0_8f_200616_sthv1"]
    assert main(["info", "tsm_r101_1x1x8_50e_sthv2_rgb"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["name"] == "tsm_r101.mm0_8f_c339_sthv2" and record["model_args"]["shift_every"] == 2
    assert main(["info", "tsm_r7"]) == 2
    assert main(["zoo", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 7
