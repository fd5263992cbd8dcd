"""The public surface of the layered package: names as timm users expect them, deprecated spellings that still
work, one settings vocabulary, and the seams that used to break (features_only + pretrained, TypeErrors)."""

from __future__ import annotations

import warnings

import pytest
import timm
import torch

import tsm_models
from tsm_models import TSMConfig
from tsm_models.models import ZOO


def _ready(entry) -> bool:
    """Whether this branch has ``entry``'s architecture and settings (the families of issue 12 bring the rest)."""
    fields = set(TSMConfig.field_names()) | {"in_chans"}
    return timm.is_model(entry.arch) and set(entry.model_args) <= fields


READY = {name: e for name, e in ZOO.items() if _ready(e)}
PENDING = sorted(name for name in ZOO if name not in READY)


@pytest.mark.xfail(bool(PENDING), reason=f"zoo records of issue 12's families: {PENDING}", strict=True)
def test_every_zoo_architecture_is_here() -> None:
    assert PENDING == []


def test_timm_and_tsm_models_list_the_same_names() -> None:
    assert tsm_models.list_models() == sorted(timm.list_models("tsm*"))
    registered = [n for n in tsm_models.list_models(pretrained=True) if timm.is_model(ZOO[n].arch)]
    assert registered == sorted(timm.list_models("tsm*", pretrained=True))
    assert set(tsm_models.list_models(pretrained=True)) == set(ZOO)
    assert all("." in n for n in tsm_models.list_models(pretrained=True))


def test_every_checkpoint_is_an_arch_tag_and_its_aliases_resolve() -> None:
    for name, entry in ZOO.items():
        assert name == f"{entry.arch}.{entry.tag}" and (entry.arch in tsm_models.list_models() or name not in READY)
        for alias in entry.all_aliases:
            assert tsm_models.get_zoo_entry(alias) is entry, alias
    # the seed's user names are aliases
    assert tsm_models.get_zoo_entry("tsm_r50_1x1x8_kinetics400").name == "tsm_r50.mm0_8f_340x256_k400"
    assert tsm_models.get_zoo_entry("tsm_r50_1x1x8_50e_kinetics400_rgb_20200607-af7fb746") is tsm_models.get_zoo_entry(
        "tsm_r50.mm0_8f_340x256_k400"
    )  # the upstream file stem


def test_timm_builds_arch_tag_names_with_the_record() -> None:
    model = timm.create_model("tsm_r101.mm0_8f_c339_sthv2")
    assert model.zoo_entry is ZOO["tsm_r101.mm0_8f_c339_sthv2"]
    assert model.num_classes == 339 and model.tsm_config.shift_every == 2
    plain = timm.create_model("tsm_r101")  # the untagged name is the bare architecture
    assert plain.zoo_entry is None and plain.num_classes == 400


def test_pretrained_true_on_an_architecture_names_its_checkpoints() -> None:
    with pytest.raises(ValueError, match=r"arch\.tag.*tsm_r101\.mm0_8f_c339_sthv2"):
        tsm_models.create_model("tsm_r101", pretrained=True)


def test_one_config_vocabulary() -> None:
    model = tsm_models.create_model("tsm_r18", num_segments=4, shift_div=4, num_classes=3)
    assert model.tsm_config == TSMConfig(num_segments=4, shift_div=4, shift_every=1)
    unset = {"non_local", "non_local_blocks"}  # written only when set: a plain model's config reads as before
    assert set(model.tsm_config.to_dict()) == set(TSMConfig.field_names()) - unset
    config = tsm_models.models._hub.model_config(model)
    assert set(config["model_args"]) == {"num_classes", *TSMConfig.field_names()} - unset
    nl = tsm_models.create_model("tsm_r50", non_local="gaussian", num_classes=3)
    assert nl.tsm_config.to_dict()["non_local"] == "gaussian"
    for name, entry in READY.items():
        # in_chans: a timm constructor argument a checkpoint fixes (the original repo's 10-channel flow stem)
        shift_args = {k: v for k, v in entry.model_args.items() if k != "in_chans"}
        assert set(shift_args) <= set(TSMConfig.ARCHITECTURE_FIELDS), name
        TSMConfig(**shift_args)  # valid settings


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(num_segments="8"), TypeError, "num_segments must be an int"),
        (dict(num_segments=0), ValueError, "num_segments must be >= 1"),
        (dict(shift_place=1), TypeError, "shift_place must be a str"),
        (dict(shift_place="middle"), ValueError, "shift_place must be one of"),
        (dict(dropout="0.5"), TypeError, "dropout must be a float"),
        (dict(num_classes=2.5), TypeError, "num_classes must be an int"),
    ],
)
def test_wrong_types_raise_type_error_and_wrong_values_value_error(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        tsm_models.create_model("tsm_r18", **kwargs)


def test_type_errors_of_the_front_door() -> None:
    with pytest.raises(TypeError, match="model_name must be a str"):
        tsm_models.create_model(50)
    with pytest.raises(TypeError, match="pretrained must be"):
        tsm_models.create_model("tsm_r18", pretrained=3)
    with pytest.raises(TypeError, match=r"torch\.Tensor video"):
        tsm_models.create_model("tsm_r18")([1, 2, 3])


def test_cli_reports_a_bad_argument_as_one_line(caplog) -> None:
    from tsm_models.cli import main

    assert main(["export", "tsm_r18", "--onnx", "x.onnx", "--frames", "0"]) == 2
    assert [r.getMessage() for r in caplog.records] == ["--frames must be a positive int, got 0"]


def test_features_only_with_pretrained_loads_the_weights(tmp_path, tiny_tsm) -> None:
    source = tsm_models.create_model("tsm_r18", num_classes=4)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    source.save_pretrained(tmp_path / "saved")
    backbone = timm.create_model("tsm_r18", features_only=True, pretrained=tmp_path / "saved", num_segments=8)
    frames = torch.randn(8, 3, 32, 32)
    source.eval()
    backbone.eval()
    with torch.no_grad():
        want = source.forward_frame_features(frames)
        got = backbone(frames)[-1]
    torch.testing.assert_close(got, want)
    also = tsm_models.create_model("tsm_r18", features_only=True, pretrained=tmp_path / "saved")
    assert len(also(frames)) == 5


def test_deprecated_top_level_names_warn_and_still_work() -> None:
    with pytest.warns(DeprecationWarning, match="tsm_models.train.save_train_state"):
        save = tsm_models.save_checkpoint
    from tsm_models.train import resume_train_state, save_train_state

    assert save is save_train_state
    with pytest.warns(DeprecationWarning, match="resume_train_state"):
        assert tsm_models.load_checkpoint is resume_train_state
    with pytest.warns(DeprecationWarning, match="get_zoo_entry"):
        assert tsm_models.get_pretrained_cfg("tsm_r50_1x1x8_kinetics400") is tsm_models.get_zoo_entry(
            "tsm_r50_1x1x8_kinetics400"
        )
    with pytest.warns(DeprecationWarning):
        assert tsm_models.train_one_epoch is tsm_models.train.train_one_epoch
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        tsm_models.no_such_name  # noqa: B018
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new names do not warn
        assert tsm_models.create_model and tsm_models.get_zoo_entry and tsm_models.TSMConfig


def test_public_namespace_is_small() -> None:
    assert len(tsm_models.__all__) <= 30
    for name in tsm_models.__all__:
        assert hasattr(tsm_models, name)
