"""Command line: ``tsm-models <command>`` or ``python -m tsm_models <command>``.

Each command lives in its own module of this package, exposing ``register(subparsers)``; the module
sets ``func(args) -> int`` as the parser default.
"""

from __future__ import annotations

import argparse
import importlib
import logging

from ..version import __version__

__all__ = ["build_parser", "main"]

# Modules of this package that define commands, in help order.
COMMAND_MODULES: tuple[str, ...] = ("models", "zoo", "predict")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tsm-models", description="TSM video models on timm ResNets.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        logging.getLogger("tsm_models").error("%s", exc)
        return 2
