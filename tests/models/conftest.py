"""Every model test runs with the network cut: building any model must never download anything."""

from __future__ import annotations

import socket

import huggingface_hub.constants
import pytest


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
