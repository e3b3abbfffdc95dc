"""``ModelCheckpoint`` whose ``last.ckpt`` holds the end of training, as ``save_last`` promised before Lightning 2.6.

Since Lightning 2.6, ``save_last=True`` writes ``last.ckpt`` only when a top-k checkpoint is saved at the same step:
with ``save_top_k=1`` it is a copy of the best checkpoint, so ``--ckpt_path last`` resumed a run from its best epoch
and lost every epoch after it (seen here: a 770-step run's ``last.ckpt`` held step 304). This subclass also writes
``last.ckpt`` after every validation or epoch in which the top-k checkpoint did not change, after every epoch that
ends without a validation (``check_val_every_n_epoch`` > 1, or ``ValidationCadence``'s skipped epochs: otherwise a
killed run resumes from its last validation), and once more when training ends between validations (``max_steps``
mid-epoch). Everything else is Lightning's, and the state key is
``ModelCheckpoint``'s, so runs saved before this class resume alike.
"""

from __future__ import annotations

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint


class LastCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint``; with ``save_last``, ``last.ckpt`` is the newest weights, not the best."""

    @property
    def state_key(self) -> str:
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def _catch_up_last(self, trainer: pl.Trainer, due: bool) -> None:
        if due and self.save_last is True and self._last_global_step_saved != trainer.global_step:  # "link": as chosen
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    _validated_epoch: int | None = None  # the last epoch a (non-sanity) validation ran in

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning runs an epoch's closing validation before this hook, so an epoch without one is known here
        unvalidated = self._validated_epoch != trainer.current_epoch
        due = not self._should_skip_saving_checkpoint(trainer) and (
            self._should_save_on_train_epoch_end(trainer) or unvalidated
        )
        super().on_train_epoch_end(trainer, pl_module)
        self._catch_up_last(trainer, due)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._validated_epoch = trainer.current_epoch
        due = not self._should_skip_saving_checkpoint(trainer) and not self._should_save_on_train_epoch_end(trainer)
        super().on_validation_end(trainer, pl_module)
        self._catch_up_last(trainer, due)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self._catch_up_last(trainer, not self._should_skip_saving_checkpoint(trainer))
