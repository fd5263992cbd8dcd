"""``list``: the names the registry holds (architectures, or checkpoints with ``--pretrained``)."""

from __future__ import annotations

import argparse
import sys

from ..models import list_models


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list model names")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. '*sthv2*'")
    p.add_argument("--pretrained", action="store_true", help="checkpoints (arch.tag names) instead of architectures")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for name in list_models(args.pattern, pretrained=args.pretrained):
        sys.stdout.write(name + "\n")
    return 0
