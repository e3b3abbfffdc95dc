"""Test-time augmentation over the dihedral group D4, averaged in probability space.

A transform is ``(k, flip)``: flip the width axis if ``flip``, then rotate by ``k`` quarter turns.
Its inverse undoes the rotation first, then the flip. Tiles are square, so the four transforms
that swap height and width still produce tiles of the original shape.

Modes: ``none`` (identity), ``flip`` (identity, horizontal, vertical and both flips — the
mirroring of nnU-Net), ``d4`` (all 8 rotations and reflections of the square).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch
from torch import Tensor

TTAMode = Literal["none", "flip", "d4"]
TTA_MODES: tuple[str, ...] = get_args(TTAMode)

Transform = tuple[int, bool]  # (quarter turns k, flip width axis first)

_TRANSFORMS: dict[str, tuple[Transform, ...]] = {
    "none": ((0, False),),
    # vertical flip == hflip then rot180; both flips == rot180
    "flip": ((0, False), (0, True), (2, True), (2, False)),
    "d4": tuple((k, f) for f in (False, True) for k in range(4)),
}


def transforms_for(mode: str) -> tuple[Transform, ...]:
    if mode not in _TRANSFORMS:
        raise ValueError(f"unknown TTA mode {mode!r}; choose from {list(TTA_MODES)}")
    return _TRANSFORMS[mode]


def apply_transform(x: Tensor, t: Transform) -> Tensor:
    """Transform the last two (spatial) dims of ``x``."""
    k, flip = t
    if flip:
        x = x.flip(-1)
    return torch.rot90(x, k, dims=(-2, -1)) if k else x


def invert_transform(x: Tensor, t: Transform) -> Tensor:
    """Undo :func:`apply_transform` with the same ``t``."""
    k, flip = t
    if k:
        x = torch.rot90(x, -k, dims=(-2, -1))
    return x.flip(-1) if flip else x


def predict_with_tta(predict: Callable[[Tensor], Tensor], x: Tensor, mode: str = "none") -> Tensor:
    """Mean over ``mode``'s transforms of ``inverse(predict(transform(x)))``.

    ``predict`` maps (B, C, T, T) to (B, C_out, T, T) probabilities (not logits: averaging logits
    and averaging probabilities differ, and the probabilities are what is blended and saved).
    """
    transforms = transforms_for(mode)
    if x.shape[-1] != x.shape[-2] and any(k % 2 for k, _ in transforms):
        raise ValueError(f"TTA mode {mode!r} rotates by 90 degrees and needs square tiles, got {tuple(x.shape)}")
    total: Tensor | None = None
    for t in transforms:
        out = invert_transform(predict(apply_transform(x, t)), t).float()  # (B, C_out, T, T)
        total = out if total is None else total + out  # not in place: `out` may alias the input
    assert total is not None
    return total / len(transforms)
