"""Grad-CAM: the heatmap sits where the evidence is (a patch in one corner decides the class), any layer,
bad targets, the ``cam`` command's outputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from _apps_utils import SMALL, ZOO_NAME, tiny_model

from tsm_models.apps.cam import cam_video, colorize, grad_cam, overlay
from tsm_models.cli import _shared, main
from tsm_models.data.transforms import normalize

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE, PATCH, T = 64, 20, 2
PROTOCOL = dataclasses.replace(SMALL, resize_short=SIZE, crop_size=SIZE, num_frames=T)


def patch_clips(present: torch.Tensor, corners: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Uint8-range clips ``(B, T, 3, S, S)``: grey noise, with a yellow patch in a corner for class 1 (absent for
    class 0); corner 0 top left, 1 top right, 2 bottom left, 3 bottom right."""
    g = torch.Generator().manual_seed(seed)
    x = 115 + 30 * torch.rand(len(present), T, 3, SIZE, SIZE, generator=g)
    for i, (c, k) in enumerate(zip(present.tolist(), corners.tolist(), strict=True)):
        top, left = (k // 2) * (SIZE - PATCH), (k % 2) * (SIZE - PATCH)
        if c:
            x[i, :, :, top : top + PATCH, left : left + PATCH] = torch.tensor([255.0, 200.0, 40.0])[:, None, None]
    return x


@pytest.fixture(scope="module")
def trained():
    # output_stride=8: an 8x8 last-stage map at 64 px (a plain stride-32 net has 2x2 cells whose receptive fields
    # each cover the whole frame)
    model = tiny_model(num_classes=2, protocol=PROTOCOL, num_segments=T, output_stride=8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    model.train()
    for step in range(40):
        present = torch.randint(0, 2, (8,), generator=g)
        x = normalize(patch_clips(present, torch.randint(0, 4, (8,), generator=g), seed=step).flatten(0, 1))
        loss = torch.nn.functional.cross_entropy(model(x.unflatten(0, (8, T))), present)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    present, corners = torch.tensor([0, 1, 0, 1, 1, 1]), torch.tensor([0, 3, 1, 2, 0, 1])
    x = normalize(patch_clips(present, corners, seed=99).flatten(0, 1)).unflatten(0, (6, T))
    with torch.no_grad():
        assert (model(x).argmax(1) == present).all(), "the tiny model did not learn the patch task"
    return model


def corner_mass(heat: torch.Tensor, corner: int) -> float:
    half = SIZE // 2
    top, left = (corner // 2) * half, (corner % 2) * half
    return float(heat[:, top : top + half, left : left + half].sum() / heat.sum())


@pytest.mark.parametrize("corner", [0, 1, 2, 3])
def test_heatmap_mass_is_in_the_corner_with_the_evidence(trained, corner):
    x = normalize(patch_clips(torch.tensor([1]), torch.tensor([corner]), seed=5).flatten(0, 1))
    heat = grad_cam(trained, x, target=1)  # default layer: the last stage
    assert heat.shape == (T, SIZE, SIZE) and float(heat.min()) >= 0 and float(heat.max()) == pytest.approx(1.0)
    assert corner_mass(heat, corner) > 0.6  # a quarter of the picture holds most of the map (uniform: 0.25)
    other = grad_cam(trained, x, target=1, layer="layer3")  # any submodule of per-frame maps
    assert corner_mass(other, corner) > 0.6


def test_video_input_targets_and_bad_targets(trained, tmp_path):
    clip = patch_clips(torch.tensor([1]), torch.tensor([3]))[0].permute(0, 2, 3, 1).round().to(torch.uint8).numpy()
    names = ["empty", "patch"]
    result = cam_video(trained, clip, labels=names)  # a decoded video: the protocol samples and crops it
    assert (result.target, result.label) == (1, "patch") and result.probability > 0.5
    assert result.frames.shape == (T, SIZE, SIZE, 3) and corner_mass(result.heatmaps, 3) > 0.6
    assert cam_video(trained, clip, target="empty", labels=names).target == 0
    with pytest.raises(ValueError, match=r"unknown target label 'patsh' .*did you mean 'patch'"):
        cam_video(trained, clip, target="patsh", labels=names)
    with pytest.raises(ValueError, match="target class 7 out of range"):
        grad_cam(trained, torch.zeros(T, 3, SIZE, SIZE), target=7)
    over = overlay(result.frames, result.heatmaps.numpy())
    assert over.shape == result.frames.shape and over.dtype == np.uint8
    assert colorize(np.array([0.0, 1.0])).tolist() == [[0, 0, 128], [128, 0, 0]]


def test_cli_outputs_and_bad_target(tmp_path, monkeypatch, caplog):
    from _video_utils import write_video

    video = write_video(tmp_path / "v.mp4", 16)
    monkeypatch.setattr(_shared, "create_model", lambda name, pretrained=False, **kw: tiny_model())
    for name in ("cam.gif", "cam.png", "cam.mp4"):
        assert main(["cam", str(video), "-m", ZOO_NAME, "--out", str(tmp_path / name), "--target", "abseiling"]) == 0
        assert (tmp_path / name).stat().st_size > 0
    assert main(["cam", str(video), "-m", ZOO_NAME, "--out", str(tmp_path / "x.gif"), "--target", "abseilin"]) == 2
    assert "unknown target label 'abseilin'" in caplog.text and "did you mean 'abseiling'" in caplog.text
    assert main(["cam", str(video), "-m", ZOO_NAME, "--out", str(tmp_path / "x.gif"), "--layer", "nope"]) == 2
    assert not (tmp_path / "x.gif").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam.gif", "cam.mp4", "cam.png", "v.mp4"]


def _smallest_arch_per_family() -> list[str]:
    """One architecture per registered TSM family (timm module), the smallest by the numbers in its name."""
    import re

    import timm

    names = []
    for module in sorted(m for m in timm.list_modules() if m.startswith("tsm_")):
        archs = timm.list_models(module=module)
        if archs:
            names.append(min(archs, key=lambda a: (tuple(int(n) for n in re.findall(r"\d+", a)), a)))
    return names


@pytest.mark.parametrize("arch", _smallest_arch_per_family())
def test_every_family_gives_a_map_with_the_default_layer(arch):
    from tsm_models.models import create_model

    model = create_model(arch, pretrained=False, num_classes=3, num_segments=2).eval()
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    heat = grad_cam(model, x, target=1)
    assert heat.shape == (2, SIZE, SIZE) and torch.isfinite(heat).all()
    assert float(heat.min()) >= 0 and float(heat.max()) <= 1
