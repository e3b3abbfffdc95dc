"""``PerImageCounts``: the torchmetrics state behind validation and test Dice, exact under DDP.

A thin ``Metric`` over :func:`segattn.scoring.confusion_counts`: it concatenates one ``[tp, fp, fn]`` row per image
and class across processes and keeps one row per dataset index, so a sampler that repeats images to even out ranks
(Lightning's ``DistributedSampler`` does) cannot move the score. The scores themselves come from
:mod:`segattn.scoring` (``summarize_counts``).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from segattn.labels import IGNORE_INDEX
from segattn.scoring.counts import confusion_counts


class PerImageCounts(Metric):
    """Collects one ``[tp, fp, fn]`` row per image and class, exact under DDP.

    States are concatenated across processes (``dist_reduce_fx="cat"``); ``compute`` keeps the first row seen for
    each dataset index, so images repeated by a padding sampler count once.

    Example:
        >>> import torch
        >>> m = PerImageCounts(num_classes=2)
        >>> m.update(torch.ones(2, 4, 4, dtype=torch.long), torch.ones(2, 4, 4, dtype=torch.long), torch.tensor([0, 1]))
        >>> m.update(torch.ones(1, 4, 4, dtype=torch.long), torch.ones(1, 4, 4, dtype=torch.long), torch.tensor([1]))
        >>> index, counts = m.compute()
        >>> index.tolist(), counts.shape
        ([0, 1], torch.Size([2, 2, 3]))
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    def __init__(self, num_classes: int, *, ignore_index: int | None = IGNORE_INDEX, **kwargs) -> None:
        super().__init__(**kwargs)
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.add_state("index", default=[], dist_reduce_fx="cat")
        self.add_state("counts", default=[], dist_reduce_fx="cat")

    def update(self, pred: Tensor, target: Tensor, index: Tensor) -> None:  # pred/target (B, H, W), index (B,)
        counts = confusion_counts(pred, target, self.num_classes, ignore_index=self.ignore_index)  # (B, K, 3)
        index = torch.as_tensor(index, device=counts.device).reshape(-1).long()
        if index.numel() != counts.shape[0]:
            raise ValueError(f"{index.numel()} indices for a batch of {counts.shape[0]} images")
        self.index.append(index)
        self.counts.append(counts)

    def update_counts(self, counts: Tensor, index: Tensor) -> None:
        """Add precomputed ``(B, K, 3)`` rows (e.g. images of different sizes scored one by one)."""
        self.index.append(torch.as_tensor(index, device=counts.device).reshape(-1).long())
        self.counts.append(counts.long())

    def compute(self) -> tuple[Tensor, Tensor]:
        index = _cat(self.index, torch.long, (0,), self.device)  # (M',)
        counts = _cat(self.counts, torch.long, (0, self.num_classes, 3), self.device)  # (M', K, 3)
        if index.numel() == 0:
            return index, counts
        # Keep the first row per index: stable sort, then drop repeats.
        order = torch.sort(index, stable=True).indices
        index, counts = index[order], counts[order]
        keep = torch.ones_like(index, dtype=torch.bool)
        keep[1:] = index[1:] != index[:-1]
        return index[keep], counts[keep]


def _cat(state: list[Tensor] | Tensor, dtype: torch.dtype, empty_shape: tuple[int, ...], device) -> Tensor:
    if isinstance(state, Tensor):  # after a distributed sync torchmetrics already concatenated the list
        return state
    if len(state) == 0:
        return torch.zeros(empty_shape, dtype=dtype, device=device)
    return torch.cat(state, dim=0)
