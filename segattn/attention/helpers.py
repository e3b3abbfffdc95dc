"""Small shared helpers for the attention modules (and the model built from them)."""

from __future__ import annotations

import torch


def make_divisible(value: float, divisor: int = 8, *, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round ``value`` to a multiple of ``divisor``, never below ``min_value`` (default ``divisor``) and never 0.

    Same rule as timm's ``make_divisible``: rounding down may not lose more than ``1 - round_limit`` of the value.
    """
    if divisor < 1:
        raise ValueError(f"divisor must be >= 1, got {divisor}")
    min_value = divisor if min_value is None else min_value
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < round_limit * value:
        new_value += divisor
    return max(1, new_value)


def exporting() -> bool:
    """True while a graph is being recorded for a file: ``torch.export`` (so ``torch.onnx.export``) or
    ``torch.jit.trace``.

    A Python ``if`` on a feature size is frozen into such a graph at the example's value, so a module whose
    forward branches on the input size takes a path without that branch while this is true: the same function,
    one graph for every size. Eager calls and ``torch.compile`` keep the ordinary path.
    """
    is_exporting = getattr(torch.compiler, "is_exporting", None)  # torch >= 2.5
    return bool(is_exporting and is_exporting()) or torch.jit.is_tracing()
