"""Fine-tune a zoo TSM on your own videos (a folder per class), alone or under torchrun.

A thin wrapper around ``tsm-models train`` (:func:`tsm_models.train.fit.fit`), which ``pip install
tsm-models`` installs: every flag of that command works here. This script only adds defaults: ``--model
tsm_r50_1x1x8_kinetics400``, ``--work-dir work/finetune`` and the ``finetune`` recipe (1 warm-up epoch, then
cosine). Data layout (class names = folder names)::

    DATA/train/<class>/<video>.mp4
    DATA/val/<class>/<video>.mp4

Examples::

    python examples/finetune.py DATA --epochs 10 --work-dir work/ft
    torchrun --nproc_per_node 4 examples/finetune.py DATA --amp bf16 --work-dir work/ft --resume auto
    python examples/finetune.py DATA --pretrained path/to/checkpoint.pth
    python examples/finetune.py DATA --no-pretrained

The work dir gets ``last.pt`` (resumable), ``best.pt``, ``log.jsonl``, the validation report and the
``model/`` folder that ``tsm-models predict -m MODEL --pretrained work/ft/model`` takes. The last stdout
line is a JSON summary.
"""

from __future__ import annotations

import sys

from tsm_models.cli import main as cli_main

DEFAULTS = {"--model": "tsm_r50_1x1x8_kinetics400", "--out": "work/finetune", "--recipe": "finetune"}
_SPELLINGS = {"--model": ("-m", "--model"), "--out": ("--out", "--work-dir"), "--recipe": ("--recipe",)}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    for flag, value in DEFAULTS.items():
        given = any(a in _SPELLINGS[flag] or a.startswith(tuple(s + "=" for s in _SPELLINGS[flag])) for a in args)
        if not given:
            args += [flag, value]
    return cli_main(["train", *args])


if __name__ == "__main__":
    sys.exit(main())
