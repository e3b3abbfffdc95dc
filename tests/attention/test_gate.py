"""Attention gate (arXiv:1804.03999) against the hand-written α = σ(ψ(ReLU(W_x x + W_g g + b_g)) + b_ψ), y = x·α.

The reference resizes g BEFORE applying W_g; the module applies W_g first and resizes after, so agreement also
checks that the two orders give the same result."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from segattn.attention import create_attention
from segattn.attention.gate import AttentionGate


def reference_gate(m: AttentionGate, x: Tensor, g: Tensor) -> Tensor:
    if g.shape[-2:] != x.shape[-2:]:
        g = F.interpolate(g, size=x.shape[-2:], mode="bilinear", align_corners=False)  # (B, Cg, H, W)
    wx, wg, bg = m.w_x.weight.flatten(1), m.w_g.weight.flatten(1), m.w_g.bias  # (F, C), (F, Cg), (F,)
    psi, bpsi = m.psi.weight.flatten(1), m.psi.bias  # (1, F), (1,)
    q = torch.einsum("fc,bchw->bfhw", wx, x) + torch.einsum("fc,bchw->bfhw", wg, g) + bg[:, None, None]
    alpha = torch.sigmoid(torch.einsum("of,bfhw->bohw", psi, torch.relu(q)) + bpsi[:, None, None])  # (B, 1, H, W)
    return x * alpha


@pytest.mark.parametrize(
    "x_size, g_size",
    [((7, 9), (7, 9)), ((7, 9), (4, 5)), ((8, 8), (4, 4)), ((4, 5), (7, 9)), ((1, 1), (1, 1))],
    ids=["same", "coarser-odd", "half", "finer", "1x1"],
)
def test_matches_the_paper_formula(x_size: tuple[int, int], g_size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    m = AttentionGate(8, gating_channels=16)
    x, g = torch.randn(2, 8, *x_size), torch.randn(2, 16, *g_size)
    y = m(x, g)
    assert y.shape == x.shape
    torch.testing.assert_close(y, reference_gate(m, x, g))


def test_self_gating_when_gate_is_none() -> None:
    torch.manual_seed(0)
    m = AttentionGate(8)
    x = torch.randn(2, 8, 7, 9)
    torch.testing.assert_close(m(x), reference_gate(m, x, x))
    torch.testing.assert_close(m(x), m(x, x))


def test_alpha_is_one_coefficient_per_pixel() -> None:
    torch.manual_seed(0)
    m = AttentionGate(4, gating_channels=2)
    x = torch.rand(1, 4, 5, 6) + 0.5  # positive, so y / x is α
    ratio = m(x, torch.randn(1, 2, 3, 3)) / x  # (1, 4, 5, 6)
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))  # the same α for every channel
    assert ((ratio > 0) & (ratio < 1)).all()


@pytest.mark.parametrize(
    "channels, options, expected", [(64, {}, 32), (256, {}, 128), (1, {}, 8), (64, {"rd_channels": 5}, 5)]
)
def test_intermediate_width(channels: int, options: dict, expected: int) -> None:
    m = AttentionGate(channels, **options)
    assert m.w_x.out_channels == m.w_g.out_channels == m.psi.in_channels == expected


def test_self_gating_needs_matching_channels() -> None:
    m = AttentionGate(8, gating_channels=16)
    with pytest.raises(ValueError, match="gating_channels=16, channels=8"):
        m(torch.randn(2, 8, 5, 5))


@pytest.mark.parametrize("g_shape", [(2, 4, 3, 3), (1, 16, 3, 3), (2, 16, 3)], ids=["channels", "batch", "ndim"])
def test_wrong_gating_signal_is_named(g_shape: tuple[int, ...]) -> None:
    m = AttentionGate(8, gating_channels=16)
    with pytest.raises(ValueError, match=r"gate must be \(B=2, Cg=16, H', W'\)"):
        m(torch.randn(2, 8, 5, 5), torch.randn(*g_shape))


@pytest.mark.parametrize(
    "options, fragment",
    [({"gating_channels": 0}, "gating_channels must be an int >= 1, got 0"), ({"rd_ratio": 0}, "rd_ratio")],
)
def test_bad_options_fail_at_construction(options: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        create_attention("gate", 8, **options)


def test_gradcheck_through_x_and_gate() -> None:
    torch.manual_seed(0)
    m = AttentionGate(4, gating_channels=3).double()
    x = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    g = torch.randn(1, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x, g))
