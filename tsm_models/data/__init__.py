"""Data: decoding (video files, frame folders, arrays), MMAction2-exact frame sampling, clip transforms, datasets.

Layouts: decoded frames are ``uint8`` RGB ``(T, H, W, 3)``; network inputs ``(V, T, 3, S, S)`` float, normalised.
"""

from .dataset import (
    VIDEO_EXTENSIONS,
    VideoDataset,
    VideoRecord,
    create_loader,
    read_annotation_file,
    scan_class_folders,
)
from .sampler import ShardSampler, train_sampler
from .sampling import dense_indices, sample_frames, sample_indices, segment_indices
from .transforms import VideoTransform, create_transform, flip_label_map
from .video import FrameReader, open_video

__all__ = [
    "VIDEO_EXTENSIONS",
    "FrameReader",
    "ShardSampler",
    "VideoDataset",
    "VideoRecord",
    "VideoTransform",
    "create_loader",
    "create_transform",
    "dense_indices",
    "flip_label_map",
    "open_video",
    "read_annotation_file",
    "sample_frames",
    "sample_indices",
    "scan_class_folders",
    "segment_indices",
    "train_sampler",
]
