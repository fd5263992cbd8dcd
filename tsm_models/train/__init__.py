"""Training: loops, resumable train state, run-time setup, the TSM optimizer recipe, metrics, distributed runs.

>>> from tsm_models.train import create_optimizer, train_one_epoch, evaluate, save_train_state
"""

from .config import FitResult, TrainConfig
from .distributed import (
    DistInfo,
    all_reduce_mean,
    barrier,
    destroy_distributed,
    gather_eval,
    get_rank,
    get_world_size,
    init_distributed,
    is_main_process,
    unwrap_model,
    wrap_ddp,
)
from .evaluation import EvalConfig, EvalReport, run_evaluation
from .fit import fit
from .loop import EvalResult, JsonLogger, evaluate, train_one_epoch
from .metrics import (
    classification_report,
    confusion_matrix,
    mean_class_accuracy,
    per_class_accuracy,
    save_confusion_matrix,
    top_k_accuracy,
)
from .mixup import VideoMixup
from .multilabel import average_precision, mean_average_precision, multilabel_report
from .optim import (
    BASE_BATCH_SIZE,
    BASE_LR,
    GRAD_CLIP_NORM,
    SCHEDULES,
    create_optimizer,
    create_scheduler,
    default_weight_decay,
    freeze_bn,
    lr_factor,
    param_groups,
    scale_lr,
)
from .recipes import RECIPES, Recipe, entry_recipe, resolve_recipe
from .run_log import RunLogger, plot_curves
from .runtime import AMP_DTYPES, autocast, create_grad_scaler, prepare_model, seed_everything, to_channels_last
from .state import get_rng_state, resume_train_state, save_train_state, set_rng_state

__all__ = [
    "AMP_DTYPES",
    "BASE_BATCH_SIZE",
    "BASE_LR",
    "GRAD_CLIP_NORM",
    "RECIPES",
    "SCHEDULES",
    "DistInfo",
    "EvalConfig",
    "EvalReport",
    "EvalResult",
    "FitResult",
    "JsonLogger",
    "Recipe",
    "RunLogger",
    "TrainConfig",
    "VideoMixup",
    "all_reduce_mean",
    "autocast",
    "average_precision",
    "barrier",
    "classification_report",
    "confusion_matrix",
    "create_grad_scaler",
    "create_optimizer",
    "create_scheduler",
    "default_weight_decay",
    "destroy_distributed",
    "entry_recipe",
    "evaluate",
    "fit",
    "freeze_bn",
    "gather_eval",
    "get_rank",
    "get_rng_state",
    "get_world_size",
    "init_distributed",
    "is_main_process",
    "lr_factor",
    "mean_average_precision",
    "mean_class_accuracy",
    "multilabel_report",
    "param_groups",
    "per_class_accuracy",
    "plot_curves",
    "prepare_model",
    "resolve_recipe",
    "resume_train_state",
    "run_evaluation",
    "save_confusion_matrix",
    "save_train_state",
    "scale_lr",
    "seed_everything",
    "set_rng_state",
    "to_channels_last",
    "top_k_accuracy",
    "train_one_epoch",
    "unwrap_model",
    "wrap_ddp",
]
