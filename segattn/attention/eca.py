"""Efficient Channel Attention (Wang et al. 2020, "ECA-Net", arXiv:1910.03151).

    s = mean_{h, w} x                     (B, C)          global average pool
    e = gate(conv1d_k(s))                 (B, C)          one k-tap conv across neighbouring channels, no bias,
                                                          zero padding k // 2; gate = sigmoid
    y = x · e                             (B, C, H, W)

Kernel size, the paper's eq. (12):  k = ψ(C) = | log2(C) / γ + b / γ |_odd,  γ = 2, b = 1,
where |t|_odd is the odd number nearest to t. Computed as the authors' code does:
t = int(|(log2(C) + b) / γ|) and k = t if t is odd else t + 1 (a tie at an even t goes up). Examples:
C = 1 -> t = 0 -> k = 1;  C = 64 -> t = int(3.5) = 3 -> k = 3;  C = 256 -> t = int(4.5) = 4 -> k = 5.
``kernel_size=...`` fixes k instead (any odd k >= 1).

timm's ``EcaModule`` forward is this formula and is reused, but its adaptive rule is not the paper's (it
floors k at 3, so C <= 4 gets 3 instead of 1, and ignores ``kernel_size`` whenever C is given): k is chosen here.
"""

from __future__ import annotations

import math

from timm.layers import EcaModule
from torch import Tensor

from .layers import GateName, check_channels, check_kernel_size, get_gate


def eca_kernel_size(channels: int, *, gamma: float = 2.0, beta: float = 1.0) -> int:
    """The paper's k = |log2(C) / γ + b / γ|_odd (see the module docstring for the rounding)."""
    t = int(abs((math.log2(channels) + beta) / gamma))
    return t if t % 2 == 1 else t + 1


class EfficientChannelAttention(EcaModule):
    """ECA: ``x * sigmoid(conv1d_k(mean_hw(x)))`` with k from C (arXiv:1910.03151).

    Args:
        channels: C, the input's channel count (any C >= 1).
        kernel_size: fixed odd k; ``None`` (default) picks k from C with the paper's rule.
        gamma: γ of the adaptive rule (> 0).
        beta: b of the adaptive rule.
        gate_layer: map to (0, 1) applied to the conv output.
    """

    def __init__(
        self,
        channels: int,
        *,
        kernel_size: int | None = None,
        gamma: float = 2.0,
        beta: float = 1.0,
        gate_layer: GateName = "sigmoid",
    ) -> None:
        owner = "EfficientChannelAttention"
        check_channels(channels, owner=owner)
        if not gamma > 0:
            raise ValueError(f"{owner}: gamma must be > 0, got {gamma!r}")
        if kernel_size is None:
            kernel_size = eca_kernel_size(channels, gamma=gamma, beta=beta)
        check_kernel_size(kernel_size, owner=owner)
        # channels=None makes timm use our kernel_size instead of its own adaptive rule
        super().__init__(channels=None, kernel_size=kernel_size, gate_layer=get_gate(gate_layer, owner=owner))
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        return super().forward(x)
