"""The ``README.md`` model card of a saved or pushed model: Hub front matter, metrics, labels, preprocessing,
citation. Written next to ``model.safetensors`` and ``config.json`` by :func:`tsm_models.save_pretrained`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

from ..labels import DATASET_NAMES, DATASETS, load_labels

if TYPE_CHECKING:
    from .zoo import ZooEntry

__all__ = ["model_card"]

_CITATION = """@inproceedings{lin2019tsm,
  title     = {TSM: Temporal Shift Module for Efficient Video Understanding},
  author    = {Lin, Ji and Gan, Chuang and Han, Song},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  year      = {2019}
}

@misc{2020mmaction2,
  title        = {OpenMMLab's Next Generation Video Understanding Toolbox and Benchmark},
  author       = {MMAction2 Contributors},
  howpublished = {\\url{https://github.com/open-mmlab/mmaction2}},
  year         = {2020}
}"""


def _front_matter(config: dict[str, Any], entry: ZooEntry | None, base: str) -> str:
    lines = [
        "---",
        "library_name: tsm_models",
        "pipeline_tag: video-classification",
        "tags: [video-classification, action-recognition, tsm, timm]",
        f"license: {config['pretrained_cfg'].get('license', 'apache-2.0')}",
    ]
    if base:
        lines.append(f"base_model: timm/{base}")
    if entry is not None and entry.metrics is not None:
        lines += [
            "model-index:",
            f"- name: {entry.name}",
            "  results:",
            "  - task: {type: video-classification}",
            f"    dataset: {{name: {DATASET_NAMES.get(entry.dataset, entry.dataset)}, type: {entry.dataset}}}",
            "    metrics:",
            f"    - {{type: top-1 accuracy, value: {entry.metrics.top1}}}",
            f"    - {{type: top-5 accuracy, value: {entry.metrics.top5}}}",
        ]
    return "\n".join([*lines, "---", ""])


def _entry_sections(entry: ZooEntry, num_classes: int, num_segments: int) -> list[str]:
    p, m = entry.protocol, entry.metrics
    out = [
        f"Converted from MMAction2 `{entry.config}` ({entry.released}), [original checkpoint]({entry.url}) "
        f"(sha256 `{entry.sha256_prefix}...`), [training log]({entry.log_url}).\n",
    ]
    if m is not None:
        out += [
            "## Metrics\n",
            "| | top-1 | top-5 |\n|---|---|---|",
            f"| MMAction2 (reported) | {m.top1} | {m.top5} |",
            f"| original TSM code, same settings | {m.reference_top1} | {m.reference_top5} |\n",
            f"Test protocol: {p.num_clips} clip(s) x {p.num_frames} frames, {p.sampling} sampling, "
            f"{p.num_crops} {p.crop} crop(s); trained on {m.resolution} frames.\n",
        ]
    names = load_labels(entry.dataset) if entry.dataset in DATASETS else []
    out += [
        "## Labels\n",
        f"{DATASET_NAMES.get(entry.dataset, entry.dataset)}: {entry.num_labels} named classes "
        f"(`tsm_models.load_labels({entry.dataset!r})`, also `label_names` in `config.json`); first: "
        + ", ".join(f"`{n}`" for n in names[:5])
        + ".",
    ]
    if num_classes != entry.num_labels:
        out.append(f"The classifier has {num_classes} outputs; only indices 0..{entry.num_labels - 1} are named.")
    out += [
        "\n## Preprocessing\n",
        f"RGB frames, {p.sampling} sampling of {p.num_frames} frames per clip, resize the short side to "
        f"{p.resize_short} (bilinear), {p.crop} crop {p.crop_size}x{p.crop_size}, normalise with mean "
        f"{list(p.mean)} and std {list(p.std)} on the 0-255 scale. Input `(B, T, 3, H, W)` with T = "
        f"{p.num_frames}; the shift groups every {num_segments} frames.\n",
    ]
    out += [f"Note: {n}\n" for n in entry.notes]
    return out


def model_card(model: nn.Module, config: dict[str, Any]) -> str:
    """Markdown model card (``README.md``) of ``model`` and its ``config.json`` dict: Hub front matter, metrics,
    labels, preprocessing, citation."""
    entry: ZooEntry | None = getattr(model, "zoo_entry", None)
    tag = config["pretrained_cfg"].get("tag")
    name = f"{config['architecture']}.{tag}" if tag else config["architecture"]
    args = ", ".join(f"{k}={v!r}" for k, v in config["model_args"].items())
    base = str(getattr(model, "base_model", ""))
    parts = [
        _front_matter(config, entry, base),
        f"# {name}\n",
        f"TSM (Temporal Shift Module) video classifier: {args}.\n",
    ]
    if entry is not None:
        parts += _entry_sections(entry, model.num_classes, model.num_segments)
    parts += [
        "## Usage\n",
        "```python\nimport tsm_models\n\n"
        f'model = tsm_models.from_pretrained("<this repo id or folder>")  # {name}\n'
        "logits = model(video)  # video: (B, T, 3, H, W) normalised RGB -> (B, num_classes)\n```\n",
        "## Citation\n",
        f"```bibtex\n{_CITATION}\n```\n",
    ]
    return "\n".join(parts)
