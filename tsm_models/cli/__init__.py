"""Command line: ``tsm-models <command>`` or ``python -m tsm_models <command>``.

Each command is a module of this package named after it, with ``register(subparsers)`` (which sets
``func=run`` on its parser) and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import logging

from ..version import __version__
from . import benchmark, convert, convert_zoo, evaluate, export, info, predict, train, zoo
from . import list as list_

__all__ = ["build_parser", "main"]

# In help order.
COMMANDS = (list_, info, zoo, predict, train, evaluate, convert, convert_zoo, benchmark, export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tsm-models", description="TSM video models on timm networks.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit status (2 for a bad argument or input)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        logging.getLogger("tsm_models").error("%s", exc)
        return 2
