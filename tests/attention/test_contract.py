"""The attention module contract, checked for EVERY name in ``segattn.attention.ATTENTION_NAMES``.

Built through the registry with default options: shape and dtype kept, finite, the input is actually changed,
every parameter is in the graph and (beyond 1x1 maps) receives a non-zero gradient, odd and 1x1 sizes,
1..64 channels, float64, deterministic in eval, samples independent of each other, channels_last gives the
same numbers.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segattn.attention import ATTENTION_NAMES, create_attention

CHANNELS = (1, 3, 8, 64)
SIZES = ((7, 9), (1, 1))


def build(name: str, channels: int, *, seed: int = 0) -> nn.Module:
    """The module with default options; all-zero parameters (zero-initialised residual scales) made non-zero,
    otherwise a fresh residual block is the identity and the layers behind the scale get no gradient."""
    torch.manual_seed(seed)
    module = create_attention(name, channels)
    with torch.no_grad():
        for p in module.parameters():
            if not p.any():
                p.copy_(0.1 * torch.randn_like(p))
    return module


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
@pytest.mark.parametrize("channels", CHANNELS, ids=[f"C{c}" for c in CHANNELS])
@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_forward_backward_contract(name: str, channels: int, size: tuple[int, int], dtype: torch.dtype) -> None:
    module = build(name, channels).to(dtype)
    x = torch.randn(2, channels, *size, dtype=dtype, requires_grad=True)

    y = module(x)

    assert y.shape == x.shape
    assert y.dtype == dtype
    assert torch.isfinite(y).all()
    assert not torch.allclose(y, x), f"{name} returned its input unchanged"

    (y * torch.randn_like(y)).sum().backward()  # random weights: a plain sum can cancel (e.g. under a softmax)
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    params = dict(module.named_parameters())
    unused = [n for n, p in params.items() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not unused, f"{name}: parameters outside the graph (plain DDP fails on these) or non-finite: {unused}"
    if size != (1, 1):
        # At 1x1 a softmax over positions sees one position and is constantly 1, so query/key weights get an
        # exactly zero gradient: the mathematics, not a bug. Everywhere else every parameter must learn.
        zero = [n for n, p in params.items() if not (p.grad.abs().sum() > 0)]
        assert not zero, f"{name}: parameters with an all-zero gradient: {zero}"


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_eval_is_deterministic(name: str) -> None:
    module = build(name, 8).eval()
    x = torch.randn(2, 8, 7, 9)
    with torch.no_grad():
        assert torch.equal(module(x), module(x))


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_samples_are_independent(name: str) -> None:
    """Attention must not mix the images of a batch: sample 0 alone gives the same output as in a batch."""
    module = build(name, 8).eval()
    x = torch.randn(3, 8, 7, 9)
    with torch.no_grad():
        torch.testing.assert_close(module(x)[:1], module(x[:1]))


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_channels_last_gives_the_same_output(name: str) -> None:
    module = build(name, 8).eval()
    x = torch.randn(2, 8, 7, 9)
    with torch.no_grad():
        y = module(x)
        y_cl = module(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(y_cl, y)
