"""``info``: the zoo record of a checkpoint (architecture, protocol, recipe, metrics) as JSON."""

from __future__ import annotations

import argparse
import json
import sys

from ..models import get_zoo_entry


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show the zoo record of a checkpoint (architecture, protocol, metrics)")
    p.add_argument("name", help="checkpoint name (arch.tag) or an alias: older name, upstream config name, file stem")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(json.dumps(get_zoo_entry(args.name).to_dict(), indent=2) + "\n")
    return 0
