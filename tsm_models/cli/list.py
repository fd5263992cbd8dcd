"""``list``: the names the registry holds (architectures, or checkpoints with ``--pretrained`` or a filter)."""

from __future__ import annotations

import argparse
import sys

from ..models import list_models
from ..models.zoo import filter_names, select_entries


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list model names")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. '*sthv2*'")
    p.add_argument("--pretrained", action="store_true", help="checkpoints (arch.tag names) instead of architectures")
    p.add_argument("--dataset", help="checkpoints of this dataset: kinetics400 (or k400), sthv1, sthv2, jester, ...")
    p.add_argument("--family", help="checkpoints of this backbone family: resnet, mobilenetv2, mobileone")
    p.add_argument("--source", help="checkpoints of this source: mm1 (MMAction2 1.x), mm0 (0.x), mit (original)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.dataset or args.family or args.source:  # filters are about checkpoints
        names = [e.name for e in select_entries(dataset=args.dataset, family=args.family, source=args.source)]
        names = filter_names(names, args.pattern)
    else:
        names = list_models(args.pattern, pretrained=args.pretrained)
    for name in names:
        sys.stdout.write(name + "\n")
    return 0
