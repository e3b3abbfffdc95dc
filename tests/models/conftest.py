"""Model tests run with the network cut (building a model must never download) and on one CPU thread."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import huggingface_hub.constants
import pytest
import torch


class NetworkAccessError(RuntimeError):
    pass


def _refuse(*args: object, **kwargs: object) -> None:
    raise NetworkAccessError(f"a model test tried to open a network connection: {args!r}")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # The tensors here are tiny; on the shared 2-core machine, OpenMP threads waiting on each other made these
    # tests 10-50x slower (measured: resnet18 UNet backward at 64x64, 0.25 s on one thread vs 1-12 s on two).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
