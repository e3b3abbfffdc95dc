"""TypedDicts derived from constructor signatures, so a mapping form of a class is typed from the class itself.

jsonargparse validates a ``TypedDict`` key by key at parse time; writing one by hand beside a constructor makes two
copies of one signature that drift apart. :func:`typed_dict_of` reads the constructor's parameters and resolved
type hints instead.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable
from typing import Any


def keyword_types(fn: Callable[..., Any], *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """``{parameter: resolved type}`` of ``fn``'s parameters that can be passed by keyword, in order."""
    hints = typing.get_type_hints(fn)
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    skipped = {"self", *skip}
    return {
        p.name: hints.get(p.name, Any)
        for p in inspect.signature(fn).parameters.values()
        if p.kind in kinds and p.name not in skipped
    }


def typed_dict_of(name: str, fields: dict[str, Any], *, doc: str = "") -> type:
    """A ``total=False`` TypedDict called ``name`` with ``fields`` (values may be ``Required[...]``)."""
    from typing_extensions import TypedDict  # Required in the functional form on 3.10 too

    cls = TypedDict(name, fields, total=False)  # type: ignore[operator]
    cls.__doc__ = doc or cls.__doc__
    return cls
