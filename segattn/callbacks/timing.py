"""``StepTimer``: the wall time of a training step, measured during ``fit`` and carried in the checkpoint.

The mean over ``timed_steps`` training batches (forward, backward, optimizer step) after the first
``warmup_steps`` (first-call overheads). Only that window is timed: on a GPU the synchronisation wall time needs
would slow every step. The figure is what this run took under whatever load the machine had; comparisons between
variants should come from side-by-side timing (``bench/train_step.py``), not from two runs' timers.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels (CUDA runs them asynchronously), so wall time covers the work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer(L.Callback):
    """Times training batches; ``train_step_ms`` is their mean (None until one was timed).

    Args:
        warmup_steps: training batches left out at the start.
        timed_steps: training batches timed after the warm-up.
    """

    def __init__(self, *, warmup_steps: int = 3, timed_steps: int = 50) -> None:
        super().__init__()
        if warmup_steps < 0 or timed_steps < 0:
            raise ValueError(f"warmup_steps and timed_steps must be >= 0, got {warmup_steps} and {timed_steps}")
        self.warmup_steps, self.timed_steps = warmup_steps, timed_steps
        self.total_ms, self.timed, self.seen = 0.0, 0, 0
        self._t0 = 0.0

    @property
    def train_step_ms(self) -> float | None:
        return self.total_ms / self.timed if self.timed else None

    def _timing(self) -> bool:
        return self.warmup_steps <= self.seen < self.warmup_steps + self.timed_steps

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._timing():
            synchronize(pl_module.device)
            self._t0 = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._timing():
            synchronize(pl_module.device)
            self.total_ms += 1000 * (time.perf_counter() - self._t0)
            self.timed += 1
        self.seen += 1

    def state_dict(self) -> dict[str, Any]:  # saved in checkpoints, restored by trainer.test(ckpt_path=...)
        return {"train_ms_total": self.total_ms, "train_timed": self.timed, "train_seen": self.seen}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.total_ms = float(state_dict.get("train_ms_total", 0.0))
        self.timed = int(state_dict.get("train_timed", 0))
        self.seen = int(state_dict.get("train_seen", 0))
