"""Every test runs with the network cut (nothing in segattn may download) and on one CPU thread."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import lightning as L
import pytest
import torch


class NetworkAccessError(RuntimeError):
    pass


_LOOPBACK = ("127.", "localhost", "::1")
_real_connect = socket.socket.connect
_real_create_connection = socket.create_connection


def _is_loopback(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    return isinstance(host, str) and host.startswith(_LOOPBACK)


def _connect(self: socket.socket, address: object) -> None:
    # Loopback stays open: multi-process tests (gloo, TCPStore) talk to themselves on this machine.
    if not _is_loopback(address):
        raise NetworkAccessError(f"a test tried to open a network connection to {address!r}")
    return _real_connect(self, address)


def _create_connection(address: object, *args: object, **kwargs: object) -> socket.socket:
    if not _is_loopback(address):
        raise NetworkAccessError(f"a test tried to open a network connection to {address!r}")
    return _real_create_connection(address, *args, **kwargs)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(socket.socket, "connect", _connect)
    monkeypatch.setattr(socket, "create_connection", _create_connection)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # Test tensors are tiny; on the shared 2-core machine, OpenMP threads waiting on each other made these
    # tests 10-50x slower (measured: resnet18 UNet backward at 64x64, 0.25 s on one thread vs 1-12 s on two).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TILE = 32  # the tiny checkpoint's training crop, hence its default tile


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resnet18 (depth 3) AttentionUnet checkpoint, binary, crop 32, written by Trainer.save_checkpoint."""
    L.seed_everything(0, verbose=False)
    from segattn.data import FloorplanData
    from segattn.models import AttentionUnet
    from segattn.module import SegmentationModule

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
