"""The video tools of ``tsm-models``: a timeline of a long video, labelled videos and strips, features to disk,
Grad-CAM, live classification. Optional dependencies (PyAV, Pillow, matplotlib, OpenCV) load when used."""

from .cam import CamResult, cam_video, grad_cam
from .features import FeatureReport, extract_features, list_videos
from .live import LabelChange, LiveStats, run_live
from .render import draw_labels, encode_video, write_gif, write_labelled_video, write_strip

# ``timeline`` the function is ``tsm_models.timeline``; ``tsm_models.apps.timeline`` stays the module
from .timeline import Timeline, TimelineWindow, plot_timeline

__all__ = [
    "CamResult",
    "FeatureReport",
    "LabelChange",
    "LiveStats",
    "Timeline",
    "TimelineWindow",
    "cam_video",
    "draw_labels",
    "encode_video",
    "extract_features",
    "grad_cam",
    "list_videos",
    "plot_timeline",
    "run_live",
    "write_gif",
    "write_labelled_video",
    "write_strip",
]
