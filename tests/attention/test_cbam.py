"""CBAM (arXiv:1807.06521) against a hand-written avg+max channel gate followed by a mean/max spatial gate."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segattn.attention import create_attention
from segattn.attention.cbam import Cbam


def reference_cbam(m: Cbam, x: Tensor) -> Tensor:
    w0 = m.channel.fc1.weight.flatten(1)  # (r, C)
    w1 = m.channel.fc2.weight.flatten(1)  # (C, r)

    def mlp(v: Tensor) -> Tensor:  # the shared, bias-free MLP: (B, C) -> (B, C)
        return torch.relu(v @ w0.T) @ w1.T

    mc = torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3))))  # (B, C)
    x1 = x * mc[:, :, None, None]
    pooled = torch.stack([x1.mean(dim=1), x1.amax(dim=1)], dim=1)  # (B, 2, H, W): [avg; max] over channels
    k = m.spatial.conv.kernel_size[0]
    ms = torch.sigmoid(F.conv2d(pooled, m.spatial.conv.weight, padding=k // 2))  # (B, 1, H, W)
    return x1 * ms


@pytest.mark.parametrize("channels, options", [(8, {}), (64, {}), (32, {"kernel_size": 3}), (1, {})])
def test_matches_the_paper_formula(channels: int, options: dict) -> None:
    torch.manual_seed(0)
    m = Cbam(channels, **options)
    x = torch.randn(2, channels, 7, 9)
    torch.testing.assert_close(m(x), reference_cbam(m, x))


def test_formula_has_no_batch_statistics() -> None:
    """No BatchNorm (timm's CbamModule has one in the spatial gate): train and eval give the same output."""
    torch.manual_seed(0)
    m = Cbam(16)
    assert not any(isinstance(layer, nn.modules.batchnorm._BatchNorm) for layer in m.modules())
    x = torch.randn(2, 16, 7, 9)
    torch.testing.assert_close(m.train()(x), m.eval()(x))


def test_widths() -> None:
    m = Cbam(64, rd_divisor=1, min_channels=1)  # the paper's C / 16
    assert m.channel.fc1.out_channels == 4
    assert Cbam(1).channel.fc1.out_channels == 8  # floor rd_divisor, never 0
    assert Cbam(8, kernel_size=3).spatial.conv.weight.shape == (1, 2, 3, 3)


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"kernel_size": 6}, "got 6"),
        ({"rd_ratio": -1.0}, "rd_ratio must be > 0, got -1.0"),
        ({"rd_channels": 0}, "rd_channels must be an int >= 1, got 0"),
    ],
)
def test_bad_options_fail_at_construction(options: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        create_attention("cbam", 16, **options)


def test_gradcheck() -> None:
    torch.manual_seed(0)
    m = Cbam(4).double()
    x = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
