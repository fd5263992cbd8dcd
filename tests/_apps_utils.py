"""Tiny models for the video-tool tests: a zoo entry with a 32-px, 4-frame protocol, Kinetics-400 names."""

from __future__ import annotations

import dataclasses

import torch
from timm.models.resnet import BasicBlock

from tsm_models.models import TSM
from tsm_models.models.zoo import ZOO, ClipProtocol

ZOO_NAME = "tsm_r50.mm0_8f_340x256_k400"  # a real zoo name (the CLI resolves it); the model is swapped for a tiny one
SMALL = ClipProtocol(num_frames=4, resize_short=32, crop_size=32, input_format="video", start_index=0)


def tiny_entry(protocol: ClipProtocol = SMALL, num_classes: int = 400):
    return dataclasses.replace(ZOO[ZOO_NAME], protocol=protocol, num_classes=num_classes, num_labels=num_classes)


def tiny_model(
    num_classes: int = 400,
    seed: int = 0,
    online: bool = False,
    protocol: ClipProtocol = SMALL,
    num_segments: int = 4,
    **kwargs: object,
) -> TSM:
    """A TSM (4 segments by default) on a 1-1-1-1 BasicBlock ResNet with 8-16-16-16 channels, seeded, eval mode."""
    torch.manual_seed(seed)
    model = TSM(
        BasicBlock,
        (1, 1, 1, 1),
        num_classes=num_classes,
        num_segments=num_segments,
        channels=(8, 16, 16, 16),
        stem_width=8,
        shift_direction="online" if online else "bidirectional",
        **kwargs,
    )
    with torch.no_grad():  # the zoo's classifier init (std 0.001) gives near-uniform outputs: spread them
        model.fc.weight.normal_(0, 0.5)
    model.zoo_entry = tiny_entry(protocol, num_classes)
    return model.eval()
