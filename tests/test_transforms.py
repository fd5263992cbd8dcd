"""Clip transforms: MMAction2 geometry (resize rounding, crop offsets, MultiScaleCrop), flip labels, pipelines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsm_models.data.transforms import (
    VideoTransform,
    center_crop,
    create_transform,
    flip,
    flip_label_map,
    multi_scale_crop,
    multi_scale_crop_box,
    normalize,
    resize,
    resize_short,
    three_crop,
)
from tsm_models.models.zoo import MEAN_255, STD_255, ZOO
from tsm_models.models.zoo import ClipProtocol as Protocol


def coords(t: int, h: int, w: int) -> torch.Tensor:
    """Float clip (T, 3, H, W) whose channels hold (frame, row, column) of each pixel."""
    tt, yy, xx = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([tt, yy, xx], dim=1).float()


def test_resize_short_rounding():
    # MMAction2: factor = 256 / short side, new sides int(side * factor + 0.5)
    assert resize_short(torch.zeros(2, 3, 100, 176, dtype=torch.uint8), 256).shape == (2, 3, 256, 451)
    assert resize_short(torch.zeros(1, 3, 47, 65), 256).shape == (1, 3, 256, 354)
    assert resize_short(torch.zeros(1, 3, 340, 256), 256).shape == (1, 3, 340, 256)
    x = torch.randint(0, 256, (2, 3, 256, 340), dtype=torch.uint8)
    assert torch.equal(resize_short(x, 256), x)  # already at size: untouched


def test_resize_is_bilinear_without_antialias():
    x = torch.rand(2, 3, 8, 12) * 255
    # half-pixel bilinear at exactly 1/2 scale = mean of each 2x2 block (antialiasing would blur wider)
    expected = x.unfold(-2, 2, 2).unfold(-2, 2, 2).mean((-1, -2))
    assert torch.allclose(resize(x, (4, 6)), expected, atol=1e-4)
    u8 = resize((x).round().to(torch.uint8), (4, 6))
    assert u8.dtype == torch.uint8


@pytest.mark.parametrize(
    ("src", "dst"),
    [((480, 640), (256, 341)), ((1080, 1920), (256, 455)), ((100, 176), (256, 451)), ((256, 340), (224, 224))],
)
def test_resize_matches_opencv(src, dst):
    """MMAction2 resizes with ``cv2.resize(..., INTER_LINEAR)``: same sampling grid, uint8 within one grey level."""
    import cv2  # opencv-python-headless, in the dev extra

    rng = np.random.default_rng(sum(src))
    img = rng.integers(0, 256, (*src, 3), dtype=np.uint8)
    nh, nw = dst

    def ours(a: np.ndarray) -> np.ndarray:
        return resize(torch.from_numpy(a).permute(2, 0, 1)[None], (nh, nw))[0].permute(1, 2, 0).numpy()

    # float input: the interpolation itself (grid, weights, edge clamping) is OpenCV's, up to float32 rounding
    # of the source coordinates (a grid off by half a pixel would differ by tens of levels on noise)
    f = img.astype(np.float32)
    np.testing.assert_allclose(ours(f), cv2.resize(f, (nw, nh), interpolation=cv2.INTER_LINEAR), atol=0.05)
    # uint8 input: both round fixed-point sums, in different ways; they never differ by more than one level
    diff = np.abs(ours(img).astype(np.int16) - cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR))
    assert diff.max() <= 1, f"max difference {diff.max()} grey levels"
    assert diff.mean() < 0.3


def test_center_crop_offsets_floor():
    x = coords(2, 11, 13)
    out = center_crop(x, 4)
    # left = (13 - 4) // 2 = 4, top = (11 - 4) // 2 = 3 (floor; torchvision would round 3.5 up)
    assert out.shape == (2, 3, 4, 4)
    assert out[0, 1, 0, 0] == 3 and out[0, 2, 0, 0] == 4
    assert torch.equal(out[1, 0], torch.ones(4, 4))  # every frame, same crop
    with pytest.raises(ValueError, match="larger than the frames"):
        center_crop(x, 12)


def test_three_crop_positions():
    x = coords(2, 4, 11)
    out = three_crop(x, 4)  # step (11 - 4) // 2 = 3: left 0, right 6, middle 3
    assert out.shape == (3, 2, 3, 4, 4)
    assert [int(out[i, 0, 2, 0, 0]) for i in range(3)] == [0, 6, 3]
    tall = three_crop(coords(1, 9, 4), 4)
    assert [int(tall[i, 0, 1, 0, 0]) for i in range(3)] == [0, 4, 2]
    with pytest.raises(ValueError, match="one side equal"):
        three_crop(coords(1, 9, 9), 4)


def test_multi_scale_crop_box_candidates():
    rng = np.random.default_rng(0)
    boxes = {multi_scale_crop_box(256, 340, 224, rng=rng) for _ in range(3000)}
    # crop sides int(256 * s) = 256, 224, 192, 168; width and height scales at most one step apart
    sides = [256, 224, 192, 168]
    pairs = {(h, w) for i, h in enumerate(sides) for j, w in enumerate(sides) if abs(i - j) <= 1}
    assert {(h, w) for _, _, h, w in boxes} == pairs
    for top, left, h, w in boxes:
        ws, hs = (340 - w) // 4, (256 - h) // 4
        grid = {(a * hs, b * ws) for a, b in [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (2, 0), (2, 4), (4, 2)]}
        grid |= {(0, 2 * ws), (hs, ws), (hs, 3 * ws), (3 * hs, ws), (3 * hs, 3 * ws)}
        assert (top, left) in grid
    # 13 positions per size
    assert len({(top, left) for top, left, h, w in boxes if (h, w) == (224, 224)}) == 13
    # sides within 2 px of the input size snap to it: int(250 * 0.9) = 225 -> 224
    assert multi_scale_crop_box(250, 250, 224, scales=(0.9,), rng=rng)[2:] == (224, 224)


def test_multi_scale_crop_same_box_for_every_frame():
    frame = torch.rand(1, 3, 64, 80)
    clip = frame.expand(4, 3, 64, 80).clone()
    out = multi_scale_crop(clip, 32, rng=np.random.default_rng(1))
    assert out.shape == (4, 3, 32, 32)
    assert all(torch.equal(out[0], out[i]) for i in range(4))


def test_flip_and_label_maps():
    x = coords(1, 2, 5)
    assert flip(x)[0, 2, 0].tolist() == [4, 3, 2, 1, 0]
    assert flip_label_map("sthv1") == {2: 4, 4: 2, 30: 41, 41: 30, 52: 66, 66: 52}  # MMAction2 flip configs
    assert flip_label_map("sthv2") == {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}
    assert flip_label_map("kinetics400") == {}


def test_training_flip_swaps_labels():
    frames = np.zeros((2, 40, 60, 3), dtype=np.uint8)
    frames[:, :, :30] = 255  # left half white
    t = VideoTransform(
        resize_short=32, crop_size=32, train=True, flip_ratio=1.0, flip_label_map=flip_label_map("sthv1")
    )
    t.scales = (1.0,)
    out, label = t.with_label(frames, 2)
    assert label == 4 and t.with_label(frames, 7)[1] == 7
    assert out[0, 0, 0, 0, 0] < out[0, 0, 0, 0, -1]  # white moved to the right
    keep = VideoTransform(resize_short=32, crop_size=32, train=True, flip_ratio=0.0, flip_label_map={2: 4})
    assert keep.with_label(frames, 2)[1] == 2


def test_normalize_0_255_scale():
    x = torch.full((1, 3, 2, 2), 200, dtype=torch.uint8)
    out = normalize(x)
    expected = torch.tensor([(200 - m) / s for m, s in zip(MEAN_255, STD_255, strict=True)])
    assert out.dtype == torch.float32 and torch.allclose(out[0, :, 0, 0], expected)


def test_create_transform_test_pipeline_matches_steps():
    entry = ZOO["tsm_r50.mm0_8f_340x256_k400"]
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 120, 200, 3), dtype=np.uint8)
    transform = create_transform(entry)
    out = transform(frames)
    assert out.shape == (1, 3, 3, 224, 224) and out.dtype == torch.float32
    clip = torch.from_numpy(frames).permute(0, 3, 1, 2)
    manual = normalize(center_crop(resize_short(clip, 256), 224))
    assert torch.equal(out[0], manual)
    assert torch.equal(transform(torch.from_numpy(frames)), out)  # tensors too


def test_create_transform_three_crop_and_training():
    frames = np.random.default_rng(0).integers(0, 256, (2, 60, 90, 3), dtype=np.uint8)
    three = create_transform(Protocol(crop="three", num_crops=3, resize_short=64, crop_size=64))
    assert three(frames).shape == (3, 2, 3, 64, 64)
    with pytest.raises(ValueError, match="resize_short"):
        create_transform(Protocol(crop="three", resize_short=64, crop_size=56))
    train = create_transform(ZOO["tsm_r50.mm0_8f_340x256_k400"], train=True, rng=np.random.default_rng(0))
    assert train.flip_ratio == 0.5 and train.flip_label_map == {}
    assert train(frames).shape == (1, 2, 3, 224, 224)
    sth = create_transform(ZOO["tsm_r50.mm0_8f_200616_sthv1"], train=True)
    assert sth.flip_ratio == 0.0  # the sthv1 recipe has no flip
    sth_flip = create_transform(ZOO["tsm_r50.mm0_8f_200616_sthv1"], train=True, flip=True)
    assert sth_flip.flip_label_map[30] == 41
    with pytest.raises(ValueError, match="training"):
        create_transform(ZOO["tsm_r50.mm0_8f_200616_sthv1"], flip=True)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        create_transform(ZOO["tsm_r50.mm0_8f_200616_sthv1"])(np.zeros((2, 3, 40, 40), dtype=np.uint8))
