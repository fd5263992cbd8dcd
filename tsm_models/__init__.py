"""tsm_models: TSM (Temporal Shift Module) video models on timm ResNets, with MMAction2's TSM model zoo.

>>> import tsm_models
>>> model = tsm_models.create_model("tsm_r50_1x1x8_kinetics400", pretrained=True)
>>> tsm_models.predict(model, "video.mp4", topk=5)  # [(label, probability), ...]
>>> logits = model(video)  # video: (B, T, 3, H, W) float, normalised RGB -> (B, num_classes)

Importing the package registers every architecture and zoo name with ``timm.create_model``.
"""

from . import registry as registry  # registers every name with timm
from .checkpoint import read_checkpoint as read_checkpoint
from .convert import convert_mmaction2_state_dict as convert_mmaction2_state_dict
from .convert import convert_state_dict as convert_state_dict
from .convert import convert_tsm_state_dict as convert_tsm_state_dict
from .data import VideoDataset as VideoDataset
from .data import VideoRecord as VideoRecord
from .data import create_loader as create_loader
from .data import read_annotation_file as read_annotation_file
from .data import scan_class_folders as scan_class_folders
from .factory import create_model as create_model
from .factory import get_pretrained_cfg as get_pretrained_cfg
from .factory import is_model as is_model
from .factory import list_models as list_models
from .hub import from_pretrained as from_pretrained
from .hub import get_cache_dir as get_cache_dir
from .hub import push_to_hub as push_to_hub
from .hub import save_pretrained as save_pretrained
from .inference import Prediction as Prediction
from .inference import VideoClassifier as VideoClassifier
from .inference import average_clips as average_clips
from .inference import predict as predict
from .labels import load_labels as load_labels
from .labels import read_labels as read_labels
from .metrics import confusion_matrix as confusion_matrix
from .metrics import mean_class_accuracy as mean_class_accuracy
from .metrics import top_k_accuracy as top_k_accuracy
from .model import TSM as TSM
from .model import adapt_2d_state_dict as adapt_2d_state_dict
from .model import insert_temporal_shift as insert_temporal_shift
from .model import remove_temporal_shift as remove_temporal_shift
from .model import shifted_modules as shifted_modules
from .optim import create_optimizer as create_optimizer
from .optim import create_scheduler as create_scheduler
from .optim import param_groups as param_groups
from .pretrained import load_pretrained as load_pretrained
from .sampling import dense_indices as dense_indices
from .sampling import sample_frames as sample_frames
from .sampling import sample_indices as sample_indices
from .sampling import segment_indices as segment_indices
from .shift import TemporalShift as TemporalShift
from .shift import temporal_shift as temporal_shift
from .shift import temporal_shift_inplace as temporal_shift_inplace
from .streaming import StreamingShift as StreamingShift
from .streaming import StreamingTSM as StreamingTSM
from .streaming import StreamStep as StreamStep
from .train import evaluate as evaluate
from .train import load_checkpoint as load_checkpoint
from .train import save_checkpoint as save_checkpoint
from .train import train_one_epoch as train_one_epoch
from .transforms import VideoTransform as VideoTransform
from .transforms import create_transform as create_transform
from .transforms import flip_label_map as flip_label_map
from .version import __version__ as __version__
from .video import FrameReader as FrameReader
from .video import open_video as open_video
from .zoo import ZOO as ZOO
from .zoo import ZooEntry as ZooEntry
