"""Video decoding with TorchCodec (``open_video(..., backend="torchcodec")``), an optional alternative to PyAV.

TorchCodec is PyTorch's FFmpeg-based decoder. It links against the system's FFmpeg libraries (4 to 7; on
Debian/Ubuntu ``apt-get install libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4
libavdevice59 libavfilter8`` or the distribution's ``ffmpeg``), and decodes on NVIDIA GPUs (NVDEC) with
``device="cuda"``. ``pip install torchcodec`` picks the build matching the installed torch.

Frames are indexed like :class:`~tsm_models.data.video.PyAVReader`: frame ``i`` is the ``i``-th frame in
presentation order (TorchCodec's ``seek_mode="exact"`` scans the file once when it is opened). ``read``
returns ``uint8`` RGB ``(T, H, W, 3)`` on the CPU.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .video import FrameReader

__all__ = ["TorchCodecReader", "torchcodec_available"]

_INSTALL_HINT = (
    "backend='torchcodec' needs TorchCodec and the system's FFmpeg libraries: pip install torchcodec, and e.g. "
    "apt-get install libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4 libavdevice59 libavfilter8"
)


def _import_decoder() -> Any:
    try:
        from torchcodec.decoders import VideoDecoder
    except (ImportError, OSError, RuntimeError) as exc:  # OSError/RuntimeError: FFmpeg libraries missing
        raise ImportError(f"{_INSTALL_HINT} ({type(exc).__name__}: {exc})") from exc
    return VideoDecoder


def torchcodec_available() -> bool:
    """Whether TorchCodec imports and its FFmpeg libraries load (decoding may still fail on a given codec)."""
    try:
        decoder_cls = _import_decoder()
        import torchcodec._core  # noqa: F401  loads the FFmpeg-linked core library
    except ImportError:
        return False
    return decoder_cls is not None


class TorchCodecReader(FrameReader):
    """Frames of a video file decoded by TorchCodec.

    Args:
        path: the video file.
        device: ``"cpu"`` or ``"cuda"`` (NVDEC); frames are returned on the CPU either way.
        threads: FFmpeg decoding threads (``0``: FFmpeg's choice).
    """

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int = 1) -> None:
        decoder_cls = _import_decoder()
        self.source = os.fspath(path)
        if not os.path.isfile(self.source):
            raise FileNotFoundError(f"no such video file: {self.source}")
        try:
            self._decoder = decoder_cls(
                self.source, dimension_order="NHWC", seek_mode="exact", num_ffmpeg_threads=threads, device=device
            )
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"{self.source}: TorchCodec can't open it as a video ({exc})") from exc
        meta = self._decoder.metadata
        self.total_frames = int(meta.num_frames or 0)
        self.fps = float(meta.average_fps) if meta.average_fps else None
        if self.total_frames < 1:
            raise ValueError(f"{self.source}: no video frames")

    def _read_sorted(self, indices: list[int]) -> dict[int, np.ndarray]:
        try:
            batch = self._decoder.get_frames_at(indices).data  # (N, H, W, 3) uint8
        except (RuntimeError, IndexError) as exc:
            raise ValueError(f"{self.source}: TorchCodec failed to decode frames {indices[:8]}...: {exc}") from exc
        arr = batch.cpu().numpy()
        return {i: arr[k] for k, i in enumerate(indices)}

    def close(self) -> None:
        self._decoder = None
