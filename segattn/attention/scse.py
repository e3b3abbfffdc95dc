"""Concurrent spatial and channel squeeze & excitation (Roy et al. 2018, scSE, arXiv:1803.02579).

Two gates on the same input, then merged:

    cSE(x) = σ(W2 · δ(W1 · mean_hw(x) + b1) + b2)    (B, C, 1, 1)   the SE channel gate (see se.py)
    sSE(x) = σ(w · x + b)                            (B, 1, H, W)   a 1x1 conv C -> 1: one weight per pixel
    y = x · cSE(x) + x · sSE(x)                      aggregation="add" (default): the paper's sum, as in smp
    y = max(x · cSE(x), x · sSE(x))                  aggregation="max": the element-wise max-out that the
                                                     journal extension (Roy et al., IEEE TMI 2019) preferred

Unlike smp's ``SCSEModule`` (hidden width C // 16, i.e. a zero-width conv for C < 16 that fails only at
forward), the hidden width is r = make_divisible(C · rd_ratio, rd_divisor) with the floor ``min_channels``
(default ``rd_divisor``): never 0.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from .layers import ActName, GateName, check_channels, get_gate
from .se import SqueezeExcite

_AGGREGATIONS = ("add", "max")


class ConcurrentSqueezeExcite(nn.Module):
    """scSE: ``x * cSE(x) + x * sSE(x)`` (arXiv:1803.02579).

    Args:
        channels: C, the input's channel count (any C >= 1).
        rd_ratio: hidden width of the channel gate as a fraction of C (the paper's 1 / 16).
        rd_divisor: the hidden width is rounded to a multiple of this.
        rd_channels: explicit hidden width, overrides ``rd_ratio``.
        min_channels: floor of the hidden width (default ``rd_divisor``).
        act_layer: activation inside the channel gate.
        gate_layer: map to (0, 1) used by both gates.
        aggregation: ``"add"`` (the paper) or ``"max"`` (element-wise max of the two recalibrated maps).
    """

    def __init__(
        self,
        channels: int,
        *,
        rd_ratio: float = 1 / 16,
        rd_divisor: int = 8,
        rd_channels: int | None = None,
        min_channels: int | None = None,
        act_layer: ActName = "relu",
        gate_layer: GateName = "sigmoid",
        aggregation: Literal["add", "max"] = "add",
    ) -> None:
        super().__init__()
        owner = "ConcurrentSqueezeExcite"
        check_channels(channels, owner=owner)
        if aggregation not in _AGGREGATIONS:
            raise ValueError(f"{owner}: aggregation must be one of {list(_AGGREGATIONS)}, got {aggregation!r}")
        self.aggregation = aggregation
        # cSE is exactly the SE block; it validates channels and the reduction options
        self.cse = SqueezeExcite(
            channels,
            rd_ratio=rd_ratio,
            rd_divisor=rd_divisor,
            rd_channels=rd_channels,
            min_channels=min_channels,
            act_layer=act_layer,
            gate_layer=gate_layer,
        )
        self.sse = nn.Conv2d(channels, 1, kernel_size=1)
        self.sse_gate = get_gate(gate_layer, owner=owner)()

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        x_cse = self.cse(x)  # x * (B, C, 1, 1) gate
        x_sse = x * self.sse_gate(self.sse(x))  # x * (B, 1, H, W) gate
        if self.aggregation == "max":
            return torch.maximum(x_cse, x_sse)
        return x_cse + x_sse
