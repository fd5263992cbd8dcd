"""Command line: ``tsm-models <command>`` or ``python -m tsm_models <command>``.

Each command is a module of this package named after it, with ``register(subparsers)`` (which sets
``func=run`` on its parser) and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..version import __version__
from . import (
    benchmark,
    cam,
    convert,
    convert_zoo,
    evaluate,
    export,
    features,
    info,
    live,
    predict,
    timeline,
    train,
    zoo,
)
from . import list as list_

__all__ = ["build_parser", "main"]

# In help order.
COMMANDS = (
    list_,
    info,
    zoo,
    predict,
    timeline,
    features,
    cam,
    live,
    train,
    evaluate,
    convert,
    convert_zoo,
    benchmark,
    export,
)


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
    log = logging.getLogger("tsm_models")
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # stdout closed early (`tsm-models predict ... | head -1`): stop quietly
        _discard_stdout()
        return 1
    except (ValueError, TypeError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 2
    except OSError as exc:  # a full disk, a read-only folder...: one line, not a traceback
        log.error("%s", exc)
        return 1


def _discard_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise BrokenPipeError again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. replaced in tests)
        pass
