"""Converters: MMAction2 / original-TSM key layouts -> ours, strictness, and logit parity with MMAction2."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _weights_utils import (
    mmaction2_checkpoint,
    mmaction2_config_text,
    mmaction2_forward,
    mmaction2_shapes,
    random_mmaction2_state_dict,
    to_old_mmaction2_layout,
    to_original_tsm_layout,
)

import tsm_models
from tsm_models.models.convert import (
    check_config_text,
    convert_mmaction2_state_dict,
    convert_state_dict,
    convert_tsm_state_dict,
    detect_layout,
    parse_config_text,
)

# Key tables of research/mmaction2_tsm.md §2.2 (generated from the MMAction2 v0.6.0 module structure).
KEY_TABLES = Path(__file__).parent / "data" / "weights"
_PLACES = {"blockres": "residual", "block": "inplace"}


def _meta_model(arch: str, **kwargs: object) -> tsm_models.TSM:
    with torch.device("meta"):
        return tsm_models.create_model(arch, **kwargs)


def _meta_state_dict(depth: int, num_classes: int, place: str = "blockres") -> dict[str, torch.Tensor]:
    return {k: torch.empty(s, device="meta") for k, s in mmaction2_shapes(depth, num_classes, place).items()}


# ---------------------------------------------------------------------------------------------------------
# Parity: converted weights in our model reproduce an independent MMAction2 forward.

# (model name, extra kwargs, depth, backbone num_segments, MMAction2 shift place, frames fed, classes, config segs)
PARITY_CASES = [
    ("tsm_r50_1x1x8_kinetics400", {}, 50, 8, "blockres", 8, 400, None),
    ("tsm_r50", {}, 50, 8, "block", 8, 400, 8),
    ("tsm_r50", {}, 50, 16, "blockres", 16, 400, 16),
    ("tsm_r50", {}, 50, 16, "block", 16, 400, 16),
    ("tsm_r50_1x1x16_sthv2", {}, 50, 8, "blockres", 16, 339, None),  # June-2020 16 frames, groups of 8
    ("tsm_r101_1x1x8_sthv2", {}, 101, 8, "blockres", 8, 339, None),  # shifts every 2nd block
    ("tsm_r101", {}, 101, 8, "block", 8, 174, 8),
    ("tsm_r101", {}, 101, 16, "blockres", 16, 174, 16),
    ("tsm_r101", {}, 101, 16, "block", 16, 174, 16),
]


@pytest.mark.parametrize(
    "name,kwargs,depth,segments,place,frames,classes,config_segments",
    PARITY_CASES,
    ids=[f"{c[0]}-seg{c[3]}-{c[4]}-T{c[5]}" for c in PARITY_CASES],
)
def test_parity_with_mmaction2_forward(
    tmp_path: Path,
    name: str,
    kwargs: dict,
    depth: int,
    segments: int,
    place: str,
    frames: int,
    classes: int,
    config_segments: int | None,
) -> None:
    sd = random_mmaction2_state_dict(depth, classes, place, seed=depth + segments + frames)
    path = tmp_path / "mmaction2.pth"
    torch.save(mmaction2_checkpoint(sd, mmaction2_config_text(depth, classes, config_segments, place)), path)
    if name in ("tsm_r50", "tsm_r101"):
        kwargs = dict(num_segments=segments, shift_place=_PLACES[place], num_classes=classes)
    model = tsm_models.create_model(name, pretrained=str(path), **kwargs).eval()
    video = torch.randn(1, frames, 3, 32, 32, generator=torch.Generator().manual_seed(frames))
    with torch.no_grad():
        expected = mmaction2_forward(sd, video, depth, segments, place)
        got = model(video)
    assert got.shape == expected.shape == (1, classes)
    tol = 1e-4 * expected.abs().max().item()
    assert (got - expected).abs().max().item() <= tol
    if depth == 50:  # the comparison sees the shift: reversing time changes the reference by far more than tol
        with torch.no_grad():
            assert (model(video.flip(1)) - expected).abs().max().item() > 100 * tol


@pytest.mark.parametrize("layout", ["old_mmaction2", "original_tsm"])
def test_parity_other_layouts(tmp_path: Path, layout: str) -> None:
    sd = random_mmaction2_state_dict(50, 7, seed=3)
    other = to_old_mmaction2_layout(sd) if layout == "old_mmaction2" else to_original_tsm_layout(sd)
    path = tmp_path / "ckpt.pth"
    ckpt = {"meta": {}, "state_dict": other} if layout == "old_mmaction2" else {"epoch": 50, "state_dict": other}
    torch.save(ckpt, path)
    model = tsm_models.create_model("tsm_r50", pretrained=path, num_classes=7).eval()
    video = torch.randn(1, 8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = mmaction2_forward(sd, video, 50, 8)
        assert (model(video) - expected).abs().max().item() <= 1e-4 * expected.abs().max().item()


# ---------------------------------------------------------------------------------------------------------
# Key tables


def _read_table(path: Path, num_classes: int) -> list[tuple[str, str, tuple[int, ...]]]:
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#") or line.startswith("mmaction2_key") or not line.strip():
            continue
        mm, timm_key, shape = [*line.split("\t"), ""][:3]
        dims = tuple(num_classes if d == "NUM_CLASSES" else int(d) for d in shape.split("x")) if shape else ()
        rows.append((mm, timm_key, dims))
    return rows


@pytest.mark.parametrize("depth", [50, 101])
def test_research_key_table(depth: int) -> None:
    rows = _read_table(KEY_TABLES / f"mmaction2_tsm_keymap_r{depth}.tsv", 339)
    sd = {mm: torch.empty(shape, device="meta") for mm, _, shape in rows}
    assert set(sd) == set(mmaction2_shapes(depth, 339))  # the test generator agrees with the table
    model = _meta_model(f"tsm_r{depth}", num_classes=339)
    out = convert_mmaction2_state_dict(sd, target=model.state_dict())
    for mm, timm_key, _ in rows:
        ours = timm_key.replace("conv1.weight", "conv1.net.weight") if ".conv.net." in mm else timm_key
        assert out[ours] is sd[mm]
    assert sum(".net." in k for k in out) == (16 if depth == 50 else 18)


@pytest.mark.parametrize("place", ["blockres", "block"])
def test_all_layouts_give_the_same_tensors(place: str) -> None:
    sd = _meta_state_dict(50, 400, place)
    target = _meta_model("tsm_r50", shift_place=_PLACES[place]).state_dict()
    mm = convert_mmaction2_state_dict(sd, target)
    old = convert_mmaction2_state_dict(to_old_mmaction2_layout(sd), target)
    tsm = convert_tsm_state_dict(to_original_tsm_layout(sd), target)
    assert set(mm) == set(old) == set(tsm) == set(target)
    assert all(mm[k] is old[k] is tsm[k] for k in mm)
    assert convert_state_dict(to_original_tsm_layout(sd), target=target).keys() == mm.keys()  # detected


def test_detect_layout() -> None:
    assert detect_layout({"backbone.conv1.conv.weight": 0, "cls_head.fc_cls.bias": 0}) == "mmaction2"
    assert detect_layout({"module.base_model.conv1.weight": 0, "module.new_fc.bias": 0}) == "tsm"
    assert detect_layout({"conv1.weight": 0, "fc.bias": 0}) == "tsm_models"
    with pytest.raises(ValueError, match="unrecognised checkpoint keys"):
        detect_layout({"encoder.blocks.0.attn.qkv.weight": 0})
    with pytest.raises(ValueError, match="no weights"):
        detect_layout({"data_preprocessor.mean": 0})


def test_data_preprocessor_is_ignored() -> None:
    sd = _meta_state_dict(50, 400)
    sd["data_preprocessor.mean"] = torch.zeros(3, 1, 1)
    out = convert_mmaction2_state_dict(sd, _meta_model("tsm_r50").state_dict())
    assert not any(k.rsplit(".", 1)[-1] == "mean" for k in out)


# ---------------------------------------------------------------------------------------------------------
# Strictness


@pytest.fixture(scope="module")
def r50_target() -> dict[str, torch.Tensor]:
    return _meta_model("tsm_r50").state_dict()


def test_missing_key_is_listed(r50_target: dict) -> None:
    sd = _meta_state_dict(50, 400)
    del sd["backbone.layer2.1.conv2.conv.weight"]
    with pytest.raises(ValueError, match=r"1 model key\(s\) are missing from the checkpoint: \[layer2\.1\.conv2\."):
        convert_mmaction2_state_dict(sd, r50_target)


def test_unknown_and_extra_keys_are_listed(r50_target: dict) -> None:
    sd = _meta_state_dict(50, 400)
    sd["backbone.layer5.0.conv1.conv.weight"] = torch.empty(1, device="meta")  # no rule places it
    sd["backbone.layer1.0.conv4.conv.weight"] = torch.empty(1, device="meta")  # renamed, but not in the model
    with pytest.raises(ValueError) as info:
        convert_mmaction2_state_dict(sd, r50_target)
    msg = str(info.value)
    assert "1 checkpoint key(s) have no place in the model: [backbone.layer5.0.conv1.conv.weight]" in msg
    assert "backbone.layer1.0.conv4.conv.weight -> layer1.0.conv4.weight" in msg


def test_wrong_shape_names_the_source_key(r50_target: dict) -> None:
    sd = _meta_state_dict(50, 400)
    sd["backbone.layer3.0.conv2.conv.weight"] = torch.empty(256, 256, 1, 1, device="meta")
    with pytest.raises(ValueError, match=r"shape of 'backbone\.layer3\.0\.conv2\.conv\.weight': checkpoint"):
        convert_mmaction2_state_dict(sd, r50_target)


def test_shift_pattern_mismatch_is_explained() -> None:
    sd = _meta_state_dict(101, 400)  # MMAction2 R101: every 2nd block shifted
    target = _meta_model("tsm_r101", shift_every=1).state_dict()
    with pytest.raises(ValueError, match=r"differ by '\.net'"):
        convert_mmaction2_state_dict(sd, target)


def test_unconvertible_keys_without_target() -> None:
    with pytest.raises(ValueError, match="could not be converted"):
        convert_mmaction2_state_dict({"backbone.conv1.conv.weight": torch.zeros(1), "backbone.head.x": torch.zeros(1)})


# ---------------------------------------------------------------------------------------------------------
# meta['config']


def test_parse_config_text() -> None:
    text = mmaction2_config_text(101, 339, 16, "block")
    assert parse_config_text(text) == dict(
        num_segments=16, num_classes=339, depth=101, shift_div=8, shift_place="inplace"
    )
    assert "num_segments" not in parse_config_text("a = dict(num_segments=8)\nb = dict(num_segments=16)")


def test_check_config_text() -> None:
    june_16f = mmaction2_config_text(50, 400, None)  # backbone default: 8 segments
    check_config_text(june_16f, dict(num_segments=8, num_classes=400, depth=50, shift_place="residual"))
    with pytest.raises(ValueError, match=r"num_segments=8 \(model: 16\)"):
        check_config_text(june_16f, dict(num_segments=16))
    with pytest.raises(ValueError, match=r"num_classes=400 \(model: 174\).*depth=50 \(model: 101\)"):
        check_config_text(june_16f, dict(num_classes=174, depth=101))
