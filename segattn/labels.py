"""What mask labels mean, in one place: the ignore value, and how many logit channels a class count needs."""

from __future__ import annotations

IGNORE_INDEX = 255  # mask value of pixels that count nowhere: not in the loss, not in any score


def output_channels(num_classes: int) -> int:
    """Logit channels for ``num_classes`` mask classes (background included): 1 for binary, read with a sigmoid
    (class 1 where the logit is > 0); otherwise one per class, read with a softmax (argmax)."""
    if num_classes < 2:
        raise ValueError(f"num_classes counts background too and must be >= 2, got {num_classes}")
    return 1 if num_classes == 2 else num_classes
