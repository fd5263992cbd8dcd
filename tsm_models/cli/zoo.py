"""``zoo --markdown``: print MODEL_ZOO.md from the registry."""

from __future__ import annotations

import argparse
import json
import sys

from ..models.zoo import ZOO
from ..tools.zoo_doc import zoo_markdown


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zoo", help="print the model zoo (Markdown or JSON)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="Markdown, the content of MODEL_ZOO.md (default)")
    fmt.add_argument("--json", action="store_true", help="every zoo record as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.json:
        sys.stdout.write(json.dumps([e.to_dict() for e in ZOO.values()], indent=2) + "\n")
    else:
        sys.stdout.write(zoo_markdown())
    return 0
