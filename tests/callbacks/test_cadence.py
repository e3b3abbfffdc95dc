"""``ValidationCadence``: every k-th epoch and the last whole one when validation pixels outweigh training crops."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
from lightning.pytorch.demos.boring_classes import BoringModel, RandomDataset
from torch.utils.data import DataLoader

from segattn.callbacks import ValidationCadence, cadence
from segattn.callbacks.cadence import validation_load


class _Counting(BoringModel):
    def __init__(self) -> None:
        super().__init__()
        self.validated: list[int] = []

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self.validated.append(self.current_epoch)


class _Data(L.LightningDataModule):
    """4 train batches per epoch; ``val_pixels`` of validation against 4 crops of 16² (1024 px) per epoch."""

    def __init__(self, val_pixels: list[int] | None) -> None:
        super().__init__()
        self.val_pixels = val_pixels
        self.hparams.crop_size = 16
        self.datasets = {"train": RandomDataset(32, 4)}

    def image_pixels(self, split: str) -> list[int] | None:
        return self.val_pixels if split == "val" else None

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.datasets["train"], batch_size=1)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(RandomDataset(32, 2), batch_size=1)


def _validated(tmp_path: Path, val_pixels: list[int] | None, max_fraction: float | None, **trainer_args) -> list:
    model = _Counting()
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        callbacks=[ValidationCadence(max_fraction)],
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        **trainer_args,
    )
    trainer.fit(model, datamodule=_Data(val_pixels))
    assert trainer.check_val_every_n_epoch == trainer_args.get("check_val_every_n_epoch", 1)  # given back
    return model.validated


def test_every_kth_epoch_and_the_last(tmp_path: Path) -> None:
    """Validation 6 x 1024 px at half cost = 3x a training epoch: with max_fraction 1, every 3rd epoch."""
    assert _validated(tmp_path, [1024] * 6, 1.0, max_epochs=7) == [2, 5, 6]


def test_max_steps_ends_with_the_last_whole_epoch(tmp_path: Path) -> None:
    """10 steps of 4 per epoch: epochs 0 and 1 run to their end, epoch 2 stops mid-way; 1 is validated."""
    assert _validated(tmp_path, [1024] * 6, 1.0, max_steps=10, max_epochs=-1) == [1]
    assert _validated(tmp_path, [1024] * 6, 0.5, max_steps=28, max_epochs=-1) == [5, 6]  # k = 6


@pytest.mark.parametrize(
    ("val_pixels", "max_fraction", "trainer_args", "expected"),
    [
        ([1024] * 6, None, {}, [0, 1, 2, 3]),  # off: every epoch, as Lightning
        ([1024], 1.0, {}, [0, 1, 2, 3]),  # validation is cheaper than training: every epoch
        (None, 1.0, {}, [0, 1, 2, 3]),  # sizes unknown: every epoch
        ([1024] * 6, 1.0, {"check_val_every_n_epoch": 2}, [1, 3]),  # the user's cadence is kept
    ],
)
def test_every_epoch_unless_it_applies(
    tmp_path: Path, val_pixels: list[int] | None, max_fraction: float | None, trainer_args: dict, expected: list
) -> None:
    assert _validated(tmp_path, val_pixels, max_fraction, max_epochs=4, **trainer_args) == expected


def test_off_says_when_validation_outweighs_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    monkeypatch.setattr(cadence, "rank_zero_info", said.append)
    _validated(tmp_path, [1024] * 6, None, max_epochs=1)
    (line,) = said
    assert "validating every epoch" in line and "--validation.max_fraction 0.5 would validate every 6 epochs" in line
    said.clear()
    _validated(tmp_path, [1024], None, max_epochs=1)
    _validated(tmp_path, [1024] * 6, 1.0, max_epochs=1)
    assert said == [
        "validating every 3 epochs and after epoch 0, the last whole one: the validation images hold "
        "0.00614 MP against 0.00102 MP of training crops per epoch (validation.max_fraction 1.0; null validates "
        "every epoch)"
    ]


def test_validation_load_and_bad_values() -> None:
    data = SimpleNamespace(
        image_pixels=lambda split: [10, 20], datasets={"train": [0] * 3}, hparams=SimpleNamespace(crop_size=4)
    )
    assert validation_load(data) == (30, 48)
    data.hparams.crop_size = None  # whole training images
    assert validation_load(data) == (30, 30)
    assert validation_load(SimpleNamespace()) is None
    with pytest.raises(ValueError, match="max_fraction"):
        ValidationCadence(0)


def test_fit_of_a_folder_validates_on_the_cadence(tmp_path: Path) -> None:
    """``segattn fit --validation.max_fraction``: image headers give the pixels, the trainer validates every k."""
    import cv2
    import numpy as np

    from segattn.commands.train import lightning_cli

    root = tmp_path / "data"
    for sub in ("images", "masks", "splits"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    sizes = {f"t{i}": 32 for i in range(4)} | {"v0": 128, "v1": 128}  # 4 crops of 32² against 2 x 128²: 8x
    for key, side in sizes.items():
        cv2.imwrite(str(root / "images" / f"{key}.png"), rng.integers(0, 255, (side, side, 3), dtype=np.uint8))
        cv2.imwrite(str(root / "masks" / f"{key}.png"), (rng.random((side, side)) > 0.5).astype(np.uint8) * 255)
    (root / "splits" / "train.txt").write_text("t0\nt1\nt2\nt3\n")
    (root / "splits" / "val.txt").write_text("v0\nv1\n")
    net = {"encoder_name": "tu-resnet18", "encoder_depth": 3, "decoder_channels": [8, 8, 8]}
    args = ["fit", "--model.net", "segattn.models.AttentionUnet", "--data", "segattn.data.FolderData"]
    args += [f"--model.net.init_args.{k}={v}" for k, v in net.items()]
    args += ["--data.root", str(root), "--data.crop_size", "32", "--data.batch_size", "2", "--data.num_workers", "0"]
    args += ["--trainer.max_epochs", "5", "--trainer.num_sanity_val_steps", "0", "--trainer.logger", "false"]
    args += ["--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(tmp_path / "run")]
    args += ["--validation.max_fraction", "2"]  # 0.5 x 8 / 2: every 2nd epoch, and the last (index 4)
    epochs: list[int] = []

    class Seen(L.Callback):
        def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            epochs.append(trainer.current_epoch)

    cli = lightning_cli(args, trainer_defaults={"callbacks": [Seen()]})
    cadence_cb = next(c for c in cli.trainer.callbacks if isinstance(c, ValidationCadence))
    assert (cadence_cb.every, cadence_cb.last_epoch) == (2, 4)
    assert epochs == [1, 3, 4]
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_last_checkpoint_follows_the_epochs_the_cadence_skips(tmp_path: Path) -> None:
    """k = 3 over 7 epochs of 4 steps: last.ckpt holds each finished epoch, so a killed run loses one at most."""
    import torch

    from segattn.callbacks import LastCheckpoint
    from tests.callbacks.test_checkpoint import _LastSteps

    class _Logging(_Counting):
        def validation_step(self, batch, batch_idx):
            self.log("val/dice", float(self.current_epoch))
            return super().validation_step(batch, batch_idx)

    last = tmp_path / "ckpt" / "last.ckpt"
    seen = _LastSteps(last)
    model = _Logging()
    checkpoint = LastCheckpoint(dirpath=last.parent, monitor="val/dice", mode="max", save_last=True)
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        callbacks=[ValidationCadence(1.0), checkpoint, seen],
        num_sanity_val_steps=0,
        max_epochs=7,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(model, datamodule=_Data([1024] * 6))
    assert model.validated == [2, 5, 6]
    assert seen.steps == [4, 8, 12, 16, 20, 24] and torch.load(last, weights_only=False)["global_step"] == 28
