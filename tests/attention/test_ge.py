"""Gather-Excite (arXiv:1810.12348): the gather windows and the nearest-neighbour excite written out by hand,
parameter-free and parameterised, on odd sizes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from segattn.attention import create_attention
from segattn.attention.ge import GatherExcite


def reference_pool_gather(x: Tensor, e: int) -> Tensor:
    """Cell (i, j) averages the input rows i*e-(e-1) .. i*e+(e-1) (and columns likewise) that exist."""
    _, _, H, W = x.shape
    rows = []
    for i in range(math.ceil(H / e)):
        r0, r1 = max(0, i * e - (e - 1)), min(H, i * e + e)
        cols = []
        for j in range(math.ceil(W / e)):
            c0, c1 = max(0, j * e - (e - 1)), min(W, j * e + e)
            cols.append(x[:, :, r0:r1, c0:c1].mean(dim=(2, 3)))  # (B, C)
        rows.append(torch.stack(cols, dim=-1))  # (B, C, w)
    return torch.stack(rows, dim=-2)  # (B, C, h, w)


def nearest_resize(c: Tensor, size: tuple[int, int]) -> Tensor:
    """Output pixel i reads cell floor(i * h / H) (PyTorch's "nearest")."""
    (h, w), (H, W) = c.shape[-2:], size
    return c[:, :, [i * h // H for i in range(H)]][:, :, :, [j * w // W for j in range(W)]]


def reference_conv_gather(m: GatherExcite, x: Tensor) -> Tensor:
    convs = [layer for layer in m.gather if isinstance(layer, torch.nn.Conv2d)]
    for i, conv in enumerate(convs):
        if i > 0:
            x = torch.relu(x)
        x = F.conv2d(x, conv.weight, conv.bias, stride=2, padding=1, groups=x.shape[1])  # depthwise, halves H, W
    return x


def reference_mlp(m: GatherExcite, c: Tensor) -> Tensor:
    fc1, fc2 = m.mlp[0], m.mlp[2]
    hidden = torch.relu(torch.einsum("rc,bchw->brhw", fc1.weight.flatten(1), c) + fc1.bias[:, None, None])
    return torch.einsum("cr,brhw->bchw", fc2.weight.flatten(1), hidden) + fc2.bias[:, None, None]


def test_global_parameter_free_is_a_sigmoid_of_the_channel_mean() -> None:
    m = GatherExcite(8)
    assert sum(p.numel() for p in m.parameters()) == 0
    x = torch.randn(2, 8, 7, 9)
    torch.testing.assert_close(m(x), x * torch.sigmoid(x.mean(dim=(2, 3), keepdim=True)))


@pytest.mark.parametrize("extent", [2, 4, 8])
@pytest.mark.parametrize("size", [(7, 9), (1, 1), (8, 5)])
def test_parameter_free_extent_matches_the_hand_reference(extent: int, size: tuple[int, int]) -> None:
    m = GatherExcite(3, extent=extent)
    x = torch.randn(2, 3, *size)
    context = m.gather_context(x)
    assert context.shape[-2:] == (math.ceil(size[0] / extent), math.ceil(size[1] / extent))
    torch.testing.assert_close(context, reference_pool_gather(x, extent))
    torch.testing.assert_close(m(x), x * torch.sigmoid(nearest_resize(reference_pool_gather(x, extent), size)))


@pytest.mark.parametrize("use_mlp", [False, True])
@pytest.mark.parametrize("extent", [2, 8])
def test_parameterised_gather_matches_the_hand_reference(extent: int, use_mlp: bool) -> None:
    torch.manual_seed(0)
    m = GatherExcite(4, extent=extent, extra_params=True, use_mlp=use_mlp)
    n_convs = int(math.log2(extent))
    assert sum(p.numel() for p in m.gather.parameters()) == n_convs * (4 * 9 + 4)  # depthwise 3x3 + bias each
    x = torch.randn(2, 4, 7, 9)
    context = reference_conv_gather(m, x)
    assert context.shape[-2:] == (math.ceil(7 / extent), math.ceil(9 / extent))
    if use_mlp:
        context = reference_mlp(m, context)
    torch.testing.assert_close(m(x), x * torch.sigmoid(nearest_resize(context, (7, 9))))


def test_global_gather_with_mlp_is_squeeze_excite() -> None:
    torch.manual_seed(0)
    m = GatherExcite(16, use_mlp=True)
    x = torch.randn(2, 16, 5, 3)
    context = reference_mlp(m, x.mean(dim=(2, 3), keepdim=True))  # (B, C, 1, 1)
    torch.testing.assert_close(m(x), x * torch.sigmoid(context))


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"extent": 3}, "power of two >= 2, got 3"),
        ({"extent": 1}, "got 1"),
        ({"extent": -2}, "got -2"),
        ({"extra_params": True}, "extra_params=True needs extent >= 2"),
        ({"use_mlp": True, "rd_ratio": 0.0}, "rd_ratio must be > 0, got 0.0"),
        ({"gate_layer": "relu"}, "'relu'"),
    ],
)
def test_bad_options_fail_at_construction(options: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        create_attention("ge", 8, **options)


@pytest.mark.parametrize(
    "options", [{}, {"extent": 2}, {"extent": 4, "extra_params": True, "use_mlp": True}], ids=["global", "e2", "e4p"]
)
def test_gradcheck(options: dict) -> None:
    torch.manual_seed(0)
    m = GatherExcite(4, **options).double()
    x = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
