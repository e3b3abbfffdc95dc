"""The attention table: every line builds its class, the parse-time ``AttentionName`` Literal is the table; bad
names and options fail with errors that name them; ``None`` / ``"none"`` build the identity."""

from __future__ import annotations

from typing import get_args

import pytest
import torch
from torch import nn

from segattn.attention import ATTENTION, ATTENTION_NAMES, AttentionName, create_attention, get_attention_class


def test_literal_is_the_table() -> None:
    assert get_args(AttentionName) == ("none", *ATTENTION)
    assert ATTENTION_NAMES == tuple(ATTENTION)


def test_every_line_of_the_table_names_a_module_in_its_own_file() -> None:
    for name, target in ATTENTION.items():
        cls = get_attention_class(name)
        assert f"{cls.__module__}:{cls.__qualname__}" == target
        assert cls.__module__.startswith("segattn.attention.") and cls.__doc__


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError) as info:
        create_attention("squeeze_excite_typo", 8)
    message = str(info.value)
    assert "squeeze_excite_typo" in message
    for name in ATTENTION_NAMES:
        assert repr(name) in message


@pytest.mark.parametrize("name", [None, "none"])
def test_none_builds_the_identity(name: str | None) -> None:
    module = create_attention(name, 8)
    assert isinstance(module, nn.Identity)
    x = torch.randn(2, 8, 3, 5)
    assert module(x) is x


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_unknown_option_names_the_option(name: str) -> None:
    with pytest.raises(TypeError, match="rd_ratoi"):
        create_attention(name, 8, rd_ratoi=0.25)


def test_names_build_their_own_class() -> None:
    for name in ATTENTION_NAMES:
        assert type(create_attention(name, 8)) is get_attention_class(name)
