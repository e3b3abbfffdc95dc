"""Learning-rate schedules that need the run's length, and the factory type the LightningModule takes.

A schedule factory is called as ``factory(optimizer, total_steps)`` once the trainer knows how many optimizer steps
the run has (``trainer.estimated_stepping_batches``); the scheduler is then stepped every optimizer step. In YAML
any class whose first two parameters are ``(optimizer, total_steps)`` fits, the remaining arguments are given as
``init_args``:

    model:
      lr_scheduler:
        class_path: segattn.schedules.WarmupCosineLR
        init_args: {warmup_fraction: 0.1}

``torch.optim.lr_scheduler.CosineAnnealingLR`` fits too (its ``T_max`` receives the total number of steps).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

# Called with the optimizer and the total number of optimizer steps of the run.
LRSchedulerFactory = Callable[[Optimizer, int], LRScheduler]


class WarmupCosineLR(LRScheduler):
    """Linear warm-up then cosine decay, stepped once per optimizer step.

    ``lr(t) = base_lr · f(t)`` with ``W = round(warmup_fraction · total_steps)``:

        f(t) = start_factor + (1 - start_factor) · t / W                       for t < W
        f(t) = final_factor + (1 - final_factor) · (1 + cos(π · p)) / 2,  p = (t - W) / (total_steps - 1 - W)

    so the rate climbs from ``start_factor · base_lr`` to ``base_lr`` and falls to ``final_factor · base_lr`` at the
    last step ``t = total_steps - 1`` (and stays there if stepped further).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total_steps: int,
        *,
        warmup_fraction: float = 0.05,
        start_factor: float = 0.01,
        final_factor: float = 0.01,
        last_epoch: int = -1,
    ) -> None:
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        if not 0.0 <= warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction}")
        for name, value in (("start_factor", start_factor), ("final_factor", final_factor)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self.total_steps = total_steps
        self.warmup_steps = round(warmup_fraction * total_steps)
        self.start_factor = start_factor
        self.final_factor = final_factor
        super().__init__(optimizer, last_epoch)

    def factor(self, step: int) -> float:
        """The multiplier ``f(step)`` applied to every base learning rate."""
        if step < self.warmup_steps:
            return self.start_factor + (1.0 - self.start_factor) * step / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - 1 - self.warmup_steps))
        return self.final_factor + (1.0 - self.final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def get_lr(self) -> list[float]:
        f = self.factor(self.last_epoch)
        return [base_lr * f for base_lr in self.base_lrs]
