"""Decoding: PyAV files (mp4/h264, avi/mpeg4, mkv, variable frame rate, odd sizes), raw-frame folders, arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _video_utils import (
    VFR_PTS,
    X264_FIXED_GOP,
    paint_index,
    read_indices,
    truncate,
    write_faststart_mp4,
    write_frame_folder,
    write_video,
    write_zero_frame_avi,
)

from tsm_models.data.sampling import segment_indices
from tsm_models.data.video import ArrayReader, FrameFolderReader, PyAVReader, open_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    return {
        # 120 frames, keyframe every 30, B-frames (libx264 default)
        "mp4": write_video(d / "h264.mp4", 120, gop=30, options=X264_FIXED_GOP),
        "avi": write_video(d / "mpeg4.avi", 60, codec="mpeg4", gop=12),
        "mkv": write_video(d / "mpeg4.mkv", 60, codec="mpeg4", gop=12),
        "vfr": write_video(d / "vfr.mkv", 50, pts=VFR_PTS),
        "odd": write_video(d / "odd.mp4", 30, size=(65, 47), pix_fmt="yuv444p"),
        "short": write_video(d / "short.mp4", 5),
        "faststart": write_faststart_mp4(d / "faststart.mp4", 60),
        "dir": d,
    }


@pytest.mark.parametrize("kind", ["mp4", "avi", "mkv", "odd"])
def test_read_any_order_with_repeats(videos, kind):
    with open_video(videos[kind]) as video:
        n = video.total_frames
        assert isinstance(video, PyAVReader)
        indices = [n - 1, 3, 3, 0, n // 2, 7, n - 1, 1]
        frames = video.read(indices)
        assert frames.dtype == np.uint8 and frames.shape[0] == 8 and frames.shape[-1] == 3
        assert read_indices(frames) == indices


def test_metadata_and_sizes(videos):
    with open_video(videos["mp4"]) as video:
        assert (video.total_frames, video.fps) == (120, 25.0)
        assert np.allclose(video.frame_times, np.arange(120) / 25)
        assert video.read([0]).shape == (1, 48, 64, 3)
    with open_video(videos["odd"]) as video:
        assert video.total_frames == 30
        frames = video.read(segment_indices(30, 8))
        assert frames.shape == (8, 47, 65, 3)
        assert read_indices(frames) == segment_indices(30, 8).tolist()
    for kind, count in [("avi", 60), ("mkv", 60)]:
        with open_video(videos[kind]) as video:
            assert (video.total_frames, video.fps) == (count, 25.0)


def test_variable_frame_rate_indexes_frames_not_times(videos):
    with open_video(videos["vfr"]) as video:
        assert video.total_frames == 50
        assert np.allclose(video.frame_times, VFR_PTS / 25)
        idx = segment_indices(50, 8)
        assert read_indices(video.read(idx)) == idx.tolist()
        assert read_indices(video.read([49, 0, 25])) == [49, 0, 25]


def test_frames_are_rgb(tmp_path):
    import av

    path = tmp_path / "rgb.mp4"
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    frame[:, :32, 0] = 255  # red left half, blue right half
    frame[:, 32:, 2] = 255
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        for packet in [*stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")), *stream.encode()]:
            container.mux(packet)
    with open_video(path) as video:
        (got,) = video.read([0])
    assert got[24, 8, 0] > 200 and got[24, 8, 2] < 50  # red stays in channel 0
    assert got[24, 56, 2] > 200 and got[24, 56, 0] < 50


def test_iter_frames_sequential(videos):
    with open_video(videos["mp4"]) as video:
        frames = list(video.iter_frames())
    assert len(frames) == 120 and frames[0].shape == (48, 64, 3)
    assert read_indices(np.stack(frames)) == list(range(120))


def test_decodes_only_what_is_needed(videos):
    with open_video(videos["mp4"]) as video:
        video.read([110])
        # seek to the keyframe at 90 and decode forward (plus a few frames of decoder delay), not 111 frames
        assert video.frames_decoded <= 30
        video.frames_decoded = 0
        idx = segment_indices(120, 4)  # [15, 45, 75, 105]: each behind a keyframe
        assert read_indices(video.read(idx)) == idx.tolist()
        assert video.frames_decoded <= 4 * 20
        video.frames_decoded = 0
        video.read([5, 6, 7])  # one forward run, no re-seek
        assert video.frames_decoded <= 10


def test_fewer_frames_than_segments(videos):
    with open_video(videos["short"]) as video:
        idx = segment_indices(video.total_frames, 8)
        assert read_indices(video.read(idx)) == [0, 0, 1, 2, 2, 3, 4, 4]


def test_bad_files_raise_clear_errors(videos, tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        open_video(missing)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=r"junk\.mp4: cannot open as a video"):
        open_video(junk)
    text = tmp_path / "notes.avi"
    text.write_text("not a video")
    with pytest.raises(ValueError, match=r"notes\.avi"):
        open_video(text)
    with pytest.raises(ValueError, match=r"zero\.avi: the video stream has no frames"):
        open_video(write_zero_frame_avi(tmp_path / "zero.avi"))
    # streams cut mid-way: MP4 with its index first (declares 60 frames), Matroska (declares its duration)
    cut_mp4 = truncate(videos["faststart"], tmp_path / "cut.mp4")
    with pytest.raises(ValueError, match=r"cut\.mp4: the video stream breaks after \d+ of its 60 declared frames"):
        open_video(cut_mp4)
    cut_mkv = truncate(videos["mkv"], tmp_path / "cut.mkv", 0.4)
    with pytest.raises(ValueError, match=r"cut\.mkv: the video stream breaks"):
        open_video(cut_mkv)


def test_stream_breaking_while_decoding(videos, tmp_path):
    # the index (moov) is intact but the last 20% of the file is garbage: opens, then fails to decode
    data = bytearray(videos["faststart"].read_bytes())
    cut = int(len(data) * 0.8)
    data[cut:] = np.random.default_rng(0).integers(0, 256, len(data) - cut, dtype=np.uint8).tobytes()
    path = tmp_path / "garbled.mp4"
    path.write_bytes(bytes(data))
    with open_video(path) as video:
        assert video.total_frames == 60
        assert read_indices(video.read([0])) == [0]  # the intact part still reads
        with pytest.raises(ValueError, match=r"garbled\.mp4: (decoding failed|could not decode)"):
            video.read(range(60))
        with pytest.raises(ValueError, match=r"garbled\.mp4: (decoding failed|the stream breaks)"):
            list(video.iter_frames())


def test_bad_indices(videos):
    video = open_video(videos["short"])
    video.close()
    with pytest.raises(ValueError, match="closed"):
        video.read([0])
    with open_video(videos["short"]) as video:
        with pytest.raises(ValueError, match="frame index 5 out of range; the video has 5 frames"):
            video.read([0, 5])
        with pytest.raises(ValueError, match="non-empty"):
            video.read([])
        with pytest.raises(ValueError, match="integers"):
            video.read([0.5])


def test_frame_folder_mmaction2_layout(tmp_path):
    folder = write_frame_folder(tmp_path / "clip", 20)
    with open_video(folder) as video:
        assert isinstance(video, FrameFolderReader)
        assert (video.total_frames, video.filename_tmpl, video.start_index) == (20, "img_{:05}.jpg", 1)
        assert video.frame_path(0).name == "img_00001.jpg"
        assert read_indices(video.read([19, 0, 0, 7])) == [19, 0, 0, 7]
        assert read_indices(np.stack(list(video.iter_frames()))) == list(range(20))
    # the entry's template is honoured: sthv2 numbers frames {:06}.jpg
    sth = write_frame_folder(tmp_path / "sth", 10, tmpl="{:06}.jpg")
    with open_video(sth, filename_tmpl="{:06}.jpg") as video:
        assert video.total_frames == 10 and video.frame_path(2).name == "000003.jpg"
        assert read_indices(video.read(segment_indices(10, 8))) == segment_indices(10, 8).tolist()
    zero_based = write_frame_folder(tmp_path / "zero", 6, start=0)
    assert open_video(zero_based).start_index == 0
    with pytest.raises(ValueError, match=r"expected a first frame named 00001\.jpg"):
        open_video(folder, filename_tmpl="{:05}.jpg", start_index=1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no frame files"):
        open_video(tmp_path / "empty")


def test_frames_in_memory():
    frames = np.stack([paint_index(i, 48, 64) for i in range(12)])
    for source in (frames, torch.from_numpy(frames), list(frames)):
        video = open_video(source)
        assert isinstance(video, ArrayReader) and video.total_frames == 12
        assert read_indices(video.read([11, 2, 2])) == [11, 2, 2]
        assert len(list(video.iter_frames())) == 12
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        open_video(np.zeros((4, 3, 48, 64), dtype=np.uint8))
    with pytest.raises(ValueError, match="no frames"):
        open_video(np.zeros((0, 48, 64, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="expected a video path"):
        open_video(42)
