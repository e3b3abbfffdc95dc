"""The parity check every export ends with: the file, as written and read back, against PyTorch.

Two batches of normalised random images go through the PyTorch network and through the exported model: the
tile batch prediction feeds, (2, C, tile, tile), and a single image whose sides are neither square nor a multiple
of the network's stride, (1, C, tile / 2 + 1, 5 / 4 tile + 3) (both at least the model's ``min_side``). The
check compares class probabilities (sigmoid or softmax of the logits, what prediction blends and thresholds), not
logits: the largest absolute difference over every pixel must stay within the tolerance, 1e-4 by default (float32
export of a float32 network). A shape mismatch or a NaN fails the check outright.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from segattn.labels import probabilities
from segattn.predict import PredictConfig

TOLERANCE = 1e-4


class ExportFailed(RuntimeError):
    """The network could not be exported, or the exported file does not compute what the network computes."""


class ParityError(ExportFailed):
    """The exported model's probabilities differ from PyTorch's by more than the tolerance."""


@dataclass(frozen=True)
class ParityReport:
    """Per input batch: its shape and the largest |probability difference|; ``ok`` if all are within tolerance."""

    backend: str  # what ran the exported file, e.g. "ONNX Runtime"
    shapes: tuple[tuple[int, ...], ...]
    deltas: tuple[float, ...]
    tolerance: float

    @property
    def ok(self) -> bool:
        return all(d <= self.tolerance for d in self.deltas)

    @property
    def max_delta(self) -> float:
        return max(self.deltas)

    def __str__(self) -> str:
        parts = ", ".join(f"{'x'.join(map(str, s))} {d:.1e}" for s, d in zip(self.shapes, self.deltas, strict=True))
        verdict = "ok" if self.ok else "FAILED"
        return f"parity {self.backend} vs PyTorch, max |Δ probability|: {parts} (≤ {self.tolerance:g}): {verdict}"


def parity_inputs(config: PredictConfig, min_side: int, *, device: torch.device, seed: int = 0) -> list[Tensor]:
    """The two input batches of the module docstring, normalised as ``config`` says, on ``device``."""
    tile = max(config.tile, min_side)
    sizes = [(2, tile, tile), (1, max(min_side, tile // 2 + 1), max(min_side, tile + tile // 4 + 3))]
    pre = config.preprocess
    mean = torch.tensor(pre.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(pre.std, dtype=torch.float32).view(1, -1, 1, 1)
    generator = torch.Generator().manual_seed(seed)
    images = [torch.rand((b, config.in_channels, h, w), generator=generator) for b, h, w in sizes]  # [0, 1]
    return [((image - mean) / std).to(device) for image in images]


@torch.no_grad()
def check_parity(
    reference: Callable[[Tensor], Tensor],
    candidate: Callable[[Tensor], Tensor],
    inputs: Sequence[Tensor],
    *,
    backend: str,
    tolerance: float = TOLERANCE,
) -> ParityReport:
    """Compare the probabilities of two logit functions on ``inputs``."""
    deltas = []
    for x in inputs:
        want = probabilities(reference(x)).float()
        got = probabilities(candidate(x)).float().to(want.device)
        if got.shape != want.shape:
            deltas.append(math.inf)
            continue
        delta = (got - want).abs().max().item()
        deltas.append(delta if math.isfinite(delta) else math.inf)
    return ParityReport(backend, tuple(tuple(x.shape) for x in inputs), tuple(deltas), tolerance)
