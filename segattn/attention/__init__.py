"""Attention modules for decoder blocks: pure PyTorch, no Lightning.

Importing this package registers every module; build one with ``create_attention(name, channels, **options)``.
"""

from . import cbam, eca, gate, ge, psa, scse, se, self_attention  # noqa: F401  (imports register the modules)
from .helpers import make_divisible
from .registry import (
    ATTENTION_NAMES,
    AttentionName,
    create_attention,
    get_attention_class,
    register_attention,
    registered_attention_names,
)

__all__ = [
    "ATTENTION_NAMES",
    "AttentionName",
    "create_attention",
    "get_attention_class",
    "make_divisible",
    "register_attention",
    "registered_attention_names",
]
