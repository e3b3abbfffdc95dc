"""UNet decoder block with attention slots, attribute for attribute smp 0.6's ``UnetDecoderBlock``.

::

    x ─ upsample to the skip's size ─┐
    skip ─ [skip_gate(skip, x)] ─────┴─ cat ─ attention1 ─ conv1 ─ conv2 ─ attention2 ─>

``attention1`` ("pre") and ``attention2`` ("post") are ``nn.Identity`` unless the stage asks for them; unlike
smp, ``attention1`` also runs in a block without a skip, so no parameter is ever unused (unused parameters break
plain DDP). ``skip_gate`` is the Oktay attention gate (``gate``): it rescales the skip with the upsampled decoder
feature as gating signal, and is ``None`` in a block with no skip (nothing to gate).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from segmentation_models_pytorch.base import modules as md
from torch import Tensor, nn

from segattn.attention import create_attention

from .spec import StageAttention

NormSpec = bool | str | dict[str, Any]


class AttentionDecoderBlock(nn.Module):
    """Upsample, concatenate the skip, two 3x3 ``Conv2dReLU``, with attention where ``attention`` says.

    Args:
        in_channels: channels of the decoder feature coming from the deeper stage.
        skip_channels: channels of the encoder skip (0 for the last block).
        out_channels: channels this block outputs.
        attention: this stage's validated spec (see :func:`segattn.models.spec.normalize_attention`).
        use_norm: smp's ``use_norm`` for both convolutions ("batchnorm", "identity", a dict, ...).
        interpolation_mode: ``F.interpolate`` mode for the upsampling.
    """

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        *,
        attention: StageAttention | None = None,
        use_norm: NormSpec = "batchnorm",
        interpolation_mode: str = "nearest",
    ) -> None:
        super().__init__()
        attention = attention or StageAttention()
        cat_channels = in_channels + skip_channels
        self.interpolation_mode = interpolation_mode
        self.skip_gate: nn.Module | None = None
        if attention.gates_skip and skip_channels > 0:
            self.skip_gate = create_attention("gate", skip_channels, gating_channels=in_channels, **attention.options)
        self.conv1 = md.Conv2dReLU(cat_channels, out_channels, kernel_size=3, padding=1, use_norm=use_norm)
        pre = attention.name if attention.pre else None
        post = attention.name if attention.post else None
        self.attention1 = create_attention(pre, cat_channels, **attention.options)
        self.conv2 = md.Conv2dReLU(out_channels, out_channels, kernel_size=3, padding=1, use_norm=use_norm)
        self.attention2 = create_attention(post, out_channels, **attention.options)

    def forward(self, x: Tensor, skip: Tensor | None = None, size: tuple[int, int] | None = None) -> Tensor:
        """``x`` (B, Cin, h, w), ``skip`` (B, Cskip, H, W) -> (B, Cout, H, W); ``size`` = (H, W) when no skip."""
        if skip is not None:
            size = (skip.shape[-2], skip.shape[-1])
        elif size is None:
            raise ValueError("AttentionDecoderBlock needs the target size when there is no skip connection")
        x = F.interpolate(x, size=size, mode=self.interpolation_mode)  # (B, Cin, H, W)
        if skip is not None:
            if self.skip_gate is not None:
                skip = self.skip_gate(skip, gate=x)  # (B, Cskip, H, W), gated by the decoder feature
            x = torch.cat([x, skip], dim=1)  # (B, Cin + Cskip, H, W)
        x = self.attention1(x)
        x = self.conv2(self.conv1(x))  # (B, Cout, H, W)
        return self.attention2(x)
