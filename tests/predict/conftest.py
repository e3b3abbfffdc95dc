"""A tiny real checkpoint, trained for one step by Lightning, shared by the prediction tests."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest

from segattn.data import FloorplanData
from segattn.models import AttentionUnet
from segattn.module import SegmentationModule

TILE = 32  # the checkpoint's training crop, hence the default tile


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resnet18 (depth 3) AttentionUnet checkpoint, binary, crop 32, written by Trainer.save_checkpoint."""
    L.seed_everything(0, verbose=False)
    dm = FloorplanData(
        image_size=64,
        crop_size=TILE,
        train_samples=2,
        val_samples=2,
        test_samples=2,
        batch_size=2,
        mean=(0.6, 0.5, 0.4),
        std=(0.2, 0.25, 0.3),
    )
    net = AttentionUnet("resnet18", encoder_depth=3, decoder_channels=(16, 8, 4), classes=1, attention="scse")
    module = SegmentationModule(net, num_classes=2)
    trainer = L.Trainer(
        max_steps=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(module, datamodule=dm)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    trainer.save_checkpoint(path)
    return path
