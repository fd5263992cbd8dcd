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
from .model import shifted_modules as shifted_modules
from .shift import TemporalShift as TemporalShift
from .shift import temporal_shift as temporal_shift
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
# train: datasets, recipe, loops, metrics, distributed
from .data import VideoDataset as VideoDataset
from .data import VideoRecord as VideoRecord
from .data import create_loader as create_loader
from .data import read_annotation_file as read_annotation_file
from .data import scan_class_folders as scan_class_folders
from .metrics import confusion_matrix as confusion_matrix
from .metrics import mean_class_accuracy as mean_class_accuracy
from .metrics import top_k_accuracy as top_k_accuracy
from .optim import create_optimizer as create_optimizer
from .optim import create_scheduler as create_scheduler
from .optim import param_groups as param_groups
from .train import evaluate as evaluate
from .train import load_checkpoint as load_checkpoint
from .train import save_checkpoint as save_checkpoint
from .train import train_one_epoch as train_one_epoch
