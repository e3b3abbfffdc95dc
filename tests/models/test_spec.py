"""Attention specs: normalisation, readable rejections, and the YAML types matching the modules' real options."""

from __future__ import annotations

import typing
from typing import Any, Literal

import jsonargparse
import pytest
import torch

from segattn.attention import ATTENTION_NAMES, get_attention_class
from segattn.models import AttentionConfig, AttentionUnet, StageAttention, normalize_attention
from segattn.models.spec import NAMES, RESERVED_OPTIONS, module_options


def test_single_spec_applies_to_every_stage() -> None:
    stages = normalize_attention({"name": "se", "position": "both", "rd_ratio": 0.25}, 4)
    assert stages == [StageAttention("se", "both", {"rd_ratio": 0.25})] * 4
    assert normalize_attention(None, 3) == [StageAttention()] * 3
    assert normalize_attention("none", 2) == [StageAttention("none", "post", {})] * 2


def test_per_stage_list_keeps_order_and_defaults_to_post() -> None:
    spec = [None, "none", "cbam", {"name": "se", "position": "pre", "rd_ratio": 0.5}, "gate"]
    stages = normalize_attention(spec, 5)
    assert [s.name for s in stages] == ["none", "none", "cbam", "se", "gate"]
    assert [s.position for s in stages] == ["post", "post", "post", "pre", "post"]
    assert stages[3].options == {"rd_ratio": 0.5}
    assert [(s.pre, s.post, s.gates_skip) for s in stages] == [
        (False, False, False),
        (False, False, False),
        (False, True, False),
        (True, False, False),
        (False, False, True),
    ]


@pytest.mark.parametrize(
    ("attention", "message"),
    [
        (["se", "se", "se"], r"expected 5 entries \(encoder_depth=5\), got 3"),
        ("sse", r"attention: unknown attention 'sse'; choose from \['none', 'se', 'eca'"),
        ([None, None, "sse", None, None], r"attention\[2\]: unknown attention 'sse'"),
        ([None, {"name": "se", "position": "middle"}, None, None, None], r"attention\[1\]: unknown position 'middle'"),
        ({"rd_ratio": 0.5}, r"has no 'name'"),
        ([None, None, None, 3, None], r"attention\[3\]: a spec is null, an attention name or a mapping"),
        ({"name": "none", "rd_ratio": 0.5}, r"'none' takes no options"),
        ({"name": "gate", "position": "pre"}, r"'gate' takes no position"),
        ({"name": "gate", "gating_channels": 8}, r"\['gating_channels'\] of 'gate' are set by the decoder"),
        (
            [None, None, None, {"name": "se", "spectral_norm": True}, None],
            r"attention\[3\]: attention 'se' \(\w+\) does not take option\(s\) \['spectral_norm'\]; it takes \[",
        ),
    ],
)
def test_bad_specs_are_rejected_with_a_readable_error(attention: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_attention(attention, 5)


def test_module_construction_error_names_the_block() -> None:
    with pytest.raises(ValueError, match=r"decoder block 0 \(in=512, skip=256, out=8\), attention 'se': .*rd_ratio"):
        AttentionUnet("resnet18", decoder_channels=(8, 8, 8, 8, 8), attention={"name": "se", "rd_ratio": -1.0})


def _members(tp: Any) -> set[Any]:
    """Flatten a type hint into its union members; Literal values become ("literal", value)."""
    if typing.get_origin(tp) is Literal:
        return {("literal", v) for v in typing.get_args(tp)}
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return set().union(*(_members(arg) for arg in typing.get_args(tp)))
    return {tp}


def _covered(module_hint: Any, config_hint: Any) -> bool:
    allowed = _members(config_hint)
    for member in _members(module_hint):
        if member in allowed:
            continue
        if isinstance(member, tuple) and type(member[1]) in allowed:  # Literal["a"] fits under str
            continue
        return False
    return True


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_attention_config_covers_every_module_option(name: str) -> None:
    # A module option missing from AttentionConfig would be rejected by jsonargparse although the module takes it;
    # a narrower type would reject values the module accepts.
    cls = get_attention_class(name)
    options = module_options(cls)
    assert options is not None, f"{cls.__qualname__} takes **kwargs, which swallows typos"
    module_hints = typing.get_type_hints(cls.__init__)
    config_hints = typing.get_type_hints(AttentionConfig)
    for option in sorted(options - RESERVED_OPTIONS):
        assert option in config_hints, f"{name}: option {option!r} is missing from AttentionConfig"
        assert _covered(module_hints[option], config_hints[option]), (
            f"{name}: option {option!r} is {module_hints[option]} in {cls.__qualname__}, "
            f"but {config_hints[option]} in AttentionConfig"
        )


def test_every_attention_config_option_is_taken_by_some_module() -> None:
    taken = set().union(*(module_options(get_attention_class(n)) or set() for n in ATTENTION_NAMES))
    unused = set(AttentionConfig.__annotations__) - {"name", "position"} - taken
    assert not unused, f"AttentionConfig lists options no attention module takes: {sorted(unused)}"


def test_attention_names_in_config_are_the_registry_literal() -> None:
    assert NAMES == ("none", *ATTENTION_NAMES)


def _parser() -> jsonargparse.ArgumentParser:
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(AttentionUnet, "model")
    return parser


def test_yaml_attention_parses_per_stage_list() -> None:
    yaml = (
        "model:\n"
        "  encoder_name: resnet18\n"
        "  attention: [null, null, cbam, {name: self_attention, spectral_norm: true}, self_attention]\n"
    )
    config = _parser().parse_string(yaml)
    expected = [None, None, "cbam", {"name": "self_attention", "spectral_norm": True}, "self_attention"]
    assert config.model.attention == expected
    model = AttentionUnet(**{**config.model.as_dict(), "decoder_channels": (16, 16, 8, 8, 8)})
    assert model.config["attention"] == expected
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 1, 32, 32)


@pytest.mark.parametrize(
    ("attention", "bad"),
    [
        ("[null, {name: se, rd_ratoi: 0.5}]", "rd_ratoi"),  # typo in an option
        ("{name: se, position: middle}", "middle"),  # unknown position
        ("sse", "sse"),  # unknown name
        ("{name: se, act_layer: relu7}", "relu7"),  # value outside the module's Literal
    ],
)
def test_yaml_typo_fails_at_parse_time(attention: str, bad: str) -> None:
    with pytest.raises(jsonargparse.ArgumentError, match=bad):
        _parser().parse_string(f"model:\n  attention: {attention}\n")
