"""Frame sampling against MMAction2's SampleFrames / DenseSampleFrames (examples from the spec, verbatim)."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from math import floor

import numpy as np
import pytest

from tsm_models.data.sampling import dense_indices, sample_frames, sample_indices, segment_indices
from tsm_models.models.zoo import ZOO
from tsm_models.models.zoo import ClipProtocol as Protocol


def test_segment_indices_spec_examples():
    assert segment_indices(300, 8).tolist() == [18, 56, 93, 131, 168, 206, 243, 281]
    t16 = [9, 28, 46, 65, 84, 103, 121, 140, 159, 178, 196, 215, 234, 253, 271, 290]
    assert segment_indices(300, 16).tolist() == t16
    assert segment_indices(5, 8).tolist() == [0, 0, 1, 2, 2, 3, 4, 4]
    assert segment_indices(48, 8).tolist() == [3, 9, 15, 21, 27, 33, 39, 45]


def test_twice_sample_spec_example():
    got = sample_frames(300, 1, 1, 8, test_mode=True, twice_sample=True).tolist()
    assert got == [18, 56, 93, 131, 168, 206, 243, 281, 0, 37, 75, 112, 150, 187, 225, 262]


@pytest.mark.parametrize("num_segments", [1, 3, 8, 16])
def test_test_mode_is_segment_middle(num_segments):
    # index_i = floor((i + 0.5) * N / T), exact rational arithmetic, for every length up to 400 frames.
    for n in range(1, 401):
        expected = [floor(Fraction(2 * i + 1, 2) * n / num_segments) for i in range(num_segments)]
        assert segment_indices(n, num_segments).tolist() == expected, n


def test_sample_frames_clips_with_interval_and_wrap():
    # ori_clip_len = 8, avg_interval = (20 - 8 + 1) / 2 = 6.5 -> starts int(3.25) = 3, int(9.75) = 9
    assert sample_frames(20, clip_len=4, frame_interval=2, num_clips=2).tolist() == [3, 5, 7, 9, 9, 11, 13, 15]
    # shorter than one clip: start 0, indices loop (mod N)
    assert sample_frames(5, clip_len=4, frame_interval=2, num_clips=1).tolist() == [0, 2, 4, 1]


def test_dense_spec_examples():
    idx = dense_indices(300, num_clips=8).reshape(10, 8)
    assert idx[:, 0].tolist() == [0, 26, 52, 78, 104, 131, 157, 183, 209, 236]
    assert idx[0].tolist() == [0, 8, 16, 24, 32, 40, 48, 56]
    assert idx[1].tolist() == [26, 34, 42, 50, 58, 66, 74, 82]
    short = dense_indices(40, num_clips=8).reshape(10, 8)
    assert (short == np.array([0, 8, 16, 24, 32, 0, 8, 16])).all()


def test_train_mode_one_frame_per_segment():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(50):
        idx = segment_indices(100, 8, mode="train", rng=rng)
        # avg_interval = 100 // 8 = 12: frame i in [12 i, 12 i + 12)
        assert all(12 * i <= v < 12 * i + 12 for i, v in enumerate(idx.tolist()))
        seen.add(tuple(idx.tolist()))
    assert len(seen) > 40  # random offsets
    a = segment_indices(100, 8, "train", rng=np.random.default_rng(3))
    b = segment_indices(100, 8, "train", rng=np.random.default_rng(3))
    assert a.tolist() == b.tolist()


def test_train_mode_short_videos():
    # N < T: avg_interval 0 -> round(i * N / T) (numpy rounds half to even)
    assert segment_indices(5, 8, mode="train").tolist() == [0, 1, 1, 2, 2, 3, 4, 4]
    # N >= T with clip_len 1: one frame per segment of length N // T
    assert segment_indices(8, 8, mode="train").tolist() == list(range(8))
    # clips that do not fit in equal segments but the video is longer than num_clips: sorted random starts
    rng = np.random.default_rng(1)
    for _ in range(20):
        idx = sample_frames(8, clip_len=4, frame_interval=1, num_clips=6, test_mode=False, rng=rng).reshape(6, 4)
        starts = idx[:, 0]
        assert (np.diff(starts) >= 0).all() and starts.min() >= 0 and starts.max() <= 4
        assert (idx == starts[:, None] + np.arange(4)).all()


def test_dense_train_mode_one_view():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(30):
        idx = dense_indices(300, num_clips=8, test_mode=False, rng=rng)
        assert len(idx) == 8 and (np.diff(idx) == 8).all()
        starts.add(int(idx[0]))
    assert len(starts) > 10 and max(starts) <= 300 - 64 - 1
    assert dense_indices(50, num_clips=8, test_mode=False).tolist() == [0, 8, 16, 24, 32, 40, 48, 6]


def test_sample_indices_follows_zoo_protocols():
    for entry in ZOO.values():
        p = entry.protocol
        idx = sample_indices(entry, 300)
        if p.sampling == "dense":
            assert idx.tolist() == dense_indices(300, num_clips=8, num_sample_positions=10).tolist()
            assert len(idx) == 80
        else:
            assert idx.tolist() == segment_indices(300, p.num_frames).tolist()
        train = sample_indices(entry, 300, train=True, rng=np.random.default_rng(0))
        assert len(train) == p.num_frames
    twice = sample_indices(Protocol(num_clips=2), 300)
    assert twice.tolist() == sample_frames(300, 1, 1, 8, twice_sample=True).tolist()


def test_bad_arguments():
    with pytest.raises(ValueError, match="total_frames"):
        segment_indices(0, 8)
    with pytest.raises(ValueError, match="mode"):
        segment_indices(10, 8, mode="val")
    with pytest.raises(ValueError, match="num_clips"):
        sample_frames(10, num_clips=0)
    with pytest.raises(ValueError, match="sampling"):
        sample_indices(replace(Protocol(), sampling="random"), 10)
    with pytest.raises(ValueError, match="num_clips"):
        sample_indices(Protocol(num_clips=3), 10)
