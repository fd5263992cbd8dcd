"""TSM on timm ResNets: architectures, zoo builds, timm surface, shift placement, bad input."""

from __future__ import annotations

import copy

import pytest
import timm
import torch
from _helpers import randomize_

import tsm_models
from tsm_models import TSM, TemporalShift, TSMConfig
from tsm_models.models import adapt_2d_state_dict, remove_temporal_shift, shifted_modules
from tsm_models.models.tsm_resnet import RESNET_ARGS


@pytest.mark.parametrize("name", list(RESNET_ARGS))
def test_every_architecture_builds_and_runs(name: str, video) -> None:
    model = tsm_models.create_model(name, num_segments=4, num_classes=7).eval()
    assert isinstance(model, TSM)
    with torch.no_grad():
        out = model(video(b=2, t=4, size=32))
    assert out.shape == (2, 7)
    assert model.num_classes == 7 and model.pretrained_cfg["architecture"] == name


@pytest.mark.parametrize("name", tsm_models.list_models(pretrained=True))
def test_every_zoo_entry_builds_with_its_settings(name: str, video) -> None:
    entry = tsm_models.get_zoo_entry(name)
    model = tsm_models.create_model(name).eval()
    assert model.num_classes == entry.num_classes
    expected = TSMConfig(**entry.model_args)  # the record's settings; shift_every=None: MMAction2's rule
    assert model.num_segments == expected.num_segments
    assert model.shift_every == (expected.shift_every or (2 if entry.arch == "tsm_r101" else 1))
    assert model.zoo_entry is entry and model.pretrained_cfg["tag"] == entry.tag
    frames = entry.protocol.num_frames  # 16-frame entries shift in groups of num_segments=8
    with torch.no_grad():
        out = model(video(b=1, t=frames, size=32))
    assert out.shape == (1, entry.num_classes)
    assert model.pretrained_cfg["hf_hub_id"] == entry.hf_hub_id


@pytest.mark.parametrize(
    ("name", "place", "expected"),
    [
        ("tsm_r50", "residual", 16),
        ("tsm_r101", "residual", 18),
        ("tsm_r101", "inplace", 33),
        ("tsm_r18", "residual", 8),
    ],
)
def test_number_of_shifted_blocks(name: str, place: str, expected: int) -> None:
    model = tsm_models.create_model(name, shift_place=place)
    assert model.num_shifted == expected == len(shifted_modules(model))


def test_r101_shifts_even_blocks_only() -> None:
    model = tsm_models.create_model("tsm_r101")
    names = {n for n, _ in shifted_modules(model)}
    assert "layer3.0.conv1" in names and "layer3.22.conv1" in names and "layer3.1.conv1" not in names
    assert {k for k in model.state_dict() if ".net." in k} == {n + ".net.weight" for n in names}


def test_fold_sizes_follow_block_input_channels() -> None:
    model = tsm_models.create_model("tsm_r50")
    folds = {name: m.fold for name, m in shifted_modules(model)}
    assert folds["layer1.0.conv1"] == 8 and folds["layer1.1.conv1"] == 32 and folds["layer4.2.conv1"] == 256


@pytest.mark.parametrize("place", ["residual", "inplace"])
@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_frame_order_matters_for_tsm_but_not_tsn(tiny_tsm, video, place: str, block: str) -> None:
    tsm = tiny_tsm(block, shift_place=place)
    tsn = copy.deepcopy(tsm)
    assert remove_temporal_shift(tsn) == tsm.num_shifted
    x = video(b=2, t=4, size=32)
    rev = x.flip(1)
    with torch.no_grad():
        tsm_out, tsm_rev = tsm(x), tsm(rev)
        tsn_out, tsn_rev = tsn(x), tsn(rev)
    assert torch.allclose(tsn_out, tsn_rev, atol=1e-6)
    assert (tsm_out - tsm_rev).abs().max() > 1e-3 * tsm_out.abs().max()


@pytest.mark.parametrize("place", ["residual", "inplace"])
def test_imagenet_shaped_weights_load_strictly(place: str) -> None:
    plain = randomize_(timm.create_model("resnet18", num_classes=5)).eval()
    model = tsm_models.create_model("tsm_r18", num_classes=5, num_segments=1, shift_place=place).eval()
    missing = model.load_state_dict(adapt_2d_state_dict(plain.state_dict(), model), strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in plain.parameters())
    # the loaded weights are the plain network's: without its shifts the TSM is a per-frame ResNet
    x = torch.randn(3, 3, 32, 32)
    tsn = copy.deepcopy(model)
    remove_temporal_shift(tsn)
    with torch.no_grad():
        assert torch.allclose(tsn(x.unsqueeze(0)), plain(x).mean(0, keepdim=True), atol=1e-5)


def test_timm_model_surface(tiny_tsm, video) -> None:
    model = tiny_tsm("bottleneck")
    x = video(b=2, t=8, size=32)
    feats = model.forward_features(x)
    assert feats.shape[:2] == (2, 8) and feats.shape[2] == model.num_features
    logits = model.forward_head(feats)
    pre = model.forward_head(feats, pre_logits=True)
    assert pre.shape == (2, model.num_features)
    assert torch.allclose(model.fc(pre), logits, atol=1e-5)
    assert torch.allclose(model(x), logits)
    assert model.get_classifier() is model.fc
    model.reset_classifier(3)
    assert model(x).shape == (2, 3) and model.num_classes == 3
    assert model.fc.weight.std() < 0.01  # TSMHead init: N(0, 0.001)


def test_forward_intermediates_of_a_video(tiny_tsm, video) -> None:
    model = tiny_tsm("basic")
    x = video(b=2, t=8, size=32)
    final, maps = model.forward_intermediates(x)
    assert [tuple(m.shape) for m in maps] == [(2, 8, c, s, s) for c, s in ((64, 16), (8, 8), (16, 4), (32, 2), (64, 1))]
    assert torch.equal(final, model.forward_features(x))
    assert torch.allclose(model.forward_head(final), model(x))
    # frames (B * T, C, H, W) go to timm as they are: the same maps, flattened
    only = model.forward_intermediates(x.flatten(0, 1), intermediates_only=True, indices=2)
    assert all(torch.equal(a, b.flatten(0, 1)) for a, b in zip(only, maps[-2:], strict=True))
    with pytest.raises(ValueError, match="multiple of num_segments"):
        model.forward_intermediates(video(b=1, t=3, size=32))


def test_features_only_shifts_across_frames() -> None:
    """``features_only`` backbones keep the shift: a change to one frame reaches exactly the frames it should."""
    torch.manual_seed(0)
    backbone = timm.create_model("tsm_r18", features_only=True, num_segments=8, out_indices=(1, 4))
    randomize_(backbone).eval()  # timm zero-inits each block's last BN, which would silence the residual shift
    frames = torch.randn(8, 3, 64, 64)  # one video of 8 frames, (B * T, 3, H, W)
    other = frames.clone()
    other[1] += 1  # change frame 1 only
    with torch.no_grad():
        a, b = backbone(frames), backbone(other)
    assert [tuple(f.shape) for f in a] == [(8, 64, 16, 16), (8, 512, 2, 2)]
    changed = [not torch.equal(x, y) for x, y in zip(a[0], b[0], strict=True)]
    assert changed == [True] * 4 + [False] * 4  # layer1's two shifted blocks reach 2 frames each way
    assert not torch.allclose(a[1][7], b[1][7])  # 8 shifted blocks reach across the whole clip


def test_gradient_checkpointing_gives_same_gradients(tiny_tsm, video) -> None:
    model = tiny_tsm("basic").train()
    x = video(b=1, t=4, size=32)
    twin = copy.deepcopy(model)
    twin.set_grad_checkpointing(True)
    torch.manual_seed(0)
    model(x).sum().backward()
    torch.manual_seed(0)
    twin(x).sum().backward()
    g1 = model.get_submodule("layer1.0.conv1.net").weight.grad
    g2 = twin.get_submodule("layer1.0.conv1.net").weight.grad
    assert g1 is not None and g1.abs().sum() > 0 and torch.allclose(g1, g2, atol=1e-6)


def test_online_shift_is_causal(tiny_tsm, video) -> None:
    model = tiny_tsm("basic", shift_direction="online")
    x = video(b=1, t=4, size=32)
    y = x.clone()
    y[:, 3] += 1.0  # change only the last frame
    with torch.no_grad():
        fa = model.forward_features(x)
        fb = model.forward_features(y)
    assert torch.allclose(fa[:, :3], fb[:, :3])  # earlier frames cannot see the future
    assert not torch.allclose(fa[:, 3], fb[:, 3])


def test_inplace_shift_wraps_whole_blocks() -> None:
    model = tsm_models.create_model("tsm_r50", shift_place="inplace")
    assert isinstance(model.layer1[0], TemporalShift)
    assert "layer1.0.net.conv1.weight" in model.state_dict()


def test_torch_compile_matches_eager(tiny_tsm, video) -> None:
    model = tiny_tsm("basic")
    x = video(b=1, t=4, size=32)
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x), atol=1e-5)


def test_timm_create_model_knows_every_name() -> None:
    for name in [*tsm_models.list_models(), *tsm_models.list_models(pretrained=True)]:
        assert timm.is_model(name)
    model = timm.create_model("tsm_r50.mm0_16f_seg8_c339_sthv2")
    assert model.num_classes == 339 and model.num_segments == 8
    # aliases (upstream config names, older names) are resolved by tsm_models, not registered with timm
    assert not timm.is_model("tsm_r50_1x1x16_50e_sthv2_rgb")
    assert tsm_models.create_model("tsm_r50_1x1x16_50e_sthv2_rgb").zoo_entry is model.zoo_entry


def test_fine_tuning_num_classes_override_on_zoo_name() -> None:
    model = tsm_models.create_model("tsm_r50_1x1x8_sthv1", num_classes=10, dropout=0.2)
    assert model.num_classes == 10 and model.drop_rate == 0.2


@pytest.mark.parametrize(
    ("shape", "match"),
    [((2, 3, 32, 32), "5-D video tensor"), ((1, 4, 1, 32, 32), "3 channels"), ((1, 6, 3, 32, 32), "multiple of")],
)
def test_bad_video_shapes(tiny_tsm, shape: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny_tsm("basic")(torch.randn(*shape))


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("tsm_r50_1x1x8_kinetics", {}, "Closest matches: tsm_r50_1x1x8_kinetics400"),
        ("resnet50", {}, "unknown model name"),
        ("tsm_r50_1x1x8_kinetics400", dict(num_segments=16), "trained with num_segments=8"),
        ("tsm_r101_1x1x8_sthv2", dict(shift_every=1), "trained with shift_every=2"),
        ("tsm_r50_1x1x8_sthv1", dict(shift_place="inplace"), "trained with shift_place='residual'"),
        ("tsm_r50", dict(shift_div=128), "larger than the 64 channels"),
        ("tsm_r50", dict(shift_place="middle"), "shift_place must be one of"),
        ("tsm_r50", dict(dropout=1.5), "dropout must be in"),
    ],
)
def test_bad_model_arguments(name: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tsm_models.create_model(name, **kwargs)


def test_get_pretrained_cfg_errors() -> None:
    with pytest.raises(ValueError, match="architecture without a zoo record"):
        tsm_models.get_zoo_entry("tsm_r101")
    with pytest.raises(ValueError, match="Closest matches"):
        tsm_models.get_zoo_entry("tsm_r50_1x1x8_sthv3")
