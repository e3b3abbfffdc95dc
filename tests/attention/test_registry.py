"""The registry: the parse-time ``AttentionName`` Literal and the registered classes stay equal; bad names and
options fail with errors that name them; ``None`` / ``"none"`` build the identity."""

from __future__ import annotations

from typing import get_args

import pytest
import torch
from torch import nn

import segattn.attention  # noqa: F401  (importing the package registers every module)
from segattn.attention import (
    ATTENTION_NAMES,
    AttentionName,
    create_attention,
    get_attention_class,
    register_attention,
    registered_attention_names,
)
from segattn.attention import registry as registry_module


def test_literal_equals_registered_names() -> None:
    literal = set(get_args(AttentionName)) - {"none"}
    assert literal == set(registered_attention_names())
    assert set(ATTENTION_NAMES) == literal


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError) as info:
        create_attention("squeeze_excite_typo", 8)
    message = str(info.value)
    assert "squeeze_excite_typo" in message
    for name in registered_attention_names():
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


def test_duplicate_registration_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))  # keep the real one clean
    original = get_attention_class("se")

    class Impostor(nn.Module):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register_attention("se")(Impostor)
    assert get_attention_class("se") is original
    # registering the same class again (e.g. a module re-import) is harmless
    assert register_attention("se")(original) is original
    assert get_attention_class("se") is original


def test_registered_names_build_their_own_class() -> None:
    for name in registered_attention_names():
        assert type(create_attention(name, 8)) is get_attention_class(name)
