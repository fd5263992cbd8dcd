"""RandAugment on clips: the same randomly chosen operations, with the same magnitudes, on every frame.

Per-frame RandAugment would make a clip flicker between unrelated photometric and geometric changes (and
break the motion TSM learns). :class:`ClipRandAugment` runs torchvision's
:class:`~torchvision.transforms.v2.RandAugment` once on the whole ``(T, 3, H, W)`` clip, which torchvision
treats as a batch of images sharing one draw. The draw comes from a generator seeded by the caller (the
dataset passes its per-item NumPy generator), so clips do not depend on DataLoader workers and a resumed run
draws the same operations.

The operations (identity, shear, translate, rotate, brightness, colour, contrast, sharpness, posterize,
solarize, autocontrast, equalize) contain no horizontal mirror, so they never change what "left" and "right"
mean in a clip: the Something-Something left/right label swap of a flipped clip stays correct.

Spec strings follow timm's ``rand-m{magnitude}-n{num_ops}`` (e.g. ``rand-m9-n2``; missing parts keep the
defaults 9 and 2; MMAction2's sthv1 RandAugment recipe is ``rand-m7-n4``).
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torchvision.transforms import v2

__all__ = ["ClipRandAugment", "parse_randaugment"]

_SPEC = re.compile(r"^rand(?:-m(?P<m>\d+))?(?:-n(?P<n>\d+))?$")


def parse_randaugment(spec: str) -> tuple[int, int]:
    """``"rand-m9-n2"`` -> ``(magnitude 9, num_ops 2)``; raises ``ValueError`` for anything else."""
    if not isinstance(spec, str):
        raise TypeError(f"RandAugment spec must be a str like 'rand-m9-n2', got {type(spec).__name__}")
    match = _SPEC.match(spec.strip())
    if match is None:
        raise ValueError(f"RandAugment spec must look like 'rand-m9-n2' (m = magnitude 0-30, n = ops), got {spec!r}")
    magnitude = int(match["m"]) if match["m"] is not None else 9
    num_ops = int(match["n"]) if match["n"] is not None else 2
    if not 0 <= magnitude <= 30 or num_ops < 1:
        raise ValueError(f"RandAugment magnitude must be in 0..30 and ops >= 1, got m={magnitude}, n={num_ops}")
    return magnitude, num_ops


class ClipRandAugment:
    """RandAugment with one draw per clip.

    Args:
        magnitude: torchvision's magnitude (0-30 bins; timm's ``m``).
        num_ops: operations applied in sequence (timm's ``n``).

    ``aug(clip, rng)`` takes a ``uint8`` clip ``(T, 3, H, W)`` and a NumPy generator and returns the augmented
    ``uint8`` clip; every frame gets the same operations and magnitudes.
    """

    def __init__(self, magnitude: int = 9, num_ops: int = 2) -> None:
        self.magnitude = int(magnitude)
        self.num_ops = int(num_ops)
        self._aug = v2.RandAugment(num_ops=self.num_ops, magnitude=self.magnitude)

    @classmethod
    def from_spec(cls, spec: str) -> ClipRandAugment:
        """Build from a timm-style ``rand-m9-n2`` string."""
        magnitude, num_ops = parse_randaugment(spec)
        return cls(magnitude, num_ops)

    @property
    def spec(self) -> str:
        return f"rand-m{self.magnitude}-n{self.num_ops}"

    def __repr__(self) -> str:
        return f"ClipRandAugment(magnitude={self.magnitude}, num_ops={self.num_ops})"

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        if not isinstance(clip, torch.Tensor) or clip.ndim != 4 or clip.shape[1] != 3:
            shape = tuple(clip.shape) if isinstance(clip, torch.Tensor) else type(clip).__name__
            raise ValueError(f"expected a clip (T, 3, H, W), got {shape}")
        if clip.dtype != torch.uint8:
            raise ValueError(f"RandAugment works on uint8 frames (0-255), got {clip.dtype}")
        seed = int(rng.integers(2**63 - 1))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self._aug(clip)
