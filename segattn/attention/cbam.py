"""Convolutional Block Attention Module (Woo et al. 2018, "CBAM", arXiv:1807.06521).

A channel gate, then a spatial gate on its output (the paper's sequential, channel-first order):

    Mc(x) = σ(W1 · δ(W0 · avg_hw(x)) + W1 · δ(W0 · max_hw(x)))   (B, C, 1, 1)  one bias-free MLP shared by both
    x'    = x · Mc(x)                                            (B, C, H, W)  pools; W0 is (r, C), δ = ReLU
    Ms(x') = σ(f_kxk([mean_c(x'); max_c(x')]))                   (B, 1, H, W)  k = 7, zero padding k // 2
    y     = x' · Ms(x')                                          (B, C, H, W)

Hidden width r = make_divisible(C · rd_ratio, rd_divisor), never below ``min_channels`` (default
``rd_divisor``), so never 0 (the paper: r = C / 16; ``rd_divisor=1, min_channels=1`` gives that).

Not timm's ``CbamModule``: it puts a BatchNorm after the spatial conv (from the authors' code, not in the
paper's formula), which makes train and eval outputs differ, and it lives in an unexported module its author
flags for possible removal.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .layers import ActName, GateName, check_kernel_size, get_act, get_gate, reduced_channels


class ChannelGate(nn.Module):
    """CBAM's channel gate: ``x * σ(mlp(avg_hw(x)) + mlp(max_hw(x)))`` with one bias-free 1x1-conv MLP."""

    def __init__(
        self, channels: int, rd_channels: int, *, act_layer: type[nn.Module], gate_layer: type[nn.Module]
    ) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, rd_channels, kernel_size=1, bias=False)
        self.act = act_layer()
        self.fc2 = nn.Conv2d(rd_channels, channels, kernel_size=1, bias=False)
        self.gate = gate_layer()

    def mlp(self, s: Tensor) -> Tensor:  # (B, C, 1, 1) -> (B, C, 1, 1)
        return self.fc2(self.act(self.fc1(s)))

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))  # (B, C, 1, 1)
        mx = self.mlp(x.amax(dim=(2, 3), keepdim=True))  # (B, C, 1, 1)
        return x * self.gate(avg + mx)


class SpatialGate(nn.Module):
    """CBAM's spatial gate: ``x * σ(conv_kxk([mean_c(x); max_c(x)]))``, a 2 -> 1 conv without bias or norm."""

    def __init__(self, kernel_size: int, *, gate_layer: type[nn.Module]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size=kernel_size, padding=kernel_size // 2, bias=False)
        self.gate = gate_layer()

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        s = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return x * self.gate(self.conv(s))  # (B, 1, H, W) broadcast over C


class Cbam(nn.Module):
    """CBAM: channel gate then spatial gate (arXiv:1807.06521).

    Args:
        channels: C, the input's channel count (any C >= 1).
        rd_ratio: hidden width of the shared MLP as a fraction of C (the paper's 1 / 16).
        rd_divisor: the hidden width is rounded to a multiple of this.
        rd_channels: explicit hidden width, overrides ``rd_ratio``.
        min_channels: floor of the hidden width (default ``rd_divisor``).
        kernel_size: odd size of the spatial gate's conv (the paper: 7).
        act_layer: activation inside the shared MLP.
        gate_layer: map to (0, 1) used by both gates.
    """

    def __init__(
        self,
        channels: int,
        *,
        rd_ratio: float = 1 / 16,
        rd_divisor: int = 8,
        rd_channels: int | None = None,
        min_channels: int | None = None,
        kernel_size: int = 7,
        act_layer: ActName = "relu",
        gate_layer: GateName = "sigmoid",
    ) -> None:
        super().__init__()
        owner = "Cbam"
        rd = reduced_channels(
            channels,
            rd_ratio=rd_ratio,
            rd_divisor=rd_divisor,
            rd_channels=rd_channels,
            min_channels=min_channels,
            owner=owner,
        )
        check_kernel_size(kernel_size, owner=owner)
        gate = get_gate(gate_layer, owner=owner)
        self.channel = ChannelGate(channels, rd, act_layer=get_act(act_layer, owner=owner), gate_layer=gate)
        self.spatial = SpatialGate(kernel_size, gate_layer=gate)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        return self.spatial(self.channel(x))
