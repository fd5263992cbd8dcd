"""The core of tsm_models: temporal shift, the TSM families on timm networks, the zoo, weights and the factory.

Importing this package registers every family's architectures and ``arch.tag`` checkpoints with timm.
Nothing here imports :mod:`tsm_models.data`, :mod:`tsm_models.train`, :mod:`tsm_models.tools` or the CLI.
"""

from . import tsm_mobilenetv2 as tsm_mobilenetv2  # registers the TSM-MobileNetV2 family with timm
from . import tsm_mobileone as tsm_mobileone  # registers the TSM-MobileOne family with timm
from . import tsm_resnet as tsm_resnet  # registers the TSM-ResNet family with timm
from ._download import get_cache_dir
from ._factory import create_model, from_pretrained, get_pretrained_cfg, get_zoo_entry, is_model, list_models
from ._hub import push_to_hub, save_pretrained
from .checkpoint import read_checkpoint
from .convert import convert_mmaction2_state_dict, convert_state_dict, convert_tsm_state_dict
from .non_local import NonLocal3d
from .shift import TemporalShift, adapt_2d_state_dict, remove_temporal_shift, shifted_modules, temporal_shift
from .streaming import StreamingTSM
from .tsm import TSMConfig, TSMMixin
from .tsm_mobilenetv2 import TSMMobileNetV2
from .tsm_mobileone import TSMMobileOne, reparameterize
from .tsm_resnet import TSM, insert_temporal_shift
from .zoo import ZOO, ClipProtocol, ZooEntry

__all__ = [
    "TSM",
    "NonLocal3d",
    "TSMMobileNetV2",
    "TSMMobileOne",
    "ZOO",
    "ClipProtocol",
    "StreamingTSM",
    "TSMConfig",
    "TSMMixin",
    "TemporalShift",
    "ZooEntry",
    "adapt_2d_state_dict",
    "convert_mmaction2_state_dict",
    "convert_state_dict",
    "convert_tsm_state_dict",
    "create_model",
    "from_pretrained",
    "get_cache_dir",
    "get_pretrained_cfg",
    "get_zoo_entry",
    "insert_temporal_shift",
    "is_model",
    "list_models",
    "push_to_hub",
    "read_checkpoint",
    "remove_temporal_shift",
    "reparameterize",
    "save_pretrained",
    "shifted_modules",
    "temporal_shift",
]
