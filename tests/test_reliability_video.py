"""Issue 16, items 2, 3, 5, 6: hostile and unlucky videos (valid streams read, damaged ones said so)."""

from __future__ import annotations

import io
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from _video_utils import X264_FIXED_GOP, paint_index, read_indices, write_video

import tsm_models

pytest.importorskip("av")


def _check_frames(path: Path, indices: list[int]) -> None:
    with tsm_models.open_video(path) as video:
        assert read_indices(video.read(indices)) == indices


# --- item 5: valid streams that seeking by timestamp cannot serve -------------------------------------------


def test_h264_in_mpegts_reads_the_frames_asked_for(tmp_path: Path) -> None:
    # H.264 in MPEG-TS: a seek to a keyframe's pts lands one group of pictures late.
    path = write_video(tmp_path / "clip.ts", 60, gop=12, options=X264_FIXED_GOP)
    _check_frames(path, [0, 13, 25, 30, 47, 59])
    _check_frames(path, [59, 2, 40])  # any order


def test_mpegts_single_gop(tmp_path: Path) -> None:
    path = write_video(tmp_path / "one_gop.ts", 24, gop=250)  # the audit's h264.ts: one keyframe, frame 0
    _check_frames(path, [0, 3, 9, 23])


def test_raw_annexb_h264_without_timestamps(tmp_path: Path) -> None:
    # Annex-B elementary stream: no timestamps, seek(0) fails with EPERM.
    path = write_video(tmp_path / "clip.h264", 30, gop=10, options=X264_FIXED_GOP)
    _check_frames(path, [0, 7, 15, 29])
    _check_frames(path, [29, 0])
    with tsm_models.open_video(path) as video:
        assert read_indices(np.stack(list(video.iter_frames()))) == list(range(30))


# --- item 6: damaged inputs are not read silently ---------------------------------------------------------


def test_mkv_cut_at_88_percent_is_refused(tmp_path: Path) -> None:
    full = write_video(tmp_path / "full.mkv", 100, size=(32, 32), gop=25)
    cut = tmp_path / "cut.mkv"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.88)])
    with pytest.raises(ValueError, match=r"cut\.mkv.*breaks"):
        tsm_models.open_video(cut)
    with tsm_models.open_video(full) as video:  # the whole file still reads
        assert video.total_frames == 100


def test_mkv_with_a_timestamp_gap_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # 48 frames at 25 fps whose middle 20 are missing (what a corrupt cluster leaves): pts 0..13, 34..67
    pts = [*range(14), *range(34, 68)]
    path = write_video(tmp_path / "gap.mkv", len(pts), pts=pts)
    with caplog.at_level(logging.WARNING, logger="tsm_models"):
        video = tsm_models.open_video(path)
    with video:
        assert video.total_frames == 48
        assert read_indices(video.read([0, 13, 14, 47])) == [0, 13, 14, 47]
    assert any("gap.mkv" in r.getMessage() and "missing" in r.getMessage() for r in caplog.records)


def test_regular_mkv_does_not_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_video(tmp_path / "ok.mkv", 48)
    with caplog.at_level(logging.WARNING, logger="tsm_models"):
        tsm_models.open_video(path).close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def _frame_folder(path: Path, numbers: list[int]) -> Path:
    from PIL import Image

    path.mkdir()
    for n in numbers:
        Image.fromarray(paint_index(n, 48, 64)).save(path / f"img_{n:05}.jpg", quality=95)
    return path


def test_frame_folder_gap_is_counted_and_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _frame_folder(tmp_path / "clip", [1, 2, 3, 4, 6, 7, 8])  # img_00005.jpg missing
    with caplog.at_level(logging.WARNING, logger="tsm_models"):
        video = tsm_models.open_video(folder)
    assert video.total_frames == 7  # not 4 (the folder used to end at the gap)
    assert read_indices(video.read([3, 4, 6])) == [4, 6, 8]  # positions are the files present, in order
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("img_00005.jpg" in m and "clip" in m for m in messages), messages


# --- item 2: a decompression bomb is that video's ValueError ------------------------------------------------


def _bomb_jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((40, 50, 3), 100, np.uint8)).save(buf, "JPEG")
    jpg = bytearray(buf.getvalue())
    i = jpg.find(b"\xff\xc0")
    jpg[i + 5 : i + 7] = (20000).to_bytes(2, "big")  # claims 20000 x 20000 (400 Mpx) in 700 bytes
    jpg[i + 7 : i + 9] = (20000).to_bytes(2, "big")
    return bytes(jpg)


def test_decompression_bomb_frame_is_a_value_error(tmp_path: Path) -> None:
    folder = _frame_folder(tmp_path / "bomb", list(range(1, 9)))
    (folder / "img_00004.jpg").write_bytes(_bomb_jpeg())
    with tsm_models.open_video(folder) as video, pytest.raises(ValueError, match=r"img_00004\.jpg"):
        video.read([3])


# --- item 3: absurd shapes are refused before the resize allocates -----------------------------------------


def test_absurd_aspect_ratio_refused_before_allocating() -> None:
    from tsm_models.data.transforms import MAX_RESIZED_PIXELS, resize_short

    strip = torch.zeros(2, 3, 2, 8000, dtype=torch.uint8)  # 8000 x 2: resize_short(256) -> 256 x 1 024 000
    with pytest.raises(ValueError, match="8000") as info:
        resize_short(strip, 256)
    assert str(MAX_RESIZED_PIXELS) in str(info.value).replace(",", "").replace("_", "")
    assert resize_short(torch.zeros(1, 3, 8000, 8000, dtype=torch.uint8), 64).shape[-2:] == (64, 64)


def test_predict_names_the_video_of_an_absurd_shape(tmp_path: Path, tiny_tsm) -> None:
    path = write_video(tmp_path / "thin.mp4", 8, size=(4000, 2), codec="mpeg4")
    with pytest.raises(ValueError, match=r"thin\.mp4"):
        tsm_models.predict(tiny_tsm(), path, topk=1)


def test_copied_folder_without_gap_is_unchanged(tmp_path: Path) -> None:
    folder = _frame_folder(tmp_path / "ok", list(range(1, 9)))
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    with tsm_models.open_video(copy) as video:
        assert video.total_frames == 8
        assert read_indices(video.read(list(range(8)))) == list(range(1, 9))
