"""Squeeze-and-Excitation channel gate (Hu et al. 2018, "Squeeze-and-Excitation Networks", arXiv:1709.01507).

    s = mean_{h, w} x                        (B, C)          squeeze: global average pool
    e = gate(W2 · act(W1 · s + b1) + b2)      (B, C)          excite: W1 is (r, C), W2 is (C, r); gate = sigmoid
    y = x · e                                 (B, C, H, W)    scale every channel

Hidden width r: the paper uses r = C / 16. Here r = make_divisible(C · rd_ratio, rd_divisor) with the floor
``min_channels`` (default ``rd_divisor``), so r is never 0: with the defaults (1/16, 8) r = 8 for every C <= 128
(for C < 8 the "bottleneck" is wider than C) and r = 16 at C = 256. ``rd_divisor=1, min_channels=1`` gives the
paper's C / 16 (rounded, at least 1). ``rd_channels`` sets r directly.

timm's ``SEModule`` computes exactly this formula and works at any size, so it is reused; this class supplies
our argument vocabulary and the checks at construction.
"""

from __future__ import annotations

from timm.layers import SEModule
from torch import Tensor

from .layers import ActName, GateName, get_act, get_gate, reduced_channels


class SqueezeExcite(SEModule):
    """Squeeze-and-Excitation: ``x * sigmoid(fc2(relu(fc1(mean_hw(x)))))`` (arXiv:1709.01507).

    Args:
        channels: C, the input's channel count (any C >= 1).
        rd_ratio: hidden width as a fraction of C (the paper's 1 / r with r = 16).
        rd_divisor: the hidden width is rounded to a multiple of this.
        rd_channels: explicit hidden width, overrides ``rd_ratio``.
        min_channels: floor of the hidden width (default ``rd_divisor``).
        act_layer: activation between the two 1x1 convs.
        gate_layer: map to (0, 1) applied to the excitation.
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
    ) -> None:
        owner = "SqueezeExcite"
        rd = reduced_channels(
            channels,
            rd_ratio=rd_ratio,
            rd_divisor=rd_divisor,
            rd_channels=rd_channels,
            min_channels=min_channels,
            owner=owner,
        )
        super().__init__(
            channels,
            rd_channels=rd,
            act_layer=get_act(act_layer, owner=owner),
            gate_layer=get_gate(gate_layer, owner=owner),
        )

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        return super().forward(x)
