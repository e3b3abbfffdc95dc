"""Tiny attention UNets and a Segmenter around them, made in the test (never downloaded)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from segattn.data.preprocess import EvalPreprocess
from segattn.models import AttentionUnet
from segattn.predict import PredictConfig, Segmenter


def tiny_net(attention: object, *, seed: int = 0, gamma: float | None = 0.7) -> AttentionUnet:
    """``AttentionUnet("resnet18", encoder_depth=3, decoder_channels=(16, 8, 8))`` in eval mode. Residual scales
    (self-attention, PSA γ) start at 0, which would make their maps invisible in the output: set to ``gamma``."""
    torch.manual_seed(seed)
    net = AttentionUnet("resnet18", encoder_depth=3, decoder_channels=(16, 8, 8), attention=attention).eval()
    if gamma is not None:
        for name, p in net.named_parameters():
            if name.endswith("gamma"):
                p.data.fill_(gamma)
    return net


def segmenter(net: nn.Module, tile: int = 64) -> Segmenter:
    prep = EvalPreprocess(3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    config = PredictConfig(
        num_classes=2,
        in_channels=3,
        tile=tile,
        threshold=0.5,
        mask_encoding="binary",
        palette=None,
        preprocess=prep,
        eval_transforms=None,
    )
    return Segmenter(net, config)


def plan_image(height: int = 64, width: int = 64, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: dark walls on light paper, with noise."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), 210, np.uint8) + rng.integers(0, 25, (height, width, 3), dtype=np.uint8)
    img[height // 3 : height // 3 + 4] = 30
    img[:, width // 2 : width // 2 + 4] = 30
    return img
