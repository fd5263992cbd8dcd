"""Arguments and model loading shared by the video-tool commands (timeline, features, cam, live, predict)."""

from __future__ import annotations

import argparse
from typing import Any

import torch

from ..labels import read_labels
from ..models import create_model, get_zoo_entry

__all__ = ["add_model_args", "load_model", "resolve_device"]


def add_model_args(p: argparse.ArgumentParser, model_required: bool = True, model_default: str | None = None) -> None:
    """``-m/--model``, ``--pretrained PATH | --no-pretrained``, ``--labels``, ``--device``."""
    p.add_argument(
        "-m",
        "--model",
        required=model_required,
        default=model_default,
        help="zoo name (or MMAction2 config name) or architecture"
        + (f" (default: {model_default})" if model_default else ""),
    )
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", metavar="PATH", help="checkpoint file or saved directory to load")
    weights.add_argument(
        "--no-pretrained", action="store_true", help="random weights (checks the pipeline; predictions are noise)"
    )
    p.add_argument(
        "--labels",
        metavar="NAME|FILE",
        help="class names: a packaged label set name or a text file with one name per line "
        "(default: the zoo entry's list; class indices for architectures)",
    )
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available, else cpu")


def resolve_device(args: argparse.Namespace) -> str:
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    return device


def _weights(args: argparse.Namespace) -> Any:
    if args.no_pretrained:
        return False
    if args.pretrained:
        return args.pretrained
    if get_zoo_entry(args.model) is None:
        raise ValueError(f"{args.model!r} is an architecture without zoo weights: pass --pretrained PATH")
    return True


def load_model(args: argparse.Namespace, **kwargs: Any) -> tuple[torch.nn.Module, list[str] | None]:
    """The model of ``-m`` with its weights, and the ``--labels`` (``None``: the entry's)."""
    labels = None if args.labels is None else read_labels(args.labels)
    if get_zoo_entry(args.model) is not None:
        kwargs = {}  # a zoo entry fixes the architecture
    elif labels is not None:
        kwargs.setdefault("num_classes", len(labels))
    model = create_model(args.model, pretrained=_weights(args), **kwargs)
    return model, labels
