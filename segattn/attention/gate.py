"""Attention gate on a skip connection (Oktay et al. 2018, "Attention U-Net", arXiv:1804.03999).

Additive attention between the skip feature x and the decoder's gating feature g:

    q = ψ · ReLU(W_x · x + W_g · g + b_g) + b_ψ      (B, 1, H, W)   W_x: 1x1 conv C -> F (no bias),
                                                                   W_g: 1x1 conv Cg -> F, ψ: 1x1 conv F -> 1
    α = σ(q)                                        (B, 1, H, W)   one coefficient per pixel
    y = x · α                                       (B, C, H, W)

g may be coarser than x (it usually comes from the deeper decoder stage): it is resized to x's (H, W) with
bilinear interpolation. W_g is applied before the resize, which gives the same result (both maps are linear and
bilinear weights sum to 1) at lower cost. ``gate=None`` means self-gating, g = x (needs gating_channels ==
channels). The intermediate width is F = make_divisible(C · rd_ratio, rd_divisor), floor ``min_channels``
(default ``rd_divisor``); rd_ratio = 1/2 is the authors' code default (F = C // 2).

Differences from the authors' code, both outside the paper's formula: the gate is computed at x's resolution
(their W_x is strided down to g's grid and α upsampled back), and there is no 1x1 conv + BatchNorm after the
multiplication, so the output is exactly x · α.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .layers import ActName, GateName, check_channels, get_act, get_gate, reduced_channels


class AttentionGate(nn.Module):
    """Attention gate: ``x * sigmoid(psi(relu(W_x x + W_g resize(g))))`` (arXiv:1804.03999).

    Args:
        channels: C, the skip feature's channel count (any C >= 1).
        gating_channels: Cg, the gating feature's channel count; ``None`` means Cg = C.
        rd_ratio: intermediate width F as a fraction of C (default 1/2).
        rd_divisor: F is rounded to a multiple of this.
        rd_channels: explicit F, overrides ``rd_ratio``.
        min_channels: floor of F (default ``rd_divisor``).
        act_layer: activation of the additive attention (the paper: ReLU).
        gate_layer: map to (0, 1) giving α.
    """

    def __init__(
        self,
        channels: int,
        *,
        gating_channels: int | None = None,
        rd_ratio: float = 1 / 2,
        rd_divisor: int = 8,
        rd_channels: int | None = None,
        min_channels: int | None = None,
        act_layer: ActName = "relu",
        gate_layer: GateName = "sigmoid",
    ) -> None:
        super().__init__()
        owner = "AttentionGate"
        check_channels(channels, owner=owner)
        gating_channels = channels if gating_channels is None else gating_channels
        check_channels(gating_channels, owner=owner, name="gating_channels")
        inter = reduced_channels(
            channels,
            rd_ratio=rd_ratio,
            rd_divisor=rd_divisor,
            rd_channels=rd_channels,
            min_channels=min_channels,
            owner=owner,
        )
        self.channels = channels
        self.gating_channels = gating_channels
        self.w_x = nn.Conv2d(channels, inter, kernel_size=1, bias=False)
        self.w_g = nn.Conv2d(gating_channels, inter, kernel_size=1)
        self.act = get_act(act_layer, owner=owner)()
        self.psi = nn.Conv2d(inter, 1, kernel_size=1)
        self.gate_act = get_gate(gate_layer, owner=owner)()

    def _check_gate(self, x: Tensor, gate: Tensor) -> None:
        if gate.ndim != 4 or gate.shape[0] != x.shape[0] or gate.shape[1] != self.gating_channels:
            raise ValueError(
                f"AttentionGate: gate must be (B={x.shape[0]}, Cg={self.gating_channels}, H', W'), "
                f"got {tuple(gate.shape)}"
            )

    def forward(self, x: Tensor, gate: Tensor | None = None) -> Tensor:  # (B, C, H, W), (B, Cg, H', W') -> like x
        if gate is None:
            if self.gating_channels != self.channels:
                raise ValueError(
                    f"AttentionGate: self-gating (gate=None) needs gating_channels == channels, but this gate was "
                    f"built with gating_channels={self.gating_channels}, channels={self.channels}"
                )
            gate = x
        else:
            self._check_gate(x, gate)
        theta = self.w_x(x)  # (B, F, H, W)
        phi = self.w_g(gate)  # (B, F, H', W')
        if phi.shape[-2:] != x.shape[-2:]:
            phi = F.interpolate(phi, size=x.shape[-2:], mode="bilinear", align_corners=False)  # (B, F, H, W)
        alpha = self.gate_act(self.psi(self.act(theta + phi)))  # (B, 1, H, W)
        return x * alpha
