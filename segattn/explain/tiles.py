"""Run the network over an image's tiles with the capture on: prediction's tiling, maps blended like probabilities.

Pass 1 walks the same :class:`~segattn.models.tiling.TileGrid` as :class:`~segattn.predict.Segmenter` (tiles cut
by :func:`~segattn.predict.stream.fill_tile`, batched, in raster order). Each tile's spatial maps are resized to
the network input (bilinear: a gate is a smooth field over the image) and blended with the class probabilities in
one :class:`~segattn.models.tiling.StripBlender`, with the same Gaussian weights, so a map has no seam where
tiles meet. Channel weights are the mean over the image's tiles (one tile: exactly that tile's).

Pass 2 reads the point-wise attentions (self-attention rows, PSA maps) at the query points, which pass 1's
prediction chose. A point's maps come from one tile, the one that holds it with its centre nearest to the point
(most context around the point); the tile is run again, alone, with those points requested. Its maps cover that
tile only (``box``), each feature cell resized to its pixels (nearest: one weight per cell).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segattn.labels import probabilities
from segattn.models.tiling import StripBlender, TileGrid, gaussian_weight, stride_for
from segattn.predict.stream import Preprocessing, fill_tile

from .capture import Capture, find_sites
from .points import Point


@dataclass
class TilePass:
    """Pass 1's result for one image."""

    probs: np.ndarray  # (K, H, W) float32 class probabilities (K = 1 for binary models)
    spatial: dict[tuple[str, str], np.ndarray]  # (site key, label) -> (H, W) float32, blended over tiles
    channel: dict[tuple[str, str], np.ndarray]  # (site key, label) -> (C,) float32, mean over tiles
    gamma: dict[str, float]  # site key -> γ (self-attention, PSA)
    feature_size: dict[str, tuple[int, int]]  # site key -> (h, w) of its feature map for one tile
    grid: TileGrid


@dataclass
class PointMaps:
    """Pass 2's result for one point: its maps over the tile that holds it."""

    point: Point
    box: tuple[int, int, int, int]  # (y0, x0, y1, x1) of the tile's part inside the image
    maps: dict[tuple[str, str], np.ndarray]  # (site key, label) -> (y1 - y0, x1 - x0) float32


def tile_grid(height: int, width: int, tile: int, overlap: float) -> TileGrid:
    return TileGrid(height, width, tile, stride_for(tile, overlap))


@torch.no_grad()
def run_tiles(
    net: nn.Module,
    prep: Preprocessing,
    array: np.ndarray,
    *,
    tile: int,
    overlap: float = 0.25,
    sigma: float = 0.125,
    batch_size: int = 4,
) -> TilePass:
    """Pass 1 over ``array`` ((H, W, C) as ``prep.read`` returns it): probabilities, spatial and channel maps."""
    grid = tile_grid(array.shape[0], array.shape[1], tile, overlap)
    blender = StripBlender(grid, gaussian_weight(tile, sigma))
    device = next(net.parameters()).device
    strips: list[Tensor] = []
    channel_sum: dict[tuple[str, str], Tensor] = {}
    gamma: dict[str, float] = {}
    feature_size: dict[str, tuple[int, int]] = {}
    order: list[tuple[str, str]] | None = None  # the spatial maps' order among the blended channels
    num_classes = 0
    for chunk in _chunks(grid.positions, batch_size):
        batch = _batch(prep, array, chunk, tile, net)
        with Capture(net) as cap:
            logits = net(batch.to(device))  # (n, K, T, T)
            found, padded = cap.take(), cap.input_size
        probs = probabilities(logits).float()  # (n, K, T, T)
        num_classes = probs.shape[1]
        spatial = {
            (key, label): _to_input(value.float(), padded, tile, "bilinear")  # (n, T, T)
            for key, maps in found.items()
            for label, value in maps.spatial.items()
        }
        order = list(spatial) if order is None else order
        stacked = torch.cat([probs, *(spatial[k][:, None] for k in order)], dim=1)  # (n, K + S, T, T)
        for key, maps in found.items():
            feature_size[key] = maps.size
            if maps.gamma is not None:
                gamma[key] = maps.gamma
            for label, weights in maps.channel.items():
                channel_sum[(key, label)] = channel_sum.get((key, label), 0) + weights.float().sum(0).cpu()  # (C,)
        for t, (y, x) in zip(stacked, chunk, strict=True):
            strips.extend(s.cpu() for _, s in blender.add(t, y, x))
    blended = torch.cat(strips, dim=1).numpy()  # (K + S, H, W)
    n_tiles = len(grid.positions)
    return TilePass(
        probs=blended[:num_classes],
        spatial={k: blended[num_classes + i] for i, k in enumerate(order or [])},
        channel={k: (v / n_tiles).numpy() for k, v in channel_sum.items()},
        gamma=gamma,
        feature_size=feature_size,
        grid=grid,
    )


def _to_input(value: Tensor, padded: tuple[int, int], tile: int, mode: str) -> Tensor:
    """(n, h, w) maps over the padded input -> (n, T, T): resized to the padded size, cropped to the tile."""
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    resized = F.interpolate(value[:, None], size=padded, mode=mode, **kwargs)  # (n, 1, H_padded, W_padded)
    return resized[:, 0, :tile, :tile]


@torch.no_grad()
def run_points(
    net: nn.Module, prep: Preprocessing, array: np.ndarray, points: list[Point], grid: TileGrid
) -> list[PointMaps]:
    """Pass 2: for each point, its self-attention / PSA maps over the tile that holds it (``PointMaps``)."""
    if not points or not any(s.name in ("self_attention", "psa") for s in find_sites(net)):
        return []
    device = next(net.parameters()).device
    by_tile: dict[tuple[int, int], list[Point]] = {}
    for p in points:
        by_tile.setdefault(holding_tile(grid, p.y, p.x), []).append(p)
    out: dict[Point, PointMaps] = {}
    t = grid.tile
    for (ty, tx), group in by_tile.items():
        batch = _batch(prep, array, [(ty, tx)], t, net)
        with Capture(net, points=[(p.y - ty, p.x - tx) for p in group]) as cap:
            net(batch.to(device))
            found, padded = cap.take(), cap.input_size
        h, w = min(t, grid.height - ty), min(t, grid.width - tx)
        for i, p in enumerate(group):
            maps = {}
            for key, site_maps in found.items():
                for label, value in site_maps.points.items():  # (1, P, h', w')
                    cell_map = _to_input(value[0, i : i + 1].float(), padded, t, "nearest")  # (1, T, T)
                    maps[(key, label)] = cell_map[0, :h, :w].cpu().numpy()
            out[p] = PointMaps(p, (ty, tx, ty + h, tx + w), maps)
    return [out[p] for p in points]


def holding_tile(grid: TileGrid, y: int, x: int) -> tuple[int, int]:
    """The tile (y0, x0) that holds pixel (y, x) with its centre nearest to it (ties: the first in raster order)."""
    half = (grid.tile - 1) / 2
    holding = [(ty, tx) for ty, tx in grid.positions if ty <= y < ty + grid.tile and tx <= x < tx + grid.tile]
    return min(holding, key=lambda p: (p[0] + half - y) ** 2 + (p[1] + half - x) ** 2)


def _batch(prep: Preprocessing, array: np.ndarray, chunk: list[tuple[int, int]], tile: int, net: nn.Module) -> Tensor:
    memory = torch.channels_last if getattr(net, "channels_last", False) else torch.contiguous_format
    batch = torch.empty((len(chunk), prep.in_channels, tile, tile), memory_format=memory)
    for slot, (y, x) in zip(batch, chunk, strict=True):
        fill_tile(prep, array, y, x, slot)
    return batch


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
