"""``convert`` and ``convert-zoo``: turn MMAction2 / original-TSM checkpoints into Hub-ready folders.

* ``tsm-models convert SRC.pth --model NAME --out DIR``: one checkpoint, any architecture or zoo name.
* ``tsm-models convert-zoo --out DIR [--src-dir DIR] [--pattern GLOB]``: every zoo entry, each into
  ``DIR/<zoo name>/`` (``model.safetensors``, ``config.json``, ``README.md``). Originals come from
  ``--src-dir`` (file names as released, sha256 prefix checked) or are downloaded (cached, verified).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..factory import create_model
from ..hub import save_pretrained, sha256_file
from ..pretrained import load_checkpoint_into, resolve_pretrained
from ..zoo import ZOO, ZooEntry, filter_names


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert an MMAction2 / original-TSM checkpoint into a Hub-ready folder")
    p.add_argument("src", type=Path, help="checkpoint: MMAction2 or original-TSM .pth, .safetensors, or a folder")
    p.add_argument("--model", required=True, help="architecture or zoo name, e.g. tsm_r50_1x1x8_kinetics400")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--num-segments", type=int, default=None, help="frames per shift group (architecture names)")
    p.add_argument("--num-classes", type=int, default=None, help="classifier size (architecture names)")
    p.set_defaults(func=_convert)
    p = sub.add_parser("convert-zoo", help="convert every zoo checkpoint into Hub-ready folders (maintainers)")
    p.add_argument("--out", required=True, type=Path, help="output root; one folder per zoo name")
    p.add_argument("--src-dir", type=Path, default=None, help="folder with the original .pth files (else download)")
    p.add_argument("--pattern", default="*", help="only zoo names matching this shell-style pattern")
    p.add_argument("--cache-dir", type=Path, default=None, help="download cache (default: tsm_models cache)")
    p.set_defaults(func=_convert_zoo)


def _convert(args: argparse.Namespace) -> int:
    pairs = (("num_segments", args.num_segments), ("num_classes", args.num_classes))
    kwargs = {k: v for k, v in pairs if v is not None}
    model = create_model(args.model, pretrained=args.src, **kwargs)
    out = save_pretrained(model, args.out)
    sys.stdout.write(f"{args.src} -> {out} ({args.model}, {model.num_classes} classes)\n")
    return 0


def _local_original(entry: ZooEntry, src_dir: Path) -> Path:
    path = src_dir / entry.filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (expected the released file of {entry.name})")
    digest = sha256_file(path)
    if not digest.startswith(entry.sha256_prefix):
        raise ValueError(f"{path}: sha256 {digest[:8]}... does not match the released prefix {entry.sha256_prefix}")
    return path


def _convert_entry(entry: ZooEntry, args: argparse.Namespace) -> Path:
    from ..checkpoint import read_checkpoint

    model = create_model(entry.name)
    if args.src_dir is not None:
        source = _local_original(entry, args.src_dir)
    else:
        source = resolve_pretrained(model, entry, cache_dir=args.cache_dir, use_hub=False)
    load_checkpoint_into(model, read_checkpoint(source), entry.num_classes)
    return save_pretrained(model, args.out / entry.name)


def _convert_zoo(args: argparse.Namespace) -> int:
    names = filter_names(list(ZOO), args.pattern)
    if not names:
        raise ValueError(f"no zoo name matches {args.pattern!r}")
    for name in names:
        out = _convert_entry(ZOO[name], args)
        sys.stdout.write(f"{name} -> {out}\n")
    return 0
