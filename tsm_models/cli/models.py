"""``list`` and ``info``: what the registry holds."""

from __future__ import annotations

import argparse
import json
import sys

from ..factory import get_pretrained_cfg, list_models


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list model names")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. '*sthv2*'")
    p.add_argument("--pretrained", action="store_true", help="only zoo checkpoints")
    p.set_defaults(func=_list)
    p = sub.add_parser("info", help="show the zoo record of a checkpoint (architecture, protocol, metrics)")
    p.add_argument("name", help="zoo name or MMAction2 config name")
    p.set_defaults(func=_info)


def _list(args: argparse.Namespace) -> int:
    for name in list_models(args.pattern, pretrained=args.pretrained):
        sys.stdout.write(name + "\n")
    return 0


def _info(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(get_pretrained_cfg(args.name).to_dict(), indent=2) + "\n")
    return 0
