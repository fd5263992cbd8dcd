"""tsm_models: TSM (Temporal Shift Module) video models on timm ResNets, with MMAction2's model zoo.

>>> import tsm_models
>>> model = tsm_models.create_model("tsm_r50", num_segments=8, num_classes=10)
>>> logits = model(video)  # video: (B, T, 3, H, W) normalised RGB -> (B, 10)
"""

from . import registry as registry  # registers every name with timm
from .factory import create_model as create_model
from .factory import get_pretrained_cfg as get_pretrained_cfg
from .factory import is_model as is_model
from .factory import list_models as list_models
from .labels import load_labels as load_labels
from .model import TSM as TSM
from .model import adapt_2d_state_dict as adapt_2d_state_dict
from .model import insert_temporal_shift as insert_temporal_shift
from .model import remove_temporal_shift as remove_temporal_shift
from .model import shifted_modules as shifted_modules
from .shift import TemporalShift as TemporalShift
from .shift import temporal_shift as temporal_shift

# speed and deployment
from .shift import temporal_shift_inplace as temporal_shift_inplace
from .version import __version__ as __version__
from .zoo import ZOO as ZOO
from .zoo import ZooEntry as ZooEntry

# isort: split
# video: decoding, sampling, preprocessing, prediction
from .inference import Prediction as Prediction
from .inference import VideoClassifier as VideoClassifier
from .inference import average_clips as average_clips
from .inference import predict as predict
from .sampling import dense_indices as dense_indices
from .sampling import sample_frames as sample_frames
from .sampling import sample_indices as sample_indices
from .sampling import segment_indices as segment_indices
from .transforms import VideoTransform as VideoTransform
from .transforms import create_transform as create_transform
from .transforms import flip_label_map as flip_label_map
from .video import FrameReader as FrameReader
from .video import open_video as open_video

# isort: split
# pretrained weights: conversion, loading, Hub format
from .checkpoint import read_checkpoint as read_checkpoint
from .convert import convert_mmaction2_state_dict as convert_mmaction2_state_dict
from .convert import convert_state_dict as convert_state_dict
from .convert import convert_tsm_state_dict as convert_tsm_state_dict
from .hub import from_pretrained as from_pretrained
from .hub import get_cache_dir as get_cache_dir
from .hub import push_to_hub as push_to_hub
from .hub import save_pretrained as save_pretrained
from .pretrained import load_pretrained as load_pretrained

# isort: split
# streaming: online TSM, frame by frame
from .streaming import StreamingShift as StreamingShift
from .streaming import StreamingTSM as StreamingTSM
from .streaming import StreamStep as StreamStep
