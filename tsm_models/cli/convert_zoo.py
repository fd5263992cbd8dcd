"""``convert-zoo``: every zoo checkpoint into Hub-ready folders (for maintainers publishing the converted weights).

``tsm-models convert-zoo --out DIR [--src-dir DIR] [--pattern GLOB]``: each entry into ``DIR/<arch.tag>/``
(``model.safetensors``, ``config.json``, ``README.md``). Originals come from ``--src-dir`` (file names as
released, sha256 prefix checked) or are downloaded (cached, verified).
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path

from ..models import ZOO, ZooEntry, create_model, save_pretrained
from ..models._download import sha256_file
from ..models._pretrained import load_checkpoint_into, resolve_pretrained
from ..models.checkpoint import read_checkpoint


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert-zoo", help="convert every zoo checkpoint into Hub-ready folders (maintainers)")
    p.add_argument("--out", required=True, type=Path, help="output root; one folder per checkpoint name")
    p.add_argument("--src-dir", type=Path, default=None, help="folder with the original .pth files (else download)")
    p.add_argument("--pattern", default="*", help="only checkpoint names matching this shell-style pattern")
    p.add_argument("--cache-dir", type=Path, default=None, help="download cache (default: tsm_models cache)")
    p.set_defaults(func=run)


def _local_original(entry: ZooEntry, src_dir: Path) -> Path:
    path = src_dir / entry.filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (expected the released file of {entry.name})")
    digest = sha256_file(path)
    if not digest.startswith(entry.sha256_prefix):
        raise ValueError(f"{path}: sha256 {digest[:8]}... does not match the released prefix {entry.sha256_prefix}")
    return path


def _convert_entry(entry: ZooEntry, args: argparse.Namespace) -> Path:
    model = create_model(entry.name)
    if args.src_dir is not None:
        load_checkpoint_into(model, read_checkpoint(_local_original(entry, args.src_dir)), entry.num_classes)
    else:
        _, state_dict = resolve_pretrained(model, entry, cache_dir=args.cache_dir, use_hub=False)
        model.load_state_dict(state_dict)
    return save_pretrained(model, args.out / entry.name)


def run(args: argparse.Namespace) -> int:
    names = [n for n in ZOO if fnmatch.fnmatch(n.lower(), args.pattern.lower())]
    if not names:
        raise ValueError(f"no zoo name matches {args.pattern!r}")
    for name in names:
        out = _convert_entry(ZOO[name], args)
        sys.stdout.write(f"{name} -> {out}\n")
    return 0
