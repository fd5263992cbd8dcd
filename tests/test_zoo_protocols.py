"""Index-exact test protocols against worked examples from the upstream code.

Every expected value below was produced by running the upstream code itself (not a re-implementation):
MMAction2 1.2.0 ``mmaction.datasets.transforms`` (``TenCrop``, ``ThreeCrop``, ``DenseSampleFrames``) and
mit-han-lab/temporal-shift-module @ 1f6a834b ``ops/transforms.py`` (``GroupFullResSample``,
``GroupOverSample``, ``GroupCenterCrop``, ``GroupScale`` on PIL images) and ``ops/dataset.py``
(``TSNDataSet._get_test_indices``), on images whose pixels encode their coordinates.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tsm_models.data.sampling import dense_indices, mit_dense_indices, sample_frames, sample_indices
from tsm_models.data.transforms import (
    center_crop_box,
    create_transform,
    full_res_crop_boxes,
    short_side_size,
    ten_crop,
    ten_crop_boxes,
    three_crop_boxes,
)
from tsm_models.models.zoo import ZOO, ClipProtocol

# (H, W) -> MMAction2 TenCrop(224) crop_bbox (x1, y1) of the 5 crops (each then flipped), as (top, left).
TEN_CROP = {
    (256, 340): [(0, 0), (0, 116), (32, 0), (32, 116), (16, 58)],
    (256, 455): [(0, 0), (0, 228), (32, 0), (32, 228), (16, 114)],
    (320, 427): [(0, 0), (0, 200), (96, 0), (96, 200), (48, 100)],
    (257, 301): [(0, 0), (0, 76), (32, 0), (32, 76), (16, 38)],
}
# MMAction2 ThreeCrop(256) on the 256 short side, (top, left).
THREE_CROP = {
    (256, 340): [(0, 0), (0, 84), (0, 42)],
    (256, 455): [(0, 0), (0, 198), (0, 99)],
    (301, 256): [(0, 0), (44, 0), (22, 0)],
}
# Original repo GroupFullResSample(S, flip=False): left, right, center, (top, left).
FULL_RES = {
    256: {
        (256, 340): [(0, 0), (0, 84), (0, 42)],
        (256, 455): [(0, 0), (0, 196), (0, 98)],
        (320, 427): [(32, 0), (32, 168), (32, 84)],
        (257, 301): [(0, 0), (0, 44), (0, 22)],
        (256, 256): [(0, 0), (0, 0), (0, 0)],
    },
    224: {
        (256, 340): [(16, 0), (16, 116), (16, 58)],
        (256, 455): [(16, 0), (16, 228), (16, 114)],
        (320, 427): [(48, 0), (48, 200), (48, 100)],
        (257, 301): [(16, 0), (16, 76), (16, 38)],
        (256, 256): [(16, 0), (16, 32), (16, 16)],
    },
}
# Original repo GroupCenterCrop(224) (torchvision CenterCrop: offsets rounded half to even).
MIT_CENTER = {(256, 340): (16, 58), (256, 455): (16, 116), (320, 427): (48, 102), (257, 301): (16, 38)}
# Original repo GroupScale(256) (torchvision Resize on PIL: long side truncated), (H, W) -> (H', W').
MIT_SCALE = {(240, 320): (256, 341), (360, 480): (256, 341), (100, 176): (256, 450), (480, 270): (455, 256)}
# MMAction2 Resize((-1, 256)): sides int(s * f + 0.5).
MM_SCALE = {(240, 320): (256, 341), (100, 176): (256, 451), (480, 270): (455, 256)}
# Original repo dense test starts (0-based) and the first clip, for (frames, segments).
MIT_DENSE = {
    (300, 8): ([0, 26, 52, 78, 104, 131, 157, 183, 209, 236], [0, 8, 16, 24, 32, 40, 48, 56]),
    (40, 8): ([0] * 10, [0, 8, 16, 24, 32, 0, 8, 16]),
    (65, 8): ([0] * 9 + [1], [0, 8, 16, 24, 32, 40, 48, 56]),
    (100, 8): ([0, 4, 8, 12, 16, 20, 24, 28, 32, 36], [0, 8, 16, 24, 32, 40, 48, 56]),
    (300, 16): ([0, 26, 52, 78, 104, 131, 157, 183, 209, 236], list(range(0, 64, 4))),
    (500, 8): ([0, 48, 96, 145, 193, 242, 290, 339, 387, 436], [0, 8, 16, 24, 32, 40, 48, 56]),
}
# Original repo twice_sample (300 frames, 8 segments), 0-based.
MIT_TWICE_300 = [18, 56, 93, 131, 168, 206, 243, 281, 0, 37, 75, 112, 150, 187, 225, 262]


def coordinate_frames(h: int, w: int, t: int = 2) -> torch.Tensor:
    """uint8 clip (t, 3, h, w) whose channels 0/1 hold x/y mod 256 and channel 2 the hundreds."""
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    img = torch.stack([x % 256, y % 256, x // 256 + 10 * (y // 256)]).to(torch.uint8)
    return img.expand(t, 3, h, w).clone()


def where(crop: torch.Tensor) -> tuple[int, int]:
    """(top, left) of a crop (3, S, S) of :func:`coordinate_frames`."""
    px = crop[:, 0, 0].long()
    return int(px[1] + 256 * (px[2] // 10)), int(px[0] + 256 * (px[2] % 10))


@pytest.mark.parametrize("size", sorted(TEN_CROP))
def test_ten_crop_boxes_and_views_match_mmaction2(size: tuple[int, int]) -> None:
    assert ten_crop_boxes(*size, 224) == TEN_CROP[size]
    views = ten_crop(coordinate_frames(*size), 224)
    assert views.shape == (10, 2, 3, 224, 224)
    for i, (top, left) in enumerate(TEN_CROP[size]):
        assert where(views[2 * i, 0]) == (top, left)
        assert torch.equal(views[2 * i + 1], views[2 * i].flip(-1))  # each crop is followed by its flip


@pytest.mark.parametrize("size", sorted(THREE_CROP))
def test_three_crop_boxes_match_mmaction2(size: tuple[int, int]) -> None:
    assert three_crop_boxes(*size, 256) == THREE_CROP[size]


@pytest.mark.parametrize("crop_size", [256, 224])
def test_full_res_boxes_match_the_original_repo(crop_size: int) -> None:
    for size, boxes in FULL_RES[crop_size].items():
        assert full_res_crop_boxes(*size, crop_size) == boxes, size
    # it is not MMAction2's ThreeCrop: 455 px wide frames put the right crop at 196, not 198
    assert full_res_crop_boxes(256, 455, 256)[1] != THREE_CROP[(256, 455)][1]


def test_center_crop_and_resize_geometries() -> None:
    for size, box in MIT_CENTER.items():
        assert center_crop_box(*size, 224, geometry="mit") == box
    assert center_crop_box(256, 455, 224, geometry="mmaction2") == (16, 115)  # floor, not round-half-even
    for size, out in MIT_SCALE.items():
        assert short_side_size(*size, 256, geometry="mit") == out
    for size, out in MM_SCALE.items():
        assert short_side_size(*size, 256, geometry="mmaction2") == out


def test_mit_resize_pixels_follow_pil() -> None:
    from PIL import Image

    from tsm_models.data.transforms import resize_short

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (180, 320, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(frame).resize((455, 256), Image.BILINEAR)).astype(int)
    got = resize_short(torch.from_numpy(frame).permute(2, 0, 1)[None], 256, geometry="mit")[0].permute(1, 2, 0)
    assert tuple(got.shape) == expected.shape
    assert np.abs(got.numpy().astype(int) - expected).max() <= 1  # torchvision's antialias vs PIL: rounding


@pytest.mark.parametrize("frames,segments", sorted(MIT_DENSE))
def test_mit_dense_starts_match_the_original_repo(frames: int, segments: int) -> None:
    starts, first = MIT_DENSE[(frames, segments)]
    got = mit_dense_indices(frames, segments).reshape(10, segments)
    assert got[:, 0].tolist() == starts
    assert got[0].tolist() == first
    # for one-frame segments the original's dense starts are MMAction2's DenseSampleFrames(sample_range=64)
    assert np.array_equal(mit_dense_indices(frames, segments), dense_indices(frames, num_clips=segments))


def test_twice_sample_matches_the_original_repo() -> None:
    assert sample_frames(300, 1, 1, 8, twice_sample=True).tolist() == MIT_TWICE_300


def test_protocol_dispatch_by_geometry() -> None:
    mit = ClipProtocol(sampling="dense", num_clips=10, crop="full_res", crop_size=256, geometry="mit")
    assert np.array_equal(sample_indices(mit, 300), mit_dense_indices(300, 8))
    assert mit.num_views == 30


def test_view_counts_of_the_upstream_protocols() -> None:
    assert ZOO["tsm_r50.mm1_8f_dense_k400"].protocol.num_views == 100  # 10 dense clips x TenCrop
    assert ZOO["tsm_r50.mm1_8f_k400"].protocol.num_views == 10
    assert ZOO["tsm_r50.mm1_8f_sthv2"].protocol.num_views == 6  # twice_sample x ThreeCrop(256)
    assert ZOO["tsm_mobilenetv2.mm1_8f_k400"].protocol.num_views == 3
    assert ZOO["tsm_r50.mit_8f_dense_k400"].protocol.num_views == 30  # 10 dense clips x full-res 3 crops
    assert ZOO["tsm_r50.mm0_8f_340x256_k400"].protocol.num_views == 1


def test_every_protocol_gives_its_views() -> None:
    """Sampling and preprocessing of each distinct zoo protocol produce num_views clips of num_frames frames."""
    frames = np.random.default_rng(1).integers(0, 256, (1, 40, 50, 3), dtype=np.uint8)
    for full in sorted({e.protocol for e in ZOO.values() if e.protocol.modality == "rgb"}, key=repr):
        # the same sampling and crops at 1/8 of the size (sizes do not change the view counts)
        p = dataclasses.replace(full, resize_short=full.resize_short // 8, crop_size=full.crop_size // 8)
        idx = sample_indices(p, 120)
        assert idx.shape == (p.num_clips * p.num_frames,) and idx.min() >= 0 and idx.max() < 120
        x = create_transform(p)(np.repeat(frames, len(idx), axis=0))
        assert x.shape == (p.num_crops, len(idx), 3, p.crop_size, p.crop_size), p
        single = p.single_view()
        assert single.num_views == 1
        single_idx = sample_indices(single, 120)
        assert single_idx.shape == (p.num_frames,)
        # the single view is one of the protocol's clips
        assert any(np.array_equal(single_idx, clip) for clip in idx.reshape(p.num_clips, p.num_frames))


def test_bgr_channel_order_swaps_before_normalising() -> None:
    frames = np.random.default_rng(2).integers(0, 256, (8, 256, 256, 3), dtype=np.uint8)
    rgb = ClipProtocol(geometry="mit")
    bgr = ClipProtocol(geometry="mit", channel_order="bgr")
    a = create_transform(rgb)(frames[..., ::-1].copy())  # the caller swapping by hand
    b = create_transform(bgr)(frames)
    assert torch.equal(a, b)
    assert not torch.equal(b, create_transform(rgb)(frames))


def test_protocol_rejects_inconsistent_values() -> None:
    with pytest.raises(ValueError, match="crop"):
        ClipProtocol(crop="five")
    assert dataclasses.replace(ClipProtocol(), crop="ten").num_crops == 10  # derived from crop
    with pytest.raises(ValueError, match="uniform"):
        ClipProtocol(num_clips=10)
    with pytest.raises(ValueError, match="channel_order"):
        ClipProtocol(channel_order="yuv")
