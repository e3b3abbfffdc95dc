"""Models: attention specs -> decoder block -> UNet decoder -> ``AttentionUnet`` on smp encoders."""

from .block import AttentionDecoderBlock
from .decoder import AttentionUnetDecoder
from .spec import AttentionConfig, AttentionSpec, Position, StageAttention, normalize_attention
from .unet import AttentionUnet
from .weights import load_encoder_weights

__all__ = [
    "AttentionConfig",
    "AttentionDecoderBlock",
    "AttentionSpec",
    "AttentionUnet",
    "AttentionUnetDecoder",
    "Position",
    "StageAttention",
    "load_encoder_weights",
    "normalize_attention",
]
