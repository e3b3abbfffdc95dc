"""PSANet point-wise spatial attention: the gather-based module equals a direct loop over positions written from
the paper's formulas, collect and distribute move information in opposite directions, gradients are right, a
fresh block is the identity, and any input size works through the fixed grid."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segattn.attention import create_attention, psa
from segattn.attention.psa import (
    PointWiseSpatialAttention,
    point_wise_aggregate,
    pooling_matrix,
    upsampling_matrix,
)


def build(channels: int, *, gamma: float = 0.7, seed: int = 0, **options) -> PointWiseSpatialAttention:
    torch.manual_seed(seed)
    module = PointWiseSpatialAttention(channels, **options)
    with torch.no_grad():
        module.gamma.fill_(gamma)  # zero-initialised: without this the block returns x whatever the attention does
    return module


def loop_aggregate(feature: torch.Tensor, maps: torch.Tensor, grid: int, mode: str) -> torch.Tensor:
    """The paper's sums, one position pair at a time. The map predicted at position p is (2G-1) x (2G-1) with
    offset 0 at its centre (G-1, G-1); collect: z_i = 1/N Σ_j m_i[j - i] f_j, distribute: z_i = 1/N Σ_j m_j[i - j] f_j.
    """
    b, _, h, w = feature.shape
    n = h * w
    maps = maps.view(b, 2 * grid - 1, 2 * grid - 1, h, w)  # (B, dy, dx, h, w)
    z = torch.zeros_like(feature)
    for yi in range(h):
        for xi in range(w):
            for yj in range(h):
                for xj in range(w):
                    if mode == "collect":  # map of the receiving position i, entry for the offset j - i
                        a = maps[:, yj - yi + grid - 1, xj - xi + grid - 1, yi, xi]  # (B,)
                    else:  # map of the sending position j, entry for the offset i - j
                        a = maps[:, yi - yj + grid - 1, xi - xj + grid - 1, yj, xj]  # (B,)
                    z[:, :, yi, xi] += a[:, None] * feature[:, :, yj, xj] / n
    return z


def loop_reference(module: PointWiseSpatialAttention, x: torch.Tensor) -> torch.Tensor:
    """The whole block with the module's own layers, the attention done by ``loop_aggregate``."""
    size = x.shape[-2:]
    grid_size = (min(size[0], module.grid), min(size[1], module.grid))
    small = F.adaptive_avg_pool2d(x, grid_size)  # the identity when the input fits the grid
    branches = []
    for branch, mode in ((module.collect, "collect"), (module.distribute, "distribute")):
        feature = branch.reduce(small)
        branches.append(loop_aggregate(feature, branch.attention(feature), module.grid, mode))
    z = module.project(torch.cat(branches, dim=1))
    z = F.interpolate(z, size=size, mode="bilinear", align_corners=False)  # the identity at the same size
    return x + module.gamma * z


@pytest.mark.parametrize(
    ("size", "grid"),
    [((3, 5), 16), ((3, 5), 5), ((4, 4), 4), ((6, 7), 3), ((2, 9), 4), ((1, 1), 16)],
    ids=["3x5-crop", "3x5-grid5", "4x4-exact", "6x7-pooled", "2x9-mixed", "1x1"],
)
def test_matches_the_loop_reference(size: tuple[int, int], grid: int) -> None:
    module = build(4, grid=grid).double()
    x = torch.randn(2, 4, *size, dtype=torch.float64)
    torch.testing.assert_close(module(x), loop_reference(module, x), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("mode", ["collect", "distribute"])
def test_aggregate_matches_the_loop_on_random_maps(mode: str) -> None:
    grid = 4
    feature = torch.randn(2, 3, 3, 4, dtype=torch.float64)
    maps = torch.randn(2, (2 * grid - 1) ** 2, 3, 4, dtype=torch.float64)
    expected = loop_aggregate(feature, maps, grid, mode)
    torch.testing.assert_close(point_wise_aggregate(feature, maps, grid, mode), expected, atol=1e-12, rtol=1e-12)


def test_collect_pulls_and_distribute_pushes() -> None:
    """Every map is one-hot at the offset (0, +1) (the right neighbour). Collect: each position takes its right
    neighbour's value (the picture moves left). Distribute: each position sends its value to its right
    neighbour (the picture moves right). Positions with no such neighbour get 0."""
    grid, h, w = 4, 3, 4
    feature = torch.arange(1.0, h * w + 1).view(1, 1, h, w)
    maps = torch.zeros(1, 2 * grid - 1, 2 * grid - 1, h, w)
    maps[:, grid - 1, grid, :, :] = 1.0  # offset (dy, dx) = (0, +1) at every position
    maps = maps.view(1, -1, h, w)
    n = h * w
    left = torch.zeros_like(feature)
    left[..., :-1] = feature[..., 1:]
    right = torch.zeros_like(feature)
    right[..., 1:] = feature[..., :-1]
    torch.testing.assert_close(point_wise_aggregate(feature, maps, grid, "collect"), left / n)
    torch.testing.assert_close(point_wise_aggregate(feature, maps, grid, "distribute"), right / n)


@pytest.mark.parametrize(("size", "grid"), [((3, 4), 16), ((4, 5), 3)], ids=["crop", "pooled"])
def test_gradcheck(size: tuple[int, int], grid: int) -> None:
    module = build(2, grid=grid).double()
    x = torch.randn(1, 2, *size, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,))


@pytest.mark.parametrize("size", [(7, 9), (1, 1), (100, 37)], ids=["7x9", "1x1", "100x37"])
def test_fresh_module_is_the_identity(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    module = PointWiseSpatialAttention(8)
    x = torch.randn(2, 8, *size)
    assert torch.equal(module(x), x)
    assert not module.gamma.any()


@pytest.mark.parametrize("size", [(7, 9), (20, 18)], ids=["7x9", "20x18-pooled"])
def test_every_parameter_gets_a_gradient(size: tuple[int, int]) -> None:
    module = build(8)
    x = torch.randn(2, 8, *size)
    (module(x) * torch.randn(2, 8, *size)).sum().backward()
    zero = [n for n, p in module.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not zero


@pytest.mark.parametrize("size", [(7, 9), (1, 1), (100, 37), (16, 40)])
def test_any_size_keeps_shape_and_dtype(size: tuple[int, int]) -> None:
    module = build(5).eval()  # eval: a single 1x1 image has one value per channel, too few for BatchNorm in train
    x = torch.randn(1, 5, *size)
    y = module(x)
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    assert not torch.equal(y, x)


def test_output_dtype_is_kept_under_autocast() -> None:
    module = build(16)
    x = torch.randn(2, 16, 20, 9)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = module(x)
    assert y.dtype == torch.float32


@pytest.mark.parametrize(("channels", "rd"), [(1, 8), (8, 8), (64, 16), (256, 64)])
def test_widths_and_parameter_count(channels: int, rd: int) -> None:
    grid = 16
    module = create_attention("psa", channels)
    assert module.rd_channels == rd
    maps = (2 * grid - 1) ** 2
    branch = (channels * rd + 2 * rd) + (rd * rd + 2 * rd) + rd * maps  # reduce, conv+BN, map conv
    project = 2 * rd * channels + 2 * channels
    assert sum(p.numel() for p in module.parameters()) == 2 * branch + project + 1


def test_options() -> None:
    assert PointWiseSpatialAttention(64, rd_channels=4, grid=5).collect.attention[-1].out_channels == 81
    with pytest.raises(ValueError, match="grid must be an int >= 1"):
        PointWiseSpatialAttention(8, grid=0)
    with pytest.raises(ValueError, match="must fit the grid"):
        point_wise_aggregate(torch.randn(1, 2, 5, 5), torch.randn(1, 49, 5, 5), 4, "collect")
    with pytest.raises(ValueError, match="mode must be"):
        point_wise_aggregate(torch.randn(1, 2, 3, 3), torch.randn(1, 49, 3, 3), 4, "gather")


def eval_with_statistics(module: PointWiseSpatialAttention) -> PointWiseSpatialAttention:
    """Eval mode with BatchNorm statistics away from (0, 1), so a mix-up of filled and empty cells would show."""
    with torch.no_grad():
        for bn in module.modules():
            if isinstance(bn, torch.nn.BatchNorm2d):
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
    return module.eval()


@pytest.mark.parametrize("grid", [16, 5])
@pytest.mark.parametrize("size", [(1, 1), (3, 5), (5, 5), (16, 16), (17, 16), (7, 40), (40, 7), (33, 65), (100, 37)])
def test_the_fixed_grid_path_equals_forward(size: tuple[int, int], grid: int) -> None:
    """The export path (no branch on the size) computes the ordinary path's function: crop, exact fit, pooled,
    mixed (one side in the grid, one past it)."""
    module = eval_with_statistics(build(6, grid=grid)).double()
    x = torch.randn(2, 6, *size, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(module.forward_fixed_grid(x), module(x), atol=1e-12, rtol=1e-12)


def test_forward_takes_the_fixed_grid_path_while_exporting(monkeypatch: pytest.MonkeyPatch) -> None:
    module = eval_with_statistics(build(6))
    calls = []
    monkeypatch.setattr(module, "forward_fixed_grid", lambda x: calls.append(x.shape) or x)
    module(torch.randn(1, 6, 20, 9))
    assert calls == []
    monkeypatch.setattr(psa, "exporting", lambda: True)
    module(torch.randn(1, 6, 20, 9))
    assert calls == [(1, 6, 20, 9)]


@pytest.mark.parametrize("size", [1, 3, 16, 17, 40, 101])
def test_pooling_matrix_is_adaptive_average_pooling(size: int) -> None:
    grid = 16
    x = torch.randn(2, 3, size, dtype=torch.float64)
    matrix, cells = pooling_matrix(size, grid, x)  # (G, size), (1,)
    m = min(size, grid)
    assert cells.tolist() == [m] and not matrix[m:].any()
    torch.testing.assert_close(x @ matrix[:m].T, F.adaptive_avg_pool1d(x, m), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize(("size", "cells"), [(1, 1), (7, 7), (17, 16), (40, 16), (101, 16), (5, 3)])
def test_upsampling_matrix_is_bilinear_interpolation(size: int, cells: int) -> None:
    grid = 16
    z = torch.randn(2, 3, 4, cells, dtype=torch.float64)  # (.., cells) along the resized axis
    matrix = upsampling_matrix(size, torch.tensor([cells]), grid, z)  # (size, G)
    assert not matrix[:, cells:].any()
    expected = F.interpolate(z, size=(4, size), mode="bilinear", align_corners=False)
    torch.testing.assert_close(z @ matrix[:, :cells].T, expected, atol=1e-12, rtol=1e-12)
