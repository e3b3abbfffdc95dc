"""``LastCheckpoint``: ``last.ckpt`` is the end of training even when the best epoch is an early one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel

from segattn.callbacks import LastCheckpoint


class _Worsening(BoringModel):
    """A validation score that falls every epoch, so the best checkpoint is the first one."""

    def validation_step(self, batch, batch_idx):
        self.log("val/dice", 1.0 / (self.current_epoch + 1))
        return super().validation_step(batch, batch_idx)


def _fit(tmp_path: Path, callback: ModelCheckpoint, extra: list[Callback] = (), **trainer_args) -> dict:
    trainer = Trainer(
        default_root_dir=tmp_path,
        callbacks=[callback, *extra],
        limit_train_batches=4,
        limit_val_batches=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        **trainer_args,
    )
    trainer.fit(_Worsening())
    last = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)
    return {"trainer_step": trainer.global_step, "last_step": last["global_step"], "last_epoch": last["epoch"]}


def _callback(tmp_path: Path, cls: type[ModelCheckpoint]) -> ModelCheckpoint:
    return cls(dirpath=tmp_path / "ckpt", filename="best", monitor="val/dice", mode="max", save_last=True)


@pytest.mark.parametrize("trainer_args", [{"max_epochs": 3}, {"max_steps": 10, "max_epochs": -1}])
def test_last_checkpoint_is_the_end_of_training(tmp_path: Path, trainer_args: dict) -> None:
    """3 epochs of 4 steps (best: epoch 0), and 10 steps that end mid-epoch, after the last validation."""
    result = _fit(tmp_path, _callback(tmp_path, LastCheckpoint), **trainer_args)
    assert result["last_step"] == result["trainer_step"] == trainer_args.get("max_steps", 12)
    best = torch.load(tmp_path / "ckpt" / "best.ckpt", map_location="cpu", weights_only=False)
    assert best["global_step"] == 4  # the top-k checkpoint is still the best epoch's


class _LastSteps(Callback):
    """The global step ``last.ckpt`` holds at the start of each epoch after the first (None: no file yet)."""

    def __init__(self, path: Path) -> None:
        self.path, self.steps = path, []

    def on_train_epoch_start(self, trainer: Trainer, pl_module) -> None:
        if trainer.current_epoch:
            last = torch.load(self.path, map_location="cpu", weights_only=False) if self.path.is_file() else {}
            self.steps.append(last.get("global_step"))


@pytest.mark.parametrize("cls", [LastCheckpoint, ModelCheckpoint])
def test_last_checkpoint_follows_epochs_that_skip_validation(tmp_path: Path, cls: type[ModelCheckpoint]) -> None:
    """Validation every 3rd epoch (as ValidationCadence does on large images): a killed run loses one epoch at most."""
    seen = _LastSteps(tmp_path / "ckpt" / "last.ckpt")
    result = _fit(tmp_path, _callback(tmp_path, cls), max_epochs=5, check_val_every_n_epoch=3, extra=[seen])
    if cls is ModelCheckpoint:  # why: Lightning's own writes last.ckpt at validations only
        if seen.steps[:3] != [None, None, 12]:
            pytest.skip("this Lightning writes last.ckpt every epoch by itself")
        return
    assert seen.steps == [4, 8, 12, 16] and result["last_step"] == 20


def test_lightning_alone_keeps_the_best_as_last(tmp_path: Path) -> None:
    """Why the class exists: Lightning's own callback writes last.ckpt only with a new best (Lightning >= 2.6)."""
    result = _fit(tmp_path, _callback(tmp_path, ModelCheckpoint), max_epochs=3)
    if result["last_step"] == result["trainer_step"]:
        pytest.skip("this Lightning writes last.ckpt every epoch by itself; LastCheckpoint is a no-op here")
    assert result["last_step"] == 4


def test_state_key_is_model_checkpoints(tmp_path: Path) -> None:
    """Checkpoints of earlier runs (saved by ModelCheckpoint) restore this callback's state on resume."""
    ours, theirs = _callback(tmp_path, LastCheckpoint), _callback(tmp_path, ModelCheckpoint)
    assert ours.state_key == theirs.state_key and ours.state_key.startswith("ModelCheckpoint{")
