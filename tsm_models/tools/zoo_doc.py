"""Render the zoo registry as Markdown (the content of ``MODEL_ZOO.md``)."""

from __future__ import annotations

from ..labels import DATASET_NAMES
from ..models.zoo import LICENSE_NOTES, SOURCES, ZOO, ZooEntry, aliases

__all__ = ["verification", "zoo_markdown"]

# What this repository checked, per entry kind. Nobody here downloaded the released files (no network), so no
# published accuracy was reproduced; these are checks of the architecture, the converter and the protocol.
LEGEND: dict[str, str] = {
    "B": "builds with `pretrained=False` and gives its class count (tests/test_zoo_registry.py)",
    "C": "architecture + MMAction2-layout converter: logits equal an independent MMAction2 forward on random "
    "weights (tests/test_convert.py for ResNets; tests/test_families.py for MobileNetV2, non-local ResNet-50 and "
    "MobileOne-S4) and MMAction2 1.2.0 itself (tools/mmaction2_parity.py)",
    "O": "original-repo key layout: logits equal an independent forward of the original code on random weights, "
    "legacy pickles included (tests/test_convert.py, tests/test_families.py: TSN MobileNetV2, TSN ResNet-50 "
    "non-local, the online demo offline and streamed)",
    "S": "test sampling: indices equal MMAction2's SampleFrames/DenseSampleFrames for 1-400 frames "
    "(tools/mmaction2_parity.py); original-repo dense/twice starts equal its code's worked examples "
    "(tests/test_zoo_protocols.py)",
    "X": "crops: boxes equal the upstream code's worked examples (TenCrop, ThreeCrop, GroupFullResSample, "
    "GroupCenterCrop; tests/test_zoo_protocols.py); MMAction2 records: the preprocessed views equal MMAction2 "
    "1.2.0's test pipeline within one grey level (tools/mmaction2_parity.py --part pipeline)",
}
# Families whose architecture and converters are parity-tested here.
_PARITY_CHECKED = {"resnet", "mobilenetv2", "mobileone"}


def verification(e: ZooEntry) -> str:
    """Codes of :data:`LEGEND` that apply to ``e``."""
    protocol = ["S", "X"] if e.protocol.modality == "rgb" else []
    if e.family not in _PARITY_CHECKED:
        return ", ".join([*protocol, "architecture not checked here"])
    return ", ".join(["B", "C", *(["O"] if e.source == "mit" else []), *protocol])


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _views(e: ZooEntry) -> str:
    p = e.protocol
    crop = {"center": "center", "three": "3-crop", "ten": "10-crop", "full_res": "3-crop (full res)"}[p.crop]
    clips = {1: "1 clip", 2: "2 clips"}.get(p.num_clips, f"{p.num_clips} clips")
    bgr = ", BGR" if p.channel_order == "bgr" else ""
    return f"{p.num_views} = {clips} x {crop} {p.crop_size} ({p.sampling}, {p.num_frames}f, {p.average_clips}{bgr})"


def _arch(e: ZooEntry) -> str:
    args = ", ".join(f"{k}={v}" for k, v in e.model_args.items())
    return f"{e.arch}({args})"


def _other(e: ZooEntry) -> str:
    m = e.metrics
    if m is None:
        return "-"
    parts = []
    if m.top1_efficient is not None:
        parts.append(f"1-view {_fmt(m.top1_efficient)}/{_fmt(m.top5_efficient)}")
    if m.top1_10crop is not None:
        parts.append(f"10-crop {_fmt(m.top1_10crop)}")
    if m.reference_top1 is not None:
        parts.append(f"ref {_fmt(m.reference_top1)}/{_fmt(m.reference_top5)}")
    if m.inference_time is not None:
        parts.append(f"{m.inference_time:g} video/s ({m.inference_frames})")
    if m.gpu_mem_mb is not None:
        parts.append(f"{m.gpu_mem_mb} MB")
    if m.resolution:
        parts.append(m.resolution)
    return "; ".join(parts) or "-"


def _checkpoint(e: ZooEntry) -> str:
    label = e.sha256_prefix or "no hash"
    return f"[{label}]({e.url})"


_HEADER = (
    "| name | architecture | classes | test views | top1 | top5 | other figures | FLOPs / params | checkpoint | "
    "verified here |"
)


def _row(e: ZooEntry) -> str:
    m = e.metrics
    flops = "-" if m is None or not (m.flops or m.params) else f"{m.flops or '-'} / {m.params or '-'}"
    return (
        f"| `{e.name}` | {_arch(e)} | {e.num_classes} | {_views(e)} | {_fmt(m.top1 if m else None)} | "
        f"{_fmt(m.top5 if m else None)} | {_other(e)} | {flops} | {_checkpoint(e)} | {verification(e)} |"
    )


_NOT_SUPPORTED = (
    (
        "EPIC-KITCHENS-55 TSM (RGB, Flow), `torch.hub` epic-kitchens/action-models; EPIC-100 `tsm_rgb.ckpt`, "
        "`tsm_flow.ckpt`",
        "two classifiers (verb 125 + noun 352) on one backbone: the models here have one head and one class list; "
        "a verb/noun output does not fit `predict` or the label files cleanly",
    ),
    (
        "original repo TSN ResNet-50 `TSM_kinetics_RGB_resnet50_avg_segment5_e50.pth`",
        "a TSN baseline without temporal shift, not a TSM",
    ),
    ("original repo TSM ResNeXt-101 (Kinetics, 76.3)", "not released (README: 'TODO')"),
    (
        "MMAction2 0.x `tsm_reference_ckpt.rar`",
        "an archive of the original-repo runs behind the README's reference columns, not individual checkpoints",
    ),
    (
        "MMAction2 1.x MobileOne-S4 deploy (reparameterised) model",
        "no separate download: reparameterise the training-mode entry",
    ),
    (
        "PaddleVideo TSM / PP-TSM / PP-TSMv2 (`.pdparams`)",
        "Paddle format, ResNet-vd with leaky ReLU (PP-TSM), and the shift directions mirrored: not a renaming",
    ),
)


def zoo_markdown() -> str:
    """``MODEL_ZOO.md``: every zoo entry grouped by source and dataset, recipes, notes, names."""
    entries = list(ZOO.values())
    lines = [
        "# Model zoo",
        "",
        "<!-- Generated by `python -m tsm_models zoo --markdown > MODEL_ZOO.md`; do not edit by hand. -->",
        "",
        f"{len(entries)} released TSM checkpoints from {len(SOURCES)} sources. Each is `arch.tag` "
        "(`tsm_models.create_model(name, pretrained=True)`, also `timm.create_model`); its upstream file stem, "
        "its upstream config name (where that names one file) and the older names of this library are "
        "aliases (list at the end). Figures are the published ones; *test views* are the upstream test protocol "
        "of the figure (clips x crops, combined by `average_clips`), which `predict` reproduces; "
        "`predict(..., views='single')` is the cheap 1-clip center-crop variant.",
        "",
        "**Verified here** (codes below): nobody downloaded the released files for this page (no network where "
        "it was made), so no published accuracy was reproduced; the codes say which parts of the pipeline were "
        "checked against the upstream code.",
        "",
        *[f"- **{k}**: {v}" for k, v in LEGEND.items()],
        "",
    ]
    for code, source in SOURCES.items():
        group = [e for e in entries if e.source == code]
        if not group:
            continue
        lines += [f"## {source}", "", f"Weights license: {LICENSE_NOTES[code]}", ""]
        for dataset, title in DATASET_NAMES.items():
            rows = [e for e in group if e.dataset == dataset]
            if not rows:
                continue
            lines += [f"### {title}", "", _HEADER, "|" + "---|" * 10, *[_row(e) for e in rows], ""]
    lines += ["## Training recipes", ""]
    lines.append("| name | lr | batch | weight decay | epochs | warm-up | lr steps | flip | init |")
    lines.append("|" + "---|" * 9)
    for e in entries:
        r = e.recipe
        if r is None:
            lines.append(f"| `{e.name}` | not published | | | | | | | |")
            continue
        batch = f"{r.gpus} x {r.videos_per_gpu}" if r.videos_per_gpu else (f"{r.batch_size}" if r.batch_size else "-")
        steps = ", ".join(map(str, r.lr_steps)) or "-"
        lines.append(
            f"| `{e.name}` | {_fmt(r.lr)} | {batch} | {_fmt(r.weight_decay)} | {r.epochs or '-'} | "
            f"{r.warmup_epochs} | {steps} | {'yes' if r.flip else 'no'} | {r.pretrained} |"
        )
    lines += ["", "## Notes", ""]
    for e in entries:
        notes = [*e.notes]
        if e.config_note:
            notes.append(e.config_note)
        if e.label_set != e.dataset:
            notes.append(f"Class names: `load_labels({e.label_set!r})`.")
        lines += [f"- `{e.name}`: {n}" for n in notes]
    lines += ["", "## Known checkpoints not in the registry", ""]
    lines += [f"- {what}: {why}." for what, why in _NOT_SUPPORTED]
    lines += ["", "## Aliases", "", "Accepted wherever an `arch.tag` name is:", ""]
    lines += [f"- `{alias}` -> `{name}`" for alias, name in sorted(aliases().items())]
    return "\n".join(lines) + "\n"
