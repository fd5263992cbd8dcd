"""Frame sampling, index-exact with MMAction2's ``SampleFrames`` and ``DenseSampleFrames``.

Every function here is pure: it maps a frame count to an ``int64`` array of **0-based** frame positions,
clip-major (all frames of view 0, then view 1, ...). MMAction2 adds ``start_index`` (1 for raw-frame folders,
0 for videos) afterwards; the readers of :mod:`tsm_models.video` do that when they map a position to a file,
so position ``i`` is ``img_{i + 1:05}.jpg`` in a folder and the ``i``-th decoded frame of a video.

Random choices (training mode) take a :class:`numpy.random.Generator`; ``None`` makes a fresh one.
"""

from __future__ import annotations

import numpy as np

from ..models.zoo import ClipProtocol, ZooEntry

__all__ = ["dense_indices", "sample_frames", "sample_indices", "segment_indices"]


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return np.random.default_rng() if rng is None else rng


def _expand(offsets: np.ndarray, total_frames: int, clip_len: int, frame_interval: int) -> np.ndarray:
    # SampleFrames.__call__: clip offsets -> frame indices, out_of_bound_opt='loop' (mod N), then int.
    inds = offsets[:, None] + np.arange(clip_len)[None, :] * frame_interval
    return np.mod(inds.reshape(-1), total_frames).astype(np.int64)


def sample_frames(
    total_frames: int,
    clip_len: int = 1,
    frame_interval: int = 1,
    num_clips: int = 1,
    test_mode: bool = True,
    twice_sample: bool = False,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """MMAction2 ``SampleFrames(clip_len, frame_interval, num_clips)`` (``out_of_bound_opt='loop'``).

    TSM's ``1x1x8`` notation is ``clip_len=1, frame_interval=1, num_clips=8``: eight one-frame "clips", one per
    segment. Test mode: clip ``i`` starts at ``int(i * a + a / 2)`` with ``a = (N - clip_len * frame_interval
    + 1) / num_clips``, i.e. ``floor((i + 0.5) * N / T)`` for one-frame clips; ``twice_sample`` appends the
    unshifted starts ``int(i * a)``. Training mode: a random offset in each of ``num_clips`` equal segments,
    with MMAction2's fallbacks for videos shorter than ``num_clips`` frames. Indices past the end wrap (mod N),
    so short videos repeat frames exactly as MMAction2 does.

    Args:
        total_frames: frames in the video (N >= 1).
        clip_len: frames per clip.
        frame_interval: step between the frames of a clip.
        num_clips: clips (segments) to sample.
        test_mode: deterministic test sampling; ``False`` for training.
        twice_sample: test mode only, also take the unshifted segment starts (2 x num_clips clips).
        rng: random generator for training mode.

    Returns:
        ``int64`` array of ``num_clips * clip_len`` (x2 with ``twice_sample``) 0-based frame positions.
    """
    n = _check_count("total_frames", total_frames, 1)
    clip_len = _check_count("clip_len", clip_len, 1)
    frame_interval = _check_count("frame_interval", frame_interval, 1)
    num_clips = _check_count("num_clips", num_clips, 1)
    ori_clip_len = clip_len * frame_interval
    if test_mode:
        avg_interval = (n - ori_clip_len + 1) / float(num_clips)
        if n > ori_clip_len - 1:
            base_offsets = np.arange(num_clips) * avg_interval
            offsets = (base_offsets + avg_interval / 2.0).astype(np.int64)
            if twice_sample:
                offsets = np.concatenate([offsets, base_offsets.astype(np.int64)])
        else:
            offsets = np.zeros(num_clips * (2 if twice_sample else 1), dtype=np.int64)
    else:
        if twice_sample:
            raise ValueError("twice_sample is a test-mode option (test_mode=True)")
        gen = _rng(rng)
        avg_interval = (n - ori_clip_len + 1) // num_clips
        if avg_interval > 0:
            offsets = np.arange(num_clips) * avg_interval + gen.integers(avg_interval, size=num_clips)
        elif n > max(num_clips, ori_clip_len):
            offsets = np.sort(gen.integers(n - ori_clip_len + 1, size=num_clips))
        elif avg_interval == 0:
            ratio = (n - ori_clip_len + 1.0) / num_clips
            offsets = np.around(np.arange(num_clips) * ratio).astype(np.int64)
        else:
            offsets = np.zeros(num_clips, dtype=np.int64)
    return _expand(np.asarray(offsets, dtype=np.int64), n, clip_len, frame_interval)


def segment_indices(
    total_frames: int, num_segments: int, mode: str = "test", rng: np.random.Generator | None = None
) -> np.ndarray:
    """TSN segment sampling: one frame from each of ``num_segments`` equal segments.

    ``mode="test"``: frame ``floor((i + 0.5) * N / T)`` of segment ``i`` (its middle); ``mode="train"``: a random
    frame of each segment. Same as ``sample_frames(N, 1, 1, num_segments, test_mode=...)``.

    Example:
        >>> segment_indices(300, 8).tolist()
        [18, 56, 93, 131, 168, 206, 243, 281]
    """
    if mode not in ("train", "test"):
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
    return sample_frames(total_frames, 1, 1, num_segments, test_mode=mode == "test", rng=rng)


def dense_indices(
    total_frames: int,
    clip_len: int = 1,
    frame_interval: int = 1,
    num_clips: int = 8,
    sample_range: int = 64,
    num_sample_positions: int = 10,
    test_mode: bool = True,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """MMAction2 ``DenseSampleFrames``: ``num_clips`` frames ``sample_range // num_clips`` apart from a start.

    Test mode takes ``num_sample_positions`` starts ``linspace(0, max(1, N + 1 - sample_range) - 1)``
    (truncated to int), one view per start; training mode one random start. Indices wrap (mod N).

    Returns:
        ``int64`` array of ``views * num_clips * clip_len`` 0-based positions, view-major
        (``views = num_sample_positions`` in test mode, 1 in training).

    Example:
        >>> dense_indices(300)[:8].tolist()
        [0, 8, 16, 24, 32, 40, 48, 56]
    """
    n = _check_count("total_frames", total_frames, 1)
    clip_len = _check_count("clip_len", clip_len, 1)
    frame_interval = _check_count("frame_interval", frame_interval, 1)
    num_clips = _check_count("num_clips", num_clips, 1)
    sample_range = _check_count("sample_range", sample_range, num_clips)
    num_sample_positions = _check_count("num_sample_positions", num_sample_positions, 1)
    sample_position = max(1, 1 + n - sample_range)
    interval = sample_range // num_clips
    base_offsets = np.arange(num_clips) * interval
    if test_mode:
        starts = np.linspace(0, sample_position - 1, num=num_sample_positions, dtype=int)
        offsets = np.concatenate([(base_offsets + s) % n for s in starts])
    else:
        start = 0 if sample_position == 1 else int(_rng(rng).integers(0, sample_position - 1))
        offsets = (base_offsets + start) % n
    return _expand(np.asarray(offsets, dtype=np.int64), n, clip_len, frame_interval)


def sample_indices(
    protocol: ClipProtocol | ZooEntry,
    total_frames: int,
    train: bool = False,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Frame positions for a video of ``total_frames`` frames under a zoo record's sampling protocol.

    * ``sampling="uniform"``: ``SampleFrames(clip_len, frame_interval, num_frames // clip_len)``; with
      ``num_clips=2`` (test) the second view is MMAction2's ``twice_sample`` (unshifted segment starts).
    * ``sampling="dense"``: ``DenseSampleFrames`` with ``num_sample_positions=num_clips`` (10 for the zoo).

    Args:
        protocol: a :class:`~tsm_models.zoo.ClipProtocol` or a :class:`~tsm_models.ZooEntry`.
        total_frames: frames in the video.
        train: training sampling (random, one view) instead of the test protocol.
        rng: random generator for training.

    Returns:
        ``int64`` array of ``views * num_frames`` 0-based positions, view-major.
    """
    p = protocol.protocol if isinstance(protocol, ZooEntry) else protocol
    if not isinstance(p, ClipProtocol):
        raise ValueError(f"expected a ClipProtocol or ZooEntry, got {type(protocol).__name__}")
    if p.num_frames % p.clip_len:
        raise ValueError(f"num_frames={p.num_frames} must be a multiple of clip_len={p.clip_len}")
    segments = p.num_frames // p.clip_len
    if p.sampling == "uniform":
        if train:
            return sample_frames(total_frames, p.clip_len, p.frame_interval, segments, test_mode=False, rng=rng)
        if p.num_clips not in (1, 2):
            raise ValueError(
                f"uniform sampling has 1 view (or 2 with MMAction2 twice_sample), got num_clips={p.num_clips}"
            )
        return sample_frames(total_frames, p.clip_len, p.frame_interval, segments, twice_sample=p.num_clips == 2)
    if p.sampling == "dense":
        return dense_indices(
            total_frames,
            p.clip_len,
            p.frame_interval,
            segments,
            num_sample_positions=p.num_clips,
            test_mode=not train,
            rng=rng,
        )
    raise ValueError(f"unknown sampling {p.sampling!r}; expected 'uniform' or 'dense'")
