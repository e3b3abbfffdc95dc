"""Attention registry: one name -> one module class, ``create_attention`` builds it.

Unknown names raise ``ValueError`` listing the choices (never an ``assert``: under ``python -O`` an assert
vanishes and a model would silently be built without attention). ``None`` / ``"none"`` give ``nn.Identity``
so callers never branch on ``is None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar, get_args

from torch import nn

# The names a user may write in YAML. jsonargparse turns this Literal into a parse-time check, so a typo
# fails before any tensor exists. tests/attention/test_registry.py keeps it equal to the registry.
AttentionName = Literal["none", "se", "eca", "cbam", "scse", "ge", "gate", "self_attention", "psa"]
ATTENTION_NAMES: tuple[str, ...] = tuple(n for n in get_args(AttentionName) if n != "none")

_REGISTRY: dict[str, type[nn.Module]] = {}

M = TypeVar("M", bound=type[nn.Module])


def register_attention(name: str) -> Callable[[M], M]:
    """Class decorator adding an attention module to the registry under ``name``."""

    def decorator(cls: M) -> M:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"attention {name!r} is already registered to {_REGISTRY[name].__qualname__}")
        _REGISTRY[name] = cls
        return cls

    return decorator


def registered_attention_names() -> list[str]:
    """Sorted names of every registered attention module."""
    return sorted(_REGISTRY)


def get_attention_class(name: str) -> type[nn.Module]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown attention {name!r}; choose from {['none', *sorted(_REGISTRY)]}")
    return _REGISTRY[name]


def create_attention(name: str | None, channels: int, **kwargs) -> nn.Module:
    """Build the attention module registered as ``name`` for a ``channels``-wide feature map.

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
