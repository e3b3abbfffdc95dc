"""On a model trained for a few steps on floor plans, the spatial gates are real maps: finite wall ÷ background
ratios, not constant. (How much they favour walls after real training is measured in bench/explain_walls.py.)"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from segattn.data.floorplans import generate_floorplan
from segattn.explain import explain

from .helpers import segmenter, tiny_net


def _plans(seeds: range, size: int = 64) -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray], list[np.ndarray]]:
    images, masks = zip(*(generate_floorplan(s, size) for s in seeds), strict=True)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255  # (B, 3, H, W)
    y = torch.from_numpy(np.stack(masks)).float()[:, None]  # (B, 1, H, W)
    return (x - 0.5) / 0.25, y, list(images), list(masks)


def test_spatial_maps_of_a_quickly_trained_model_are_finite_and_not_constant() -> None:
    net = tiny_net(["scse", "cbam", "cbam"], gamma=None).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(20):
        x, y, _, _ = _plans(range(4 * step, 4 * step + 4))
        loss = F.binary_cross_entropy_with_logits(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    seg = segmenter(net)
    _, _, images, masks = _plans(range(1000, 1004))
    for image, mask in zip(images, masks, strict=True):
        wall = mask > 0
        for maps in explain(seg, image, auto_points=0).attention:
            for label, values in maps.spatial.items():
                ratio = values[wall].mean() / values[~wall].mean()
                assert np.isfinite(ratio) and ratio > 0, (maps.key, label)
                assert values.std() > 1e-4, (maps.key, label)  # a map, not a constant
