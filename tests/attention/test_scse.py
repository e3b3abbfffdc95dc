"""scSE (arXiv:1803.02579) against the hand-written x·cSE(x) + x·sSE(x), and small channel counts."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from segattn.attention import create_attention
from segattn.attention.scse import ConcurrentSqueezeExcite


def reference_scse(m: ConcurrentSqueezeExcite, x: Tensor, aggregation: str = "add") -> Tensor:
    w1, b1 = m.cse.fc1.weight.flatten(1), m.cse.fc1.bias  # (r, C), (r,)
    w2, b2 = m.cse.fc2.weight.flatten(1), m.cse.fc2.bias  # (C, r), (C,)
    c_gate = torch.sigmoid(torch.relu(x.mean(dim=(2, 3)) @ w1.T + b1) @ w2.T + b2)  # (B, C)
    ws, bs = m.sse.weight.flatten(), m.sse.bias  # (C,), (1,)
    s_gate = torch.sigmoid(torch.einsum("c,bchw->bhw", ws, x) + bs)  # (B, H, W): one weight per pixel
    x_cse, x_sse = x * c_gate[:, :, None, None], x * s_gate[:, None]
    return x_cse + x_sse if aggregation == "add" else torch.maximum(x_cse, x_sse)


@pytest.mark.parametrize("aggregation", ["add", "max"])
@pytest.mark.parametrize("channels", [3, 64])
def test_matches_the_paper_formula(channels: int, aggregation: str) -> None:
    torch.manual_seed(0)
    m = ConcurrentSqueezeExcite(channels, aggregation=aggregation)
    x = torch.randn(2, channels, 7, 9)
    torch.testing.assert_close(m(x), reference_scse(m, x, aggregation))


@pytest.mark.parametrize("channels", range(1, 17))
def test_small_channel_counts_build_and_run(channels: int) -> None:
    """smp's SCSEModule builds a C // 16 = 0 wide conv here and fails at forward; the floor keeps r >= 1."""
    m = ConcurrentSqueezeExcite(channels, rd_divisor=1, min_channels=1)
    assert m.cse.fc1.out_channels >= 1
    y = m(torch.randn(2, channels, 3, 5))
    assert y.shape == (2, channels, 3, 5) and torch.isfinite(y).all()


@pytest.mark.parametrize(
    "channels, options, fragment",
    [
        (8, {"aggregation": "mean"}, "aggregation must be one of \\['add', 'max'\\], got 'mean'"),
        (8, {"rd_ratio": 0}, "rd_ratio must be > 0, got 0"),
        (0, {}, "ConcurrentSqueezeExcite: channels must be an int >= 1, got 0"),
    ],
)
def test_bad_options_fail_at_construction(channels: int, options: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        create_attention("scse", channels, **options)


@pytest.mark.parametrize("aggregation", ["add", "max"])
def test_gradcheck(aggregation: str) -> None:
    torch.manual_seed(0)
    m = ConcurrentSqueezeExcite(4, aggregation=aggregation).double()
    x = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
