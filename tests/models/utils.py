"""Helpers shared by the model tests."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def perturb_zero_parameters(model: nn.Module, std: float = 0.1) -> None:
    """Give every all-zero parameter small random values.

    Residual attention starts with a zero scale (the identity), which blocks the gradient to everything behind the
    scale and hides the attention path from output comparisons; perturbing makes every path live.
    """
    for param in model.parameters():
        if not param.any():
            param.normal_(0.0, std)


def parameters_without_gradient(model: nn.Module) -> list[str]:
    """Names of parameters whose gradient is missing or exactly zero after a backward pass."""
    return [name for name, p in model.named_parameters() if p.grad is None or not p.grad.any()]
