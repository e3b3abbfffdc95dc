"""What mask labels mean, in one place: the ignore value, how many logit channels a class count needs, and how
those channels are read as probabilities."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no torch import at run time: the commands read this module before they import torch
    from torch import Tensor

IGNORE_INDEX = 255  # mask value of pixels that count nowhere: not in the loss, not in any score


def output_channels(num_classes: int) -> int:
    """Logit channels for ``num_classes`` mask classes (background included): 1 for binary, read with a sigmoid
    (class 1 where the logit is > 0); otherwise one per class, read with a softmax (argmax)."""
    if num_classes < 2:
        raise ValueError(f"num_classes counts background too and must be >= 2, got {num_classes}")
    return 1 if num_classes == 2 else num_classes


def probabilities(logits: Tensor) -> Tensor:
    """Logits (B, 1 or K, H, W) -> class probabilities: a sigmoid for one channel (binary), else a softmax."""
    return logits.sigmoid() if logits.shape[1] == 1 else logits.softmax(dim=1)
