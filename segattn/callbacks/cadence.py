"""``ValidationCadence``: validate every k-th epoch when validating whole images would outweigh training on crops.

Training draws one crop per image per epoch, so an epoch of a few large images is a few steps, while validation runs
every validation image whole. On quality.py's cvc_fp split (8 half-size plans, 40.5 MP, against 4.7 MP of crops per
epoch) validating every epoch took about four fifths of a fit (bench/README.md). k comes from pixel counts, never
from timings, so a run with the same settings validates at the same epochs and stays reproducible.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_info

EVAL_COST = 0.5  # one validation pixel against one training-crop pixel (forward only; measured 0.58 on cvc_fp)
NEVER = 2**62  # check_val_every_n_epoch for an epoch that skips validation: (epoch + 1) % NEVER is never 0


def validation_load(datamodule: Any) -> tuple[int, int] | None:
    """(validation pixels, training-crop pixels per epoch) of a ``SegData``; None when either is unknown."""
    image_pixels = getattr(datamodule, "image_pixels", None)
    datasets = getattr(datamodule, "datasets", {})
    if image_pixels is None or "train" not in datasets:
        return None
    val = image_pixels("val")
    crop = datamodule.hparams.crop_size
    train = len(datasets["train"]) * crop * crop if crop else sum(image_pixels("train") or [0])
    return (sum(val), train) if val and train else None


class ValidationCadence(L.Callback):
    """Validates every k-th epoch and after the last whole epoch, k chosen so validation costs at most
    ``max_fraction`` of training (estimated from pixels: a validation pixel costs ``EVAL_COST`` of a training one).

    Acts only when the trainer validates every epoch (``check_val_every_n_epoch: 1``, ``val_check_interval: 1.0``,
    all validation batches), so a cadence the user set is kept. With ``max_fraction: null`` every epoch is validated,
    as in Lightning; then a line says when validation outweighs training and how to change that.

    Args:
        max_fraction: the most validation may cost against training, per epoch; None validates every epoch.
            ``segattn fit`` sets 0.5 (``--validation.max_fraction``).
    """

    def __init__(self, max_fraction: float | None = None) -> None:
        super().__init__()
        if max_fraction is not None and not max_fraction > 0:
            raise ValueError(f"validation.max_fraction must be > 0 or null, got {max_fraction}")
        self.max_fraction = max_fraction
        self.every = 1
        self.last_epoch: int | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.every, self.last_epoch = 1, None
        if (
            trainer.check_val_every_n_epoch != 1
            or trainer.val_check_interval != 1.0
            or trainer.limit_val_batches != 1.0
        ):
            return
        load = validation_load(trainer.datamodule)
        if load is None:
            return
        val, train = load
        ratio = EVAL_COST * val / train
        what = f"the validation images hold {val / 1e6:.3g} MP against {train / 1e6:.3g} MP of training crops per epoch"
        if self.max_fraction is None:
            if ratio > 1:
                k = math.ceil(ratio / 0.5)
                rank_zero_info(
                    f"validating every epoch: {what}, so validation may take longer than training "
                    f"(--validation.max_fraction 0.5 would validate every {k} epochs)"
                )
            return
        k = math.ceil(ratio / self.max_fraction)
        if k <= 1:
            return
        self.every, self.last_epoch = k, self._last_whole_epoch(trainer)
        after = f" and after epoch {self.last_epoch}, the last whole one" if self.last_epoch is not None else ""
        rank_zero_info(
            f"validating every {k} epochs{after}: {what} (validation.max_fraction {self.max_fraction}; "
            "null validates every epoch)"
        )

    @staticmethod
    def _last_whole_epoch(trainer: L.Trainer) -> int | None:
        """The 0-based index of the last epoch that runs to its end, None if not known in advance."""
        candidates = []
        if trainer.max_epochs is not None and trainer.max_epochs >= 0:
            candidates.append(trainer.max_epochs - 1)
        steps_per_epoch = trainer.num_training_batches // trainer.accumulate_grad_batches
        if trainer.max_steps >= 0 and 0 < steps_per_epoch < math.inf:
            candidates.append(trainer.max_steps // steps_per_epoch - 1)
        return min(candidates) if candidates else None

    def due(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (0-based) ends with a validation."""
        return (epoch + 1) % self.every == 0 or epoch == self.last_epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.every > 1:
            trainer.check_val_every_n_epoch = 1 if self.due(trainer.current_epoch) else NEVER

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.every > 1:
            trainer.check_val_every_n_epoch = 1  # as the trainer was given: a later validate / test sees no change
