"""backend="torchcodec" decodes the same frames as PyAV (needs TorchCodec and the system's FFmpeg libraries;
skipped, with the reason, where they are missing)."""

from __future__ import annotations

import numpy as np
import pytest
from _video_utils import read_indices, write_video

from tsm_models.data.video import PyAVReader, TorchCodecReader, open_video, torchcodec_available


def test_unknown_backend_is_refused(tmp_path):
    path = write_video(tmp_path / "a.mp4", 10)
    with pytest.raises(ValueError, match="backend must be one of"):
        open_video(path, backend="decord")


needs_torchcodec = pytest.mark.skipif(not torchcodec_available(), reason="TorchCodec or its FFmpeg libraries missing")


@needs_torchcodec
@pytest.mark.parametrize(
    "codec, ext, pix_fmt",
    [("libx264", "mp4", "yuv420p"), ("mpeg4", "avi", "yuv420p"), ("libx264", "mkv", "yuv444p")],
)
def test_torchcodec_frames_equal_pyav(tmp_path, codec, ext, pix_fmt):
    path = write_video(tmp_path / f"v.{ext}", 50, size=(72, 40), codec=codec, pix_fmt=pix_fmt)
    a, b = open_video(path), open_video(path, backend="torchcodec")
    assert isinstance(a, PyAVReader) and isinstance(b, TorchCodecReader)
    assert a.total_frames == b.total_frames == 50
    idx = [49, 0, 7, 7, 25, 48, 1]  # any order, repeats
    fa, fb = a.read(idx), b.read(idx)
    assert fb.dtype == np.uint8 and fb.shape == (len(idx), 40, 72, 3)
    np.testing.assert_array_equal(fa, fb)
    assert read_indices(fb) == idx
    b.close()


@needs_torchcodec
def test_torchcodec_bad_file_is_a_value_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"no video here")
    with pytest.raises(ValueError, match=r"bad\.mp4"):
        open_video(bad, backend="torchcodec")
