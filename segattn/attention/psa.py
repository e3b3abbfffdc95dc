"""Point-wise spatial attention after PSANet (Zhao et al., "PSANet: Point-wise Spatial Attention Network for Scene
Parsing", ECCV 2018, pp. 267-283, doi:10.1007/978-3-030-01240-3_17, cited by DOI), as a residual block.

Two branches, collect and distribute. Each reduces x to C' channels and predicts, at every position i, an
over-complete map of (2H - 1)(2W - 1) values: the H x W window of it centred at i holds one weight for every
position j of the feature map, indexed by the offset j - i.

    f = ReLU(BN(conv1x1(x)))                               (B, C', H, W)   per branch
    m = conv1x1(ReLU(BN(conv1x1(f))))                      (B, (2H-1)(2W-1), H, W)
    collect:     z_i = 1/N Σ_j m_i[j - i] f_j               position i gathers, weights from its own map
    distribute:  z_i = 1/N Σ_j m_j[i - j] f_j               position j spreads, weights from j's map
    y = x + γ · BN(conv1x1([z_collect, z_distribute]))     (B, C, H, W)   γ initialised to 0: a fresh block is x

(offsets index the map from its centre; N = H·W). The projection has no ReLU, unlike the paper's head, so the
residual update can be negative.

The map's channel count depends on the feature size, so the attention works on a fixed grid (``grid``, G,
default 16): the maps always have (2G - 1)² channels; an input larger than G in H or W is first reduced with
``adaptive_avg_pool2d`` to (min(H, G), min(W, G)), attended there, and the update is upsampled back
(bilinear); an input smaller than the grid uses the centre crop of its maps (offsets up to ±(H - 1), ±(W - 1)).
So any H, W works (7x9, 1x1, 100x37), the cost is bounded by G⁴ per image, and at H, W <= G the block is
exactly the paper's. The weights are gathered in pure PyTorch (``torch.gather``), no compiled op.

BatchNorm follows the paper; like any BatchNorm in training it needs more than one value per channel (a batch
of one 1x1 image fails in ``train()``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import check_channels, reduced_channels


def _conv_bn(in_channels: int, out_channels: int, *, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def offset_index(height: int, width: int, grid: int, device: torch.device | None = None) -> Tensor:
    """``index[p, q]``: flat position of the offset q - p in a (2·grid - 1)² map whose centre is offset 0.

    Positions p, q run over the height x width feature map in row-major order; needs height, width <= grid.
    """
    if height > grid or width > grid:
        raise ValueError(f"offset_index: the feature ({height}x{width}) must fit the grid ({grid}x{grid})")
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij"
    )  # (h, w) each
    ys, xs = ys.flatten(), xs.flatten()  # (N,)
    dy = ys[None, :] - ys[:, None] + grid - 1  # (N, N): q_y - p_y, shifted into [0, 2G - 2]
    dx = xs[None, :] - xs[:, None] + grid - 1  # (N, N)
    return dy * (2 * grid - 1) + dx  # (N, N)


def point_wise_aggregate(feature: Tensor, maps: Tensor, grid: int, mode: Literal["collect", "distribute"]) -> Tensor:
    """PSANet's aggregation: ``z_i = 1/N Σ_j a_ij f_j`` with ``a_ij = m_i[j - i]`` (collect) or ``m_j[i - j]``.

    Args:
        feature: f, (B, C', h, w) with h, w <= grid.
        maps: m, (B, (2·grid - 1)², h, w): the over-complete map predicted at every position.
    Returns:
        z, (B, C', h, w).
    """
    b, c, h, w = feature.shape
    n = h * w
    index = offset_index(h, w, grid, feature.device).expand(b, n, n)  # (B, N, N)
    # g[p, q] = m_p[q - p]: the weight position p's own map gives to position q
    g = torch.gather(maps.flatten(2).transpose(1, 2), 2, index)  # (B, N, (2G-1)²) -> (B, N, N)
    if mode == "collect":
        attn = g.transpose(1, 2)  # (B, N_j, N_i): a_ij = g[i, j], laid out for f @ attn
    elif mode == "distribute":
        attn = g  # (B, N_j, N_i): a_ij = g[j, i]
    else:
        raise ValueError(f"point_wise_aggregate: mode must be 'collect' or 'distribute', got {mode!r}")
    z = feature.flatten(2) @ attn / n  # (B, C', N_j) @ (B, N_j, N_i) -> (B, C', N_i)
    return z.view(b, c, h, w)


class PSABranch(nn.Module):
    """One PSANet branch: reduce C -> C', predict a (2G - 1)² over-complete map per position, aggregate."""

    def __init__(self, channels: int, rd_channels: int, grid: int, mode: Literal["collect", "distribute"]) -> None:
        super().__init__()
        self.grid, self.mode = grid, mode
        self.reduce = _conv_bn(channels, rd_channels)
        self.attention = nn.Sequential(
            _conv_bn(rd_channels, rd_channels), nn.Conv2d(rd_channels, (2 * grid - 1) ** 2, 1, bias=False)
        )

    def forward(self, x: Tensor) -> Tensor:  # (B, C, h, w) -> (B, C', h, w), h, w <= grid
        feature = self.reduce(x)  # (B, C', h, w)
        maps = self.attention(feature)  # (B, (2G-1)², h, w)
        return point_wise_aggregate(feature, maps, self.grid, self.mode)


class PointWiseSpatialAttention(nn.Module):
    """PSANet bi-directional point-wise spatial attention, residual: ``x + γ · proj([collect, distribute])``.

    Args:
        channels: C, the input's channel count (any C >= 1).
        rd_ratio: branch width C' as a fraction of C (the paper reduces 2048 -> 512: 1 / 4).
        rd_divisor: C' is rounded to a multiple of this.
        rd_channels: explicit C', overrides ``rd_ratio``.
        min_channels: floor of C' (default ``rd_divisor``).
        grid: G, the largest feature side attended at full resolution; the maps have (2G - 1)² channels.
    """

    def __init__(
        self,
        channels: int,
        *,
        rd_ratio: float = 1 / 4,
        rd_divisor: int = 8,
        rd_channels: int | None = None,
        min_channels: int | None = None,
        grid: int = 16,
    ) -> None:
        super().__init__()
        owner = "PointWiseSpatialAttention"
        rd = reduced_channels(
            channels,
            rd_ratio=rd_ratio,
            rd_divisor=rd_divisor,
            rd_channels=rd_channels,
            min_channels=min_channels,
            owner=owner,
        )
        self.grid = check_channels(grid, owner=owner, name="grid")
        self.channels, self.rd_channels = channels, rd
        self.collect = PSABranch(channels, rd, self.grid, "collect")
        self.distribute = PSABranch(channels, rd, self.grid, "distribute")
        self.project = _conv_bn(2 * rd, channels, relu=False)
        self.gamma = nn.Parameter(torch.zeros(()))  # zero-initialised: a fresh block returns x exactly

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        size = x.shape[-2:]
        grid_size = (min(size[0], self.grid), min(size[1], self.grid))
        small = x if grid_size == size else F.adaptive_avg_pool2d(x, grid_size)  # (B, C, h, w), h, w <= G
        z = torch.cat([self.collect(small), self.distribute(small)], dim=1)  # (B, 2C', h, w)
        z = self.project(z)  # (B, C, h, w)
        if grid_size != size:
            z = F.interpolate(z, size=size, mode="bilinear", align_corners=False)  # (B, C, H, W)
        return x + self.gamma * z

    def extra_repr(self) -> str:
        return f"channels={self.channels}, rd_channels={self.rd_channels}, grid={self.grid}"
