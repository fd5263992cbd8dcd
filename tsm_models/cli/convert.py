"""``convert``: turn one MMAction2 / original-TSM checkpoint into a Hub-ready folder.

``tsm-models convert SRC.pth --model NAME --out DIR``: any architecture or checkpoint name; the folder holds
``model.safetensors``, ``config.json`` and ``README.md`` (see ``convert-zoo`` for the whole zoo).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..models import create_model, save_pretrained


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert an MMAction2 / original-TSM checkpoint into a Hub-ready folder")
    p.add_argument("src", type=Path, help="checkpoint: MMAction2 or original-TSM .pth, .safetensors, or a folder")
    p.add_argument("--model", required=True, help="architecture or zoo name, e.g. tsm_r50_1x1x8_kinetics400")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--num-segments", type=int, default=None, help="frames per shift group (architecture names)")
    p.add_argument("--num-classes", type=int, default=None, help="classifier size (architecture names)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    pairs = (("num_segments", args.num_segments), ("num_classes", args.num_classes))
    kwargs = {k: v for k, v in pairs if v is not None}
    model = create_model(args.model, pretrained=args.src, **kwargs)
    out = save_pretrained(model, args.out)
    sys.stdout.write(f"{args.src} -> {out} ({args.model}, {model.num_classes} classes)\n")
    return 0
