"""The decoder block: attention in the slot its position names, at the right width, at odd sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segattn.attention import ATTENTION_NAMES, get_attention_class
from segattn.models import AttentionDecoderBlock, StageAttention

POSITIONS = ("post", "pre", "both")
NON_GATE = [n for n in ATTENTION_NAMES if n != "gate"]


@pytest.mark.parametrize("skip_channels", [8, 0])
@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("name", NON_GATE)
def test_attention_sits_where_position_says(name: str, position: str, skip_channels: int) -> None:
    block = AttentionDecoderBlock(16, skip_channels, 8, attention=StageAttention(name, position))
    cls = get_attention_class(name)
    assert isinstance(block.attention1, cls) == (position in ("pre", "both"))
    assert isinstance(block.attention2, cls) == (position in ("post", "both"))
    assert block.skip_gate is None

    x = torch.randn(2, 16, 4, 5)
    skip = torch.randn(2, skip_channels, 7, 9) if skip_channels else None
    out = block(x, skip, size=(7, 9))  # upsampled to the skip's odd size, not 2x
    assert out.shape == (2, 8, 7, 9)
    assert torch.isfinite(out).all()


def test_gate_gates_the_skip_and_is_absent_without_one() -> None:
    gated = AttentionDecoderBlock(16, 8, 8, attention=StageAttention("gate"))
    assert isinstance(gated.skip_gate, get_attention_class("gate"))
    assert isinstance(gated.attention1, nn.Identity) and isinstance(gated.attention2, nn.Identity)
    out = gated(torch.randn(2, 16, 4, 5), torch.randn(2, 8, 7, 9))
    assert out.shape == (2, 8, 7, 9)

    last = AttentionDecoderBlock(16, 0, 8, attention=StageAttention("gate"))
    assert last.skip_gate is None
    assert sum(p.numel() for p in last.parameters()) == sum(
        p.numel() for p in AttentionDecoderBlock(16, 0, 8).parameters()
    )


def test_gate_changes_the_skip_it_receives() -> None:
    torch.manual_seed(0)
    block = AttentionDecoderBlock(16, 8, 8, attention=StageAttention("gate")).eval()
    x, skip = torch.randn(2, 16, 4, 5), torch.randn(2, 8, 7, 9)
    with torch.no_grad():
        gated = block(x, skip)
        block.skip_gate = None  # same weights, skip passed through untouched
        plain = block(x, skip)
    assert not torch.allclose(gated, plain)


def test_block_without_skip_needs_a_size() -> None:
    with pytest.raises(ValueError, match="target size"):
        AttentionDecoderBlock(16, 0, 8)(torch.randn(1, 16, 4, 4))
