"""Gather-Excite (Hu et al. 2018, "Gather-Excite: Exploiting Feature Context in CNNs", arXiv:1810.12348).

    c = gather_e(x)                      (B, C, h, w)   context of extent e: h = ceil(H / e), w = ceil(W / e);
                                                        e = 0 means global: h = w = 1
    c = mlp(c)                           (B, C, h, w)   optional (use_mlp): 1x1 conv C -> r, act, 1x1 conv r -> C
    y = x · σ(interp(c))                 (B, C, H, W)   excite: nearest-neighbour resize back to (H, W)

Gather operators:
- parameter-free (the paper's GE-θ⁻, default): global mean, or for e >= 2 average pooling with kernel 2e - 1,
  stride e, padding e - 1, padded cells not counted;
- parameterised (``extra_params=True``, the paper's GE-θ): log2(e) depthwise 3x3 stride-2 convs, ReLU between.
  timm puts a BatchNorm after each conv; it is left out here so the module behaves the same in train and eval
  and on batches of one. A global parameterised gather (a depthwise conv as large as the feature map, as in
  timm) needs a fixed input size, so ``extra_params`` needs an extent e >= 2 here.
With ``use_mlp`` as well this is GE-θ⁺; global, parameter-free gather with ``use_mlp`` is SE.

Not timm's ``GatherExcite``: its constructor passes ``*dd`` where ``**dd`` is meant, so the default
(``use_mlp=True``) and every ``extra_params=True`` configuration raise TypeError when built.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from .layers import ActName, GateName, check_channels, get_act, get_gate, reduced_channels


class GatherExcite(nn.Module):
    """Gather-Excite: ``x * sigmoid(resize(gather_e(x)))`` (arXiv:1810.12348).

    Args:
        channels: C, the input's channel count (any C >= 1).
        extent: 0 for a global gather, else a power of two e >= 2 (the context map is ceil(H / e) x ceil(W / e)).
        extra_params: learnable depthwise-conv gather (GE-θ) instead of average pooling (GE-θ⁻).
        use_mlp: a 1x1-conv bottleneck on the gathered context (GE-θ⁺).
        rd_ratio, rd_divisor, rd_channels, min_channels: the bottleneck's width, as in SE (only with use_mlp).
        act_layer: activation between the gather convs and inside the bottleneck.
        gate_layer: map to (0, 1) applied to the resized context.
    """

    def __init__(
        self,
        channels: int,
        *,
        extent: int = 0,
        extra_params: bool = False,
        use_mlp: bool = False,
        rd_ratio: float = 1 / 16,
        rd_divisor: int = 8,
        rd_channels: int | None = None,
        min_channels: int | None = None,
        act_layer: ActName = "relu",
        gate_layer: GateName = "sigmoid",
    ) -> None:
        super().__init__()
        owner = "GatherExcite"
        check_channels(channels, owner=owner)
        is_power_of_two = isinstance(extent, int) and extent >= 2 and extent & (extent - 1) == 0
        if isinstance(extent, bool) or not (extent == 0 or is_power_of_two):
            raise ValueError(f"{owner}: extent must be 0 (global) or a power of two >= 2, got {extent!r}")
        if extra_params and extent == 0:
            raise ValueError(
                f"{owner}: extra_params=True needs extent >= 2 (got extent=0): a global depthwise-conv gather needs "
                "a fixed input size; use extent=2, 4, 8, ... or extra_params=False"
            )
        act = get_act(act_layer, owner=owner)
        self.extent = extent

        self.gather: nn.Module | None = None  # None: parameter-free average pooling in gather_context
        if extra_params:
            layers: list[nn.Module] = []
            for i in range(int(math.log2(extent))):
                if i > 0:
                    layers.append(act())
                layers.append(nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1, groups=channels))
            self.gather = nn.Sequential(*layers)

        rd = reduced_channels(  # checked even without use_mlp: a bad value is a mistake either way
            channels,
            rd_ratio=rd_ratio,
            rd_divisor=rd_divisor,
            rd_channels=rd_channels,
            min_channels=min_channels,
            owner=owner,
        )
        self.mlp: nn.Module = nn.Identity()
        if use_mlp:
            self.mlp = nn.Sequential(
                nn.Conv2d(channels, rd, kernel_size=1), act(), nn.Conv2d(rd, channels, kernel_size=1)
            )
        self.gate = get_gate(gate_layer, owner=owner)()

    def gather_context(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, ceil(H / e), ceil(W / e))
        if self.gather is not None:
            return self.gather(x)
        if self.extent == 0:
            return x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        e = self.extent
        return F.avg_pool2d(x, kernel_size=2 * e - 1, stride=e, padding=e - 1, count_include_pad=False)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        context = self.mlp(self.gather_context(x))  # (B, C, h, w)
        if self.extent > 0:
            context = F.interpolate(context, size=x.shape[-2:], mode="nearest")  # (B, C, H, W)
        return x * self.gate(context)
