"""Tiny networks for export tests: every registered attention, in two models of four decoder stages each."""

from __future__ import annotations

import torch
from torch import nn

from segattn.data.preprocess import EvalPreprocess
from segattn.models import AttentionUnet
from segattn.predict import PredictConfig, Segmenter

# Deepest stage first; with depth 4 and 96² tiles the stages see 12², 24², 48², 96². psa at 24² runs pooled on the
# tile and half in the grid on the parity check's second size (1 x 49 x 123 -> 16 x 32), self-attention at 48²
# attends over 2304 positions, gate needs a skip (not the last stage). The first model is binary (sigmoid), the
# second has three classes (softmax) and a preprocessing with every optional field set, for the metadata.
GROUPS = {
    "gate-psa-self_attention-cbam": ["gate", "psa", "self_attention", "cbam"],
    "scse-ge-se-eca": ["scse", "ge", "se", "eca"],
}
TILE = 96
BINARY = PredictConfig(
    num_classes=2,
    in_channels=3,
    tile=TILE,
    threshold=0.5,
    mask_encoding="binary",
    palette=None,
    preprocess=EvalPreprocess(3, (0.6, 0.5, 0.4), (0.2, 0.25, 0.3)),
    eval_transforms=None,
)
THREE_CLASSES = PredictConfig(
    num_classes=3,
    in_channels=3,
    tile=TILE,
    threshold=0.4,
    mask_encoding="rgb",
    palette=[[0, 0, 0], [255, 0, 0], [0, 255, 0]],
    preprocess=EvalPreprocess(3, (0.1, 0.2, 0.3), (0.4, 0.5, 0.6), 16),
    eval_transforms=[{"name": "CLAHE", "params": {"clip_limit": 2.0, "p": 1.0}}],
)
CONFIGS = {"gate-psa-self_attention-cbam": BINARY, "scse-ge-se-eca": THREE_CLASSES}


def randomised(net: nn.Module, seed: int = 0) -> nn.Module:
    """Eval mode with every zero-initialised residual scale set to 0.5 (else self-attention and PSA add nothing,
    and a broken export of them would pass) and BatchNorm statistics away from (0, 1)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(getattr(module, "gamma", None), nn.Parameter):
                module.gamma.fill_(0.5)
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2, generator=generator)
                module.running_var.uniform_(0.5, 1.5, generator=generator)
    return net.eval()


def tiny_segmenter(group: str, *, seed: int = 0) -> Segmenter:
    """The group's network (resnet18, depth 4, decoder 16-8-8-8) with its :data:`CONFIGS` entry."""
    config = CONFIGS[group]
    torch.manual_seed(seed)
    classes = 1 if config.num_classes == 2 else config.num_classes
    net = AttentionUnet(
        "resnet18", encoder_depth=4, decoder_channels=(16, 8, 8, 8), classes=classes, attention=GROUPS[group]
    )
    return Segmenter(randomised(net, seed), config)
