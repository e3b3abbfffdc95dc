"""SE (arXiv:1709.01507) against a hand-written squeeze -> fc -> relu -> fc -> sigmoid -> scale."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from segattn.attention import create_attention
from segattn.attention.se import SqueezeExcite


def reference_se(m: SqueezeExcite, x: Tensor, gate=torch.sigmoid) -> Tensor:
    w1, b1 = m.fc1.weight.flatten(1), m.fc1.bias  # (r, C), (r,)
    w2, b2 = m.fc2.weight.flatten(1), m.fc2.bias  # (C, r), (C,)
    s = x.mean(dim=(2, 3))  # squeeze: (B, C)
    e = gate(torch.relu(s @ w1.T + b1) @ w2.T + b2)  # excite: (B, C)
    return x * e[:, :, None, None]  # scale


@pytest.mark.parametrize("channels, options", [(3, {}), (64, {}), (64, {"rd_divisor": 1, "min_channels": 1})])
def test_matches_the_paper_formula(channels: int, options: dict) -> None:
    torch.manual_seed(0)
    m = SqueezeExcite(channels, **options)
    x = torch.randn(2, channels, 7, 9)
    torch.testing.assert_close(m(x), reference_se(m, x))


def test_hard_sigmoid_gate() -> None:
    torch.manual_seed(0)
    m = SqueezeExcite(16, gate_layer="hard_sigmoid")
    x = torch.randn(2, 16, 5, 4)
    torch.testing.assert_close(m(x), reference_se(m, x, gate=F.hardsigmoid))


# hidden width r = max(floor, multiple of rd_divisor nearest C * rd_ratio), worked out by hand
@pytest.mark.parametrize(
    "channels, options, expected",
    [
        (64, {}, 8),  # 64 / 16 = 4 -> nearest multiple of 8 is 8
        (256, {}, 16),  # 256 / 16 = 16
        (1, {}, 8),  # 1 / 16 -> floor rd_divisor = 8, never 0
        (64, {"rd_divisor": 1, "min_channels": 1}, 4),  # the paper's C / 16
        (8, {"rd_divisor": 1, "min_channels": 1}, 1),  # 0.5 rounds to 1
        (3, {"rd_divisor": 1, "min_channels": 1}, 1),  # 0.1875 rounds to 0 -> floor 1
        (3, {"rd_divisor": 1, "min_channels": 2}, 2),  # explicit floor
        (64, {"rd_channels": 5}, 5),  # explicit width wins
    ],
)
def test_hidden_width_and_floor(channels: int, options: dict, expected: int) -> None:
    m = SqueezeExcite(channels, **options)
    assert m.fc1.out_channels == expected and m.fc2.in_channels == expected


@pytest.mark.parametrize(
    "channels, options, fragment",
    [
        (8, {"rd_ratio": 0.0}, "rd_ratio must be > 0, got 0.0"),
        (8, {"rd_ratio": -0.5}, "got -0.5"),
        (8, {"rd_divisor": 0}, "rd_divisor"),
        (8, {"rd_channels": 0}, "rd_channels"),
        (8, {"min_channels": 0}, "min_channels"),
        (8, {"gate_layer": "tanh"}, "'tanh'"),
        (8, {"act_layer": "relu7"}, "'relu7'"),
        (0, {}, "channels must be an int >= 1, got 0"),
    ],
)
def test_bad_options_fail_at_construction(channels: int, options: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        create_attention("se", channels, **options)


def test_gradcheck() -> None:
    torch.manual_seed(0)
    m = SqueezeExcite(4).double()
    x = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
