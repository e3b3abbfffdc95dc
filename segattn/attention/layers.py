"""Small pieces shared by the attention modules: activation / gate factories and validated widths.

Every check here runs when a module is built, so a bad option fails with a ``ValueError`` that names the
module, the option and the value, never later inside a forward pass.
"""

from __future__ import annotations

from typing import Literal, get_args

from torch import nn

from .helpers import make_divisible

GateName = Literal["sigmoid", "hard_sigmoid"]
ActName = Literal["relu", "relu6", "leaky_relu", "silu", "gelu", "hard_swish", "mish"]

_GATES: dict[str, type[nn.Module]] = {"sigmoid": nn.Sigmoid, "hard_sigmoid": nn.Hardsigmoid}
_ACTS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leaky_relu": nn.LeakyReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "hard_swish": nn.Hardswish,
    "mish": nn.Mish,
}
assert set(_GATES) == set(get_args(GateName)) and set(_ACTS) == set(get_args(ActName))


def get_gate(name: str, *, owner: str = "attention") -> type[nn.Module]:
    """The gate class called ``name`` (a map to (0, 1)); ``ValueError`` listing the choices otherwise."""
    if name not in _GATES:
        raise ValueError(f"{owner}: unknown gate_layer {name!r}; choose from {sorted(_GATES)}")
    return _GATES[name]


def get_act(name: str, *, owner: str = "attention") -> type[nn.Module]:
    """The activation class called ``name``; ``ValueError`` listing the choices otherwise."""
    if name not in _ACTS:
        raise ValueError(f"{owner}: unknown act_layer {name!r}; choose from {sorted(_ACTS)}")
    return _ACTS[name]


def check_channels(channels: int, *, owner: str, name: str = "channels") -> int:
    """``channels`` as an int >= 1 (bools and floats are rejected: they are always a caller's mistake)."""
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"{owner}: {name} must be an int >= 1, got {channels!r}")
    return channels


def check_kernel_size(kernel_size: int, *, owner: str, name: str = "kernel_size") -> int:
    """An odd int >= 1, so ``padding = kernel_size // 2`` keeps the size."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"{owner}: {name} must be an odd int >= 1 (so padding k // 2 keeps H, W), got {kernel_size!r}")
    return kernel_size


def reduced_channels(
    channels: int,
    *,
    rd_ratio: float,
    rd_divisor: int,
    rd_channels: int | None,
    min_channels: int | None,
    owner: str,
) -> int:
    """Hidden width of a bottleneck: ``rd_channels`` if given, else ``make_divisible(channels * rd_ratio)``.

    The rounding goes to a multiple of ``rd_divisor`` and never below ``min_channels`` (default: ``rd_divisor``),
    so the width is never 0: with the defaults (1/16, 8) every C <= 128 gets 8 hidden units, which for C < 8 is
    wider than C. ``rd_divisor=1, min_channels=1`` gives the papers' plain ``max(1, round(C * rd_ratio))``.
    """
    check_channels(channels, owner=owner)
    if isinstance(rd_divisor, bool) or not isinstance(rd_divisor, int) or rd_divisor < 1:
        raise ValueError(f"{owner}: rd_divisor must be an int >= 1, got {rd_divisor!r}")
    if min_channels is not None:
        check_channels(min_channels, owner=owner, name="min_channels")
    if not rd_ratio > 0:  # also catches NaN
        raise ValueError(f"{owner}: rd_ratio must be > 0, got {rd_ratio!r}")
    if rd_channels is not None:
        return check_channels(rd_channels, owner=owner, name="rd_channels")
    return make_divisible(channels * rd_ratio, rd_divisor, min_value=min_channels)
