"""UNet decoder with an attention slot in every block; all channel bookkeeping lives here.

Same structure and parameter names as smp 0.6's ``UnetDecoder`` (``center``, ``blocks.{i}.conv1`` ...), so with
no attention an smp ``Unet`` state dict loads strictly and gives the same outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

from segmentation_models_pytorch.base.initialization import initialize_decoder
from segmentation_models_pytorch.decoders.unet.decoder import UnetCenterBlock
from torch import Tensor, nn

from .block import AttentionDecoderBlock, NormSpec
from .spec import StageAttention


class AttentionUnetDecoder(nn.Module):
    """Decoder blocks from the deepest encoder feature up to full resolution.

    Args:
        encoder_channels: the encoder's ``out_channels`` (full resolution first, e.g. ``[3, 64, 64, 128, 256, 512]``).
        decoder_channels: output channels of each block, deepest first (one per block).
        attention: one validated spec per block, deepest first.
        use_norm: smp's ``use_norm`` for every convolution.
        add_center_block: two extra convolutions on the deepest feature (smp does this for VGG encoders).
        interpolation_mode: ``F.interpolate`` mode for every upsampling.
    """

    def __init__(
        self,
        encoder_channels: Sequence[int],
        decoder_channels: Sequence[int],
        *,
        attention: Sequence[StageAttention],
        use_norm: NormSpec = "batchnorm",
        add_center_block: bool = False,
        interpolation_mode: str = "nearest",
    ) -> None:
        super().__init__()
        n_blocks = len(decoder_channels)
        if len(encoder_channels) != n_blocks + 1 or len(attention) != n_blocks:
            raise ValueError(
                f"{n_blocks} decoder blocks need {n_blocks + 1} encoder feature widths and {n_blocks} attention "
                f"specs, got {list(encoder_channels)} and {len(attention)}"
            )
        # Channel arithmetic, deepest block first. The full-resolution feature (index 0) is never a skip.
        deep_first = list(encoder_channels[1:])[::-1]  # e.g. [512, 256, 128, 64, 64]
        head_channels = deep_first[0]
        in_channels = [head_channels, *decoder_channels[:-1]]
        skip_channels = [*deep_first[1:], 0]

        self.center = nn.Identity()
        if add_center_block:
            self.center = UnetCenterBlock(head_channels, head_channels, use_norm=use_norm)
        self.blocks = nn.ModuleList()
        widths = zip(in_channels, skip_channels, decoder_channels, attention, strict=True)
        for i, (cin, cskip, cout, stage) in enumerate(widths):
            try:
                block = AttentionDecoderBlock(
                    cin, cskip, cout, attention=stage, use_norm=use_norm, interpolation_mode=interpolation_mode
                )
            except (TypeError, ValueError) as err:
                where = f"decoder block {i} (in={cin}, skip={cskip}, out={cout}), attention {stage.name!r}"
                raise type(err)(f"{where}: {err}") from err
            self.blocks.append(block)

        # smp's initialisation for the convolutions; attention modules keep their own (e.g. zero-initialised scales).
        initialize_decoder(self.center)
        for block in self.blocks:
            initialize_decoder(block.conv1)
            initialize_decoder(block.conv2)

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        """Encoder features, full resolution first -> (B, decoder_channels[-1], H, W) at ``features[0]``'s size."""
        sizes = [(f.shape[-2], f.shape[-1]) for f in features][::-1]  # deepest first
        deep_first = list(features[1:])[::-1]
        x = self.center(deep_first[0])
        skips = deep_first[1:]
        for i, block in enumerate(self.blocks):
            skip = skips[i] if i < len(skips) else None
            x = block(x, skip, size=sizes[i + 1])  # (B, decoder_channels[i], *sizes[i + 1])
        return x
