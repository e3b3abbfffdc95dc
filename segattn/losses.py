"""Segmentation loss: soft Dice plus cross-entropy, with ignored pixels left out of both parts.

    loss = dice_weight · (1 - soft Dice) + ce_weight · cross-entropy

Binary tasks (``num_classes == 2``, one logit channel): soft Dice of the sigmoid foreground probability and binary
cross-entropy with logits. Multi-class tasks (``num_classes`` logit channels): soft Dice of the softmax over every
class (smp's ``DiceLoss``, a class absent from the batch's reference adds no Dice term) and cross-entropy.

Pixels whose target equals ``ignore_index`` (padding, unlabelled regions) contribute to neither part: the Dice sums
skip them (smp's ``ignore_index``) and the cross-entropy is averaged over the remaining pixels only, so padding a
batch never changes its loss. A batch with no valid pixel gives a zero loss that still has a gradient graph.
"""

from __future__ import annotations

import torch.nn.functional as F
from segmentation_models_pytorch.losses import DiceLoss
from torch import Tensor, nn


class DiceCELoss(nn.Module):
    """``dice_weight · Dice loss + ce_weight · (binary) cross-entropy`` ignoring ``ignore_index`` pixels.

    Args:
        num_classes: mask classes including background; 2 means binary with a single logit channel.
        dice_weight: weight of the soft Dice term.
        ce_weight: weight of the cross-entropy term (BCE for binary tasks).
        ignore_index: target value of pixels that never count.
    """

    def __init__(
        self, num_classes: int, *, dice_weight: float = 1.0, ce_weight: float = 1.0, ignore_index: int = 255
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes counts background too and must be >= 2, got {num_classes}")
        if dice_weight < 0 or ce_weight < 0 or dice_weight + ce_weight == 0:
            raise ValueError(f"loss weights must be >= 0 and not both 0, got dice={dice_weight}, ce={ce_weight}")
        self.binary = num_classes == 2
        self.num_classes = num_classes
        self.dice_weight = dice_weight
        self.ce_weight = ce_weight
        self.ignore_index = ignore_index
        self.dice = DiceLoss("binary" if self.binary else "multiclass", from_logits=True, ignore_index=ignore_index)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Logits (B, 1 or K, H, W) and target (B, H, W) int64 -> scalar loss."""
        expected = 1 if self.binary else self.num_classes
        if logits.shape[1] != expected:
            raise ValueError(
                f"expected logits with {expected} channels for {self.num_classes} classes, got {tuple(logits.shape)}"
            )
        valid = target != self.ignore_index  # (B, H, W)
        n_valid = valid.sum().clamp_min(1)
        if self.binary:
            logit = logits[:, 0]  # (B, H, W)
            bce = F.binary_cross_entropy_with_logits(logit, (target == 1).to(logit.dtype), reduction="none")
            ce = (bce * valid).sum() / n_valid
        else:
            ce = F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction="sum") / n_valid
        return self.dice_weight * self.dice(logits, target) + self.ce_weight * ce
