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

While a graph is recorded for export (:func:`~segattn.attention.helpers.exporting`), the choice between the two
cases above, made in Python from the input size, would be frozen at the example's size. The block then runs
:meth:`PointWiseSpatialAttention.forward_fixed_grid`, the same function written without that choice: pooling
and bilinear upsampling as matrices built from the size (identities where the input fits the grid), and the
attention on a full G x G canvas whose cells past (min(H, G), min(W, G)) are zero and left out of the sums.
Meant for inference graphs (BatchNorm in eval mode); a test holds it equal to the ordinary path.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .helpers import exporting
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


def point_wise_aggregate(
    feature: Tensor,
    maps: Tensor,
    grid: int,
    mode: Literal["collect", "distribute"],
    *,
    count: Tensor | None = None,
) -> Tensor:
    """PSANet's aggregation: ``z_i = 1/N Σ_j a_ij f_j`` with ``a_ij = m_i[j - i]`` (collect) or ``m_j[i - j]``.

    Args:
        feature: f, (B, C', h, w) with h, w <= grid.
        maps: m, (B, (2·grid - 1)², h, w): the over-complete map predicted at every position.
        count: N, default h·w; the fixed-grid path passes the number of cells that hold a position.
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
    z = feature.flatten(2) @ attn / (n if count is None else count)  # (B, C', N_j) @ (B, N_j, N_i) -> (B, C', N_i)
    return z.view(b, c, h, w)


def pooling_matrix(size: int, grid: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """``adaptive_avg_pool1d`` from ``size`` cells to m = min(size, grid) as a (grid, size) matrix, rows >= m zero.

    Returns the matrix and m as a (1,) tensor. Row i averages cells [floor(i·size / m), ceil((i + 1)·size / m)),
    PyTorch's rule; for size <= grid the top rows are the identity. Written with tensor arithmetic only, so a
    recorded graph computes it for whatever size it is given.
    """
    cells = torch.arange(size, device=like.device)  # (size,)
    total = cells[-1:] + 1  # (1,): size, as a tensor
    m = total.clamp(max=grid)  # (1,): min(size, grid)
    row = torch.arange(grid, device=like.device)[:, None]  # (grid, 1)
    start = row * total // m  # (grid, 1)
    end = ((row + 1) * total + m - 1) // m  # (grid, 1)
    inside = (cells >= start) & (cells < end) & (row < m)  # (grid, size)
    return inside.to(like.dtype) / (end - start).to(like.dtype), m


def upsampling_matrix(size: int, cells: Tensor, grid: int, like: Tensor) -> Tensor:
    """Bilinear resizing (``align_corners=False``) from the first ``cells`` of ``grid`` to ``size`` as a
    (size, grid) matrix: the weights ``F.interpolate`` uses, columns >= ``cells`` zero, the identity when
    ``cells == size``."""
    out = torch.arange(size, device=like.device)  # (size,)
    scale = cells.to(like.dtype) / (out[-1:] + 1).to(like.dtype)  # (1,): cells / size
    src = ((out.to(like.dtype) + 0.5) * scale - 0.5).clamp(min=0)  # (size,) source coordinate
    low = src.floor().long()  # (size,)
    high = torch.minimum(low + 1, cells - 1)  # (size,)
    frac = (src - low.to(like.dtype))[:, None]  # (size, 1)
    col = torch.arange(grid, device=like.device)  # (grid,)
    return (col == low[:, None]).to(like.dtype) * (1 - frac) + (col == high[:, None]).to(like.dtype) * frac


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
        if exporting():
            return self.forward_fixed_grid(x)
        size = x.shape[-2:]
        grid_size = (min(size[0], self.grid), min(size[1], self.grid))
        small = x if grid_size == size else F.adaptive_avg_pool2d(x, grid_size)  # (B, C, h, w), h, w <= G
        z = torch.cat([self.collect(small), self.distribute(small)], dim=1)  # (B, 2C', h, w)
        z = self.project(z)  # (B, C, h, w)
        if grid_size != size:
            z = F.interpolate(z, size=size, mode="bilinear", align_corners=False)  # (B, C, H, W)
        return x + self.gamma * z

    def forward_fixed_grid(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        """:meth:`forward` with no Python branch on the input size: the path recorded for export (module docstring).

        The attention runs on a G x G canvas; the pooled input fills its top-left (h, w) = (min(H, G), min(W, G))
        cells and the rest is zero. Every layer before the aggregation is 1x1 (eval-mode BatchNorm included), so
        the filled cells get exactly the ordinary path's values; zeroing the features of the empty cells takes them
        out of every sum, and the upsampling matrices read only filled cells.
        """
        g = self.grid
        pool_h, h = pooling_matrix(x.shape[-2], g, x)  # (G, H), (1,)
        pool_w, w = pooling_matrix(x.shape[-1], g, x)  # (G, W), (1,)
        small = pool_h @ x @ pool_w.T  # (B, C, G, G), zero past (h, w)
        filled = (pool_h.sum(1) > 0)[:, None] & (pool_w.sum(1) > 0)[None, :]  # (G, G)
        branches = []
        for branch in (self.collect, self.distribute):
            feature = branch.reduce(small) * filled  # (B, C', G, G), empty cells zero
            maps = branch.attention(feature)  # (B, (2G-1)², G, G)
            branches.append(point_wise_aggregate(feature, maps, g, branch.mode, count=h * w))
        z = self.project(torch.cat(branches, dim=1))  # (B, C, G, G)
        up_h = upsampling_matrix(x.shape[-2], h, g, x)  # (H, G)
        up_w = upsampling_matrix(x.shape[-1], w, g, x)  # (W, G)
        return x + self.gamma * (up_h @ z @ up_w.T)  # (B, C, H, W)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, rd_channels={self.rd_channels}, grid={self.grid}"
