"""Attention specs for the decoder: the types a user writes (YAML or Python) and their normalisation.

A spec for one decoder stage is ``None`` (no attention), a name (``"cbam"``) or an :class:`AttentionConfig`
mapping (``{"name": "self_attention", "spectral_norm": True}``). ``attention`` is one spec for every stage or a
list with one spec per stage, deepest first, e.g. ``[null, null, cbam, {name: self_attention}, self_attention]``.

Typos fail twice over: jsonargparse rejects an unknown key or name at parse time (from the type hints below), and
:func:`normalize_attention` rejects, when the model is built, an option the chosen module does not take, naming
the stage and the option.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from typing_extensions import Required

from segattn.attention import ATTENTION_NAMES, AttentionName, get_attention_class
from segattn.signatures import keyword_types, typed_dict_of

Position = Literal["post", "pre", "both"]
POSITIONS: tuple[str, ...] = get_args(Position)
NAMES: tuple[str, ...] = get_args(AttentionName)  # includes "none"

# Options the decoder sets itself: a user value would contradict the block's wiring.
RESERVED_OPTIONS = frozenset({"gating_channels"})


def _option_types() -> dict[str, Any]:
    """Every module's keyword options with their types, from the constructors (one union where types differ)."""
    options: dict[str, Any] = {}
    for name in ATTENTION_NAMES:
        for key, hint in keyword_types(get_attention_class(name).__init__, skip=("channels",)).items():
            if key in RESERVED_OPTIONS:
                continue
            options[key] = hint if key not in options or options[key] == hint else options[key] | hint
    return options


AttentionConfig = typed_dict_of(
    "AttentionConfig",
    {"name": Required[AttentionName], "position": Position, **_option_types()},
    doc="""One decoder stage's attention: a name, where it sits in the block, and the module's own options.

    ``position``: ``"post"`` (default) on the block output after ``conv2`` (SE, CBAM and scSE papers, fastai's
    self-attention); ``"pre"`` on the upsampled + concatenated input before ``conv1`` (smp's ``attention1``, here
    also in the last block, which has no skip); ``"both"``. ``gate`` takes no position: it always gates the skip
    connection. Every other key is an option of some module's constructor (the keys and their types are read from
    the constructors); a key the chosen module does not take is an error when the model is built.
    """,
)


AttentionSpec = AttentionName | AttentionConfig | None


@dataclass(frozen=True)
class StageAttention:
    """A validated spec for one decoder stage: what a decoder block needs to build its attention."""

    name: str = "none"
    position: Position = "post"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def gates_skip(self) -> bool:
        return self.name == "gate"

    @property
    def pre(self) -> bool:
        return self.name not in ("none", "gate") and self.position in ("pre", "both")

    @property
    def post(self) -> bool:
        return self.name not in ("none", "gate") and self.position in ("post", "both")


def normalize_attention(attention: AttentionSpec | Sequence[AttentionSpec], num_stages: int) -> list[StageAttention]:
    """One :class:`StageAttention` per decoder stage (deepest first) from a single spec or a per-stage list.

    Raises ``ValueError`` for a list of the wrong length, an unknown name (listing the names), an unknown position,
    or an option the module does not take (naming the stage and the option).
    """
    if isinstance(attention, Sequence) and not isinstance(attention, str):
        if len(attention) != num_stages:
            raise ValueError(
                f"attention lists one spec per decoder stage (deepest first): expected {num_stages} entries "
                f"(encoder_depth={num_stages}), got {len(attention)}: {list(attention)!r}"
            )
        return [_normalize_one(spec, f"attention[{i}]") for i, spec in enumerate(attention)]
    stage = _normalize_one(attention, "attention")
    return [stage] * num_stages


def _normalize_one(spec: AttentionSpec, where: str) -> StageAttention:
    if spec is None:
        return StageAttention()
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise ValueError(
            f"{where}: a spec is null, an attention name or a mapping with a 'name' key; got {spec!r} "
            f"({type(spec).__name__})"
        )
    options = dict(spec)
    if "name" not in options:
        raise ValueError(f"{where}: the mapping {spec!r} has no 'name'; choose a name from {list(NAMES)}")
    name = options.pop("name")
    if name is None:
        name = "none"
    if name not in NAMES:
        raise ValueError(f"{where}: unknown attention {name!r}; choose from {list(NAMES)}")
    position = options.pop("position", None)
    if position is not None and position not in POSITIONS:
        raise ValueError(f"{where}: unknown position {position!r} for {name!r}; choose from {list(POSITIONS)}")
    if name == "none":
        if options or position is not None:
            raise ValueError(f"{where}: attention 'none' takes no options, got {spec!r}")
        return StageAttention()
    if name == "gate" and position is not None:
        raise ValueError(
            f"{where}: 'gate' takes no position (got {position!r}): it always gates the skip connection, with the "
            "upsampled decoder feature as gating signal"
        )
    _check_options(name, options, where)
    return StageAttention(name=name, position=position or "post", options=options)


def _check_options(name: str, options: dict[str, Any], where: str) -> None:
    try:
        cls = get_attention_class(name)
    except ValueError as err:  # a name in the Literal whose module is not registered
        raise ValueError(f"{where}: {err}") from err
    reserved = sorted(RESERVED_OPTIONS & options.keys())
    if reserved:
        raise ValueError(f"{where}: option(s) {reserved} of {name!r} are set by the decoder; remove them")
    accepted = module_options(cls)
    if accepted is None:  # the module takes **kwargs: it checks its own options
        return
    unknown = sorted(options.keys() - accepted)
    if unknown:
        raise ValueError(
            f"{where}: attention {name!r} ({cls.__qualname__}) does not take option(s) {unknown}; "
            f"it takes {sorted(accepted - RESERVED_OPTIONS)}"
        )


def module_options(cls: type) -> set[str] | None:
    """Keyword options of an attention class (every parameter after ``channels``); ``None`` if it takes ``**kwargs``."""
    params = list(inspect.signature(cls).parameters.values())[1:]  # drop `channels`
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {p.name for p in params if p.kind in kinds}
