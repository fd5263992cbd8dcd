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
