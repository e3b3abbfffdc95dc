"""The attention table: one line per attention, name -> ``"module:Class"``; everything else is derived from it.

Adding an attention is its module file (the ``channels``-first, keyword-only constructor of STYLE.md) plus one line
in :data:`ATTENTION`. From the table come the YAML name type :data:`AttentionName` (a ``Literal``: jsonargparse
rejects a typo at parse time), the option types of ``segattn.models.spec.AttentionConfig`` (from each constructor's
signature) and :func:`create_attention`. Modules are imported when first used.

Unknown names raise ``ValueError`` listing the choices (never an ``assert``: under ``python -O`` an assert vanishes
and a model would silently be built without attention). ``None`` / ``"none"`` give ``nn.Identity`` so callers
never branch on ``is None``.
"""

from __future__ import annotations

import importlib
from typing import Literal

from torch import nn

ATTENTION: dict[str, str] = {
    "se": "segattn.attention.se:SqueezeExcite",
    "eca": "segattn.attention.eca:EfficientChannelAttention",
    "cbam": "segattn.attention.cbam:Cbam",
    "scse": "segattn.attention.scse:ConcurrentSqueezeExcite",
    "ge": "segattn.attention.ge:GatherExcite",
    "gate": "segattn.attention.gate:AttentionGate",
    "self_attention": "segattn.attention.self_attention:SelfAttention",
    "psa": "segattn.attention.psa:PointWiseSpatialAttention",
}

ATTENTION_NAMES: tuple[str, ...] = tuple(ATTENTION)
AttentionName = Literal[("none", *ATTENTION_NAMES)]  # type: ignore[valid-type]  # the names a user may write


def get_attention_class(name: str) -> type[nn.Module]:
    """The module class of attention ``name``; ``ValueError`` listing the names for anything else."""
    if name not in ATTENTION:
        raise ValueError(f"unknown attention {name!r}; choose from {['none', *ATTENTION_NAMES]}")
    module_name, class_name = ATTENTION[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_attention(name: str | None, channels: int, **kwargs) -> nn.Module:
    """Build the attention module called ``name`` for a ``channels``-wide feature map.

    ``kwargs`` are the module's keyword-only options; an option the module does not take raises ``TypeError``
    naming it (no ``**kwargs`` swallowing typos).
    """
    if name is None or name == "none":
        return nn.Identity()
    cls = get_attention_class(name)
    try:
        return cls(channels, **kwargs)
    except TypeError as err:
        raise TypeError(f"attention {name!r} ({cls.__qualname__}): {err}") from err
