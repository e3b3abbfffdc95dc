"""Small models and images for prediction tests (made in tmp_path, never downloaded)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from segattn.data.io import read_image


def write_image(path: Path, height: int, width: int, *, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A random 8-bit image written with OpenCV; returns what read_image gives back, (H, W, 3) in [0, 1]."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (height, width) if channels == 1 else (height, width, channels)
    if not cv2.imwrite(str(path), rng.integers(0, 256, shape, dtype=np.uint8)):
        raise OSError(f"could not write {path}")
    return read_image(path, 3)


class PlainRGB:
    """Preprocessing for plain-module tests: read_image as RGB, no normalisation."""

    in_channels = 3

    def read(self, path: Path) -> np.ndarray:
        return read_image(path, 3)

    def to_input(self, array: np.ndarray) -> Tensor:  # (h, w, C) -> (C, h, w)
        return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class FirstChannelLogit(nn.Module):
    """Per-pixel identity in probability space: sigmoid(output) == the first input channel."""

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, 1, H, W)
        return torch.logit(x[:, :1].clamp(1e-6, 1 - 1e-6))


class ConstantLogits(nn.Module):
    """The same logits at every pixel of every image."""

    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.register_buffer("logits", torch.tensor(logits).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, K, H, W)
        return self.logits.expand(x.shape[0], -1, *x.shape[-2:]).clone()


class FailAfter(nn.Module):
    """Wraps a model and raises after ``calls`` forward passes: a simulated crash or interruption.

    (Not KeyboardInterrupt: Lightning turns that into sys.exit(1) and ignores SIGINT afterwards.)
    """

    def __init__(self, net: nn.Module, calls: int) -> None:
        super().__init__()
        self.net, self.calls = net, calls

    def forward(self, x: Tensor) -> Tensor:
        if self.calls == 0:
            raise RuntimeError("simulated interruption")
        self.calls -= 1
        return self.net(x)
