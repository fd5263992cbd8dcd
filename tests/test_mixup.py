"""Mixup / CutMix on video batches (timm's targets), clip RandAugment, and the left/right swap under both."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from timm.data.mixup import mixup_target

from tsm_models.data.augment import ClipRandAugment, parse_randaugment
from tsm_models.train.mixup import VideoMixup


def _video(b: int = 4, t: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_mixup_targets_are_timms() -> None:
    x, y = _video(), torch.tensor([0, 2, 1, 2])
    np.random.seed(0)
    mixed, target = VideoMixup(3, mixup_alpha=1.0, label_smoothing=0.1)(x.clone(), y)
    # the same lam on every frame of every clip: mixed = lam * x + (1 - lam) * x.flip(0)
    lam = ((mixed - x.flip(0)) / (x - x.flip(0)))[0, 0, 0, 0, 0].item()
    assert 0.0 < lam < 1.0
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x.flip(0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(target, mixup_target(y, 3, lam, 0.1), atol=1e-5, rtol=1e-5)
    off, on = 0.1 / 3, 1 - 0.1 + 0.1 / 3
    one_hot = torch.full((4, 3), off).scatter_(1, y[:, None], on)
    torch.testing.assert_close(target, lam * one_hot + (1 - lam) * one_hot.flip(0), atol=1e-5, rtol=1e-5)
    assert torch.allclose(target.sum(1), torch.ones(4))
    # the draw is NumPy's global generator: reseeding repeats it (what an exact resume restores)
    np.random.seed(0)
    again, target2 = VideoMixup(3, mixup_alpha=1.0, label_smoothing=0.1)(x.clone(), y)
    assert torch.equal(again, mixed) and torch.equal(target2, target)


def test_cutmix_cuts_the_same_box_from_every_frame() -> None:
    x, y = _video(t=4, size=32), torch.tensor([0, 1, 1, 0])
    np.random.seed(3)
    mixed, target = VideoMixup(2, cutmix_alpha=1.0)(x.clone(), y)
    changed = (mixed != x).any(0)  # (T, 3, H, W)
    assert changed.any()
    assert all(torch.equal(changed[t, c], changed[0, 0]) for t in range(4) for c in range(3))
    box = changed[0, 0]
    rows, cols = box.any(1).nonzero(), box.any(0).nonzero()
    area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    lam = 1 - area.item() / (32 * 32)  # timm's corrected lam: 1 - box area / image area
    torch.testing.assert_close(target, mixup_target(y, 2, lam, 0.0), atol=1e-6, rtol=0)
    inside = mixed[:, :, :, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    torch.testing.assert_close(inside, x.flip(0)[:, :, :, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1])


def test_multilabel_mixup_and_bad_batches() -> None:
    y = torch.tensor([[1.0, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    np.random.seed(1)
    x = _video()
    mixed, target = VideoMixup(3, mixup_alpha=0.8, multi_label=True, label_smoothing=0.2)(x.clone(), y)
    lam = ((mixed - x.flip(0)) / (x - x.flip(0)))[1, 0, 0, 0, 0].item()
    y1 = y * 0.8 + 0.1  # timm smooths multi-label targets towards 0.5
    torch.testing.assert_close(target, lam * y1 + (1 - lam) * y1.flip(0), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="even batch size"):
        VideoMixup(3, mixup_alpha=1.0)(_video(b=3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="class indices"):
        VideoMixup(3, mixup_alpha=1.0)(_video(), y)
    with pytest.raises(ValueError, match="one of them > 0"):
        VideoMixup(3)


def test_flip_swap_survives_mixup() -> None:
    """A mirrored 'moving left' clip becomes 'moving right' before mixing; the mixed target keeps the swap."""
    from tsm_models.data.transforms import VideoTransform, flip_label_map

    names = ["moving left", "moving right", "standing still"]
    swaps = flip_label_map(names)
    assert swaps == {0: 1, 1: 0}
    transform = VideoTransform(resize_short=16, crop_size=16, train=True, flip_ratio=1.0, flip_label_map=swaps,
                               rng=np.random.default_rng(0))  # fmt: skip
    frames = np.random.default_rng(0).integers(0, 255, (3, 16, 20, 3), dtype=np.uint8)
    labels, clips = [], []
    for label in (0, 1, 2, 0):
        clip, new = transform.with_label(frames, label)
        clips.append(clip[0])
        labels.append(new)
    assert labels == [1, 0, 2, 1]
    np.random.seed(0)
    _, target = VideoMixup(3, mixup_alpha=1.0)(torch.stack(clips), torch.tensor(labels))
    # timm pairs clip i with clip B-1-i: clips 0 and 3 are both 'moving right' now, clip 1 ('moving left')
    # meets clip 2 ('standing still')
    lam = target[1, 0].item()
    assert 0.0 < lam < 1.0
    assert target[0].tolist() == pytest.approx([0.0, 1.0, 0.0]) and target[3].tolist() == target[0].tolist()
    assert target[1].tolist() == pytest.approx([lam, 0.0, 1 - lam])
    assert target[2].tolist() == pytest.approx([1 - lam, 0.0, lam])


def test_clip_randaugment_is_one_draw_per_clip() -> None:
    assert parse_randaugment("rand-m7-n4") == (7, 4) and parse_randaugment("rand") == (9, 2)
    with pytest.raises(ValueError, match="rand-m9-n2"):
        parse_randaugment("m9n2")
    aug = ClipRandAugment.from_spec("rand-m9-n2")
    frame = torch.randint(0, 256, (1, 3, 24, 24), dtype=torch.uint8)
    clip = frame.repeat(6, 1, 1, 1)
    outs = [aug(clip, np.random.default_rng(s)) for s in range(8)]
    for out in outs:  # every frame got the same operations
        assert out.dtype == torch.uint8 and all(torch.equal(out[0], out[t]) for t in range(6))
    assert sum(not torch.equal(o, clip) for o in outs) >= 6
    assert len({o.sum().item() for o in outs}) > 4  # different clips, different draws
    assert torch.equal(aug(clip, np.random.default_rng(5)), outs[5])  # seeded: reproducible
    # global torch RNG untouched (training's dropout masks do not depend on augmentation)
    torch.manual_seed(0)
    aug(clip, np.random.default_rng(1))
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(1))
    # no mirror among the operations: left/right stays left/right
    names = {op.lower() for op in aug._aug._AUGMENTATION_SPACE}
    assert not any("flip" in n or "mirror" in n for n in names)
    with pytest.raises(ValueError, match="uint8"):
        aug(clip.float(), np.random.default_rng(0))
