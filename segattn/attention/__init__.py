"""Attention modules for decoder blocks: pure PyTorch, no Lightning.

One file per module; the table in :mod:`.registry` names them. Build one with
``create_attention(name, channels, **options)``.
"""

from .helpers import make_divisible
from .registry import ATTENTION, ATTENTION_NAMES, AttentionName, create_attention, get_attention_class

__all__ = ["ATTENTION", "ATTENTION_NAMES", "AttentionName", "create_attention", "get_attention_class", "make_divisible"]
