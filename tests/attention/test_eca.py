"""ECA (arXiv:1910.03151): the paper's kernel-size rule on hand-computed C, and the forward against a
hand-written 1-D conv across channels."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from segattn.attention import create_attention
from segattn.attention.eca import EfficientChannelAttention, eca_kernel_size

# k = |log2(C) / γ + b / γ|_odd with γ = 2, b = 1, worked out by hand: t = (log2(C) + 1) / 2, then the nearest
# odd number (a tie at an even integer t goes up, as in the authors' code).
HAND_KERNEL_SIZES = {
    1: 1,  # t = (0 + 1) / 2 = 0.5 -> 1
    2: 1,  # t = (1 + 1) / 2 = 1.0 -> 1
    4: 1,  # t = (2 + 1) / 2 = 1.5 -> 1   (timm's EcaModule floors this at 3)
    8: 3,  # t = (3 + 1) / 2 = 2.0 -> tie between 1 and 3 -> 3
    16: 3,  # t = (4 + 1) / 2 = 2.5 -> 3
    64: 3,  # t = (6 + 1) / 2 = 3.5 -> 3
    256: 5,  # t = (8 + 1) / 2 = 4.5 -> 5
    512: 5,  # t = (9 + 1) / 2 = 5.0 -> 5
}


@pytest.mark.parametrize("channels, expected", sorted(HAND_KERNEL_SIZES.items()))
def test_adaptive_kernel_size_is_the_papers(channels: int, expected: int) -> None:
    assert eca_kernel_size(channels) == expected
    m = EfficientChannelAttention(channels)
    assert m.conv.kernel_size == (expected,)
    assert m.conv.weight.shape == (1, 1, expected)


def test_other_gamma_and_beta() -> None:
    # γ = 1, b = 0, C = 64: t = 6 / 1 = 6 -> 7;  γ = 3, b = 3, C = 512: t = (9 + 3) / 3 = 4 -> 5
    assert EfficientChannelAttention(64, gamma=1.0, beta=0.0).conv.kernel_size == (7,)
    assert EfficientChannelAttention(512, gamma=3.0, beta=3.0).conv.kernel_size == (5,)


def test_fixed_kernel_size_overrides_the_rule() -> None:
    assert EfficientChannelAttention(512, kernel_size=1).conv.kernel_size == (1,)
    assert EfficientChannelAttention(2, kernel_size=7).conv.kernel_size == (7,)


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"kernel_size": 4}, "kernel_size must be an odd int >= 1.*got 4"),
        ({"kernel_size": 0}, "got 0"),
        ({"gamma": 0.0}, "gamma must be > 0, got 0.0"),
        ({"gate_layer": "softmax"}, "'softmax'"),
    ],
)
def test_bad_options_fail_at_construction(options: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        create_attention("eca", 16, **options)


def reference_eca(m: EfficientChannelAttention, x: Tensor) -> Tensor:
    w = m.conv.weight.flatten()  # (k,)
    k, pad = w.numel(), w.numel() // 2
    s = x.mean(dim=(2, 3))  # (B, C)
    channels = s.shape[1]
    z = []
    for c in range(channels):  # output channel c sees channels c - pad .. c + pad, zeros outside
        terms = [w[j] * s[:, c + j - pad] for j in range(k) if 0 <= c + j - pad < channels]
        z.append(torch.stack(terms).sum(dim=0))
    e = torch.sigmoid(torch.stack(z, dim=1))  # (B, C)
    return x * e[:, :, None, None]


@pytest.mark.parametrize("channels, options", [(16, {}), (8, {"kernel_size": 5}), (1, {}), (3, {"kernel_size": 7})])
def test_matches_the_paper_formula(channels: int, options: dict) -> None:
    torch.manual_seed(0)
    m = EfficientChannelAttention(channels, **options)
    x = torch.randn(2, channels, 7, 9)
    torch.testing.assert_close(m(x), reference_eca(m, x))


def test_gradcheck() -> None:
    torch.manual_seed(0)
    m = EfficientChannelAttention(4, kernel_size=3).double()
    x = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
