"""Sliding-window inference with Gaussian-weighted blending, finalised in row strips (pure torch).

An image of any size is covered by square tiles of side ``tile`` placed on an evenly spaced grid whose
first tile starts at 0 and whose last tile ends exactly at the border (nnU-Net's placement, so no tile
hangs over the edge unless the image is smaller than a tile). Every tile's class probabilities are
weighted by a Gaussian centred on the tile (sigma = ``sigma_scale * tile``; Isensee et al., nnU-Net,
arXiv:1809.10486), and each pixel gets ``sum_i w_i p_i / sum_i w_i`` over the tiles covering it, so
tile borders, where a CNN sees least context, count least and no seam appears.

Memory design: tiles arrive in raster order (one row of tiles after another), so once the tiles of
row ``r`` are in, rows ``[y_r, y_{r+1})`` can never be touched again. :class:`StripBlender` therefore
keeps only a band of ``tile`` rows by the image width — ``(C, tile, W)`` float32 numerators and a
``(tile, W)`` float32 denominator — and hands back each strip as soon as it is final; the band then
slides down. For an 8192-wide image, 512 tiles and a binary model that is 8192*512*4*2 B = 32 MiB
whatever the image height, against 512 MiB for one full-size float32 accumulator per channel. The
caller turns each strip into mask rows (argmax / threshold) and, only if asked, quantised
probabilities, so whole-image logits are never held.

:func:`sliding_window` runs the same grid and blending over one image already in memory: what validation and test
use for images too large for one forward pass (``SegmentationModule(eval_max_pixels=...)``), so a score computed
in tiles is computed the way ``segattn predict`` makes its masks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

# Gaussian weights are clamped from below so a pixel seen only by tile corners still has a
# non-zero denominator (exp(-x) underflows to 0 in float32 for small sigma).
_MIN_WEIGHT = 1e-6


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets of tiles along one axis: evenly spaced, first at 0, last ending at ``length``.

    The actual step is at most ``stride``; an axis no longer than a tile gets one tile at 0
    (the tile is then padded by the caller).
    """
    if length < 1 or tile < 1 or stride < 1:
        raise ValueError(f"length, tile and stride must be >= 1, got {length}, {tile}, {stride}")
    if length <= tile:
        return [0]
    n = math.ceil((length - tile) / stride) + 1
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def stride_for(tile: int, overlap: float) -> int:
    """Step between tiles for a fractional ``overlap`` in [0, 1)."""
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    return max(1, round(tile * (1.0 - overlap)))


def gaussian_weight(tile: int, sigma_scale: float, *, device: torch.device | None = None) -> Tensor:
    """(tile, tile) float32 Gaussian importance map, 1 at the centre, clamped to >= 1e-6."""
    if sigma_scale <= 0:
        raise ValueError(f"sigma must be > 0 (a fraction of the tile size), got {sigma_scale}")
    coords = torch.arange(tile, dtype=torch.float32, device=device) - (tile - 1) / 2
    g = torch.exp(-(coords**2) / (2 * (sigma_scale * tile) ** 2))  # (T,)
    w = g[:, None] * g[None, :]  # (T, T)
    return (w / w.max()).clamp_(min=_MIN_WEIGHT)


def extract_tile(image: Tensor, y: int, x: int, tile: int) -> Tensor:
    """``image[:, y:y+tile, x:x+tile]`` of a (C, H, W) tensor as (C, tile, tile).

    Only an image smaller than a tile needs padding; it is padded bottom/right by repeating its
    border pixels, as :class:`~segattn.models.AttentionUnet` pads its own input: a constant fill
    would draw an artificial edge (a black frame) that a wall or crack model segments. The padded
    pixels are never blended into the output.
    """
    patch = image[:, y : y + tile, x : x + tile]
    ph, pw = tile - patch.shape[1], tile - patch.shape[2]
    if ph or pw:
        patch = torch.nn.functional.pad(patch, (0, pw, 0, ph), mode="replicate")  # (C, tile, tile)
    return patch


class TileGrid(NamedTuple):
    """The tiles covering one ``height`` x ``width`` image, in raster order: the one grid every part uses.

    The tile stream cuts tiles at :attr:`positions`, the blender expects them in that order, and in-memory
    prediction walks the same list, so the three can never disagree. A NamedTuple of ints, so it crosses
    process and device boundaries (Lightning's batch transfer rebuilds it) unchanged.
    """

    height: int
    width: int
    tile: int
    stride: int

    @property
    def ys(self) -> list[int]:
        return tile_starts(self.height, self.tile, self.stride)

    @property
    def xs(self) -> list[int]:
        return tile_starts(self.width, self.tile, self.stride)

    @property
    def positions(self) -> list[tuple[int, int]]:
        """Tile (y, x) offsets, row by row."""
        xs = self.xs
        return [(y, x) for y in self.ys for x in xs]


class StripBlender:
    """Blends one image's tile predictions, fed in raster order, into final row strips.

    ``add(probs, y, x)`` takes one tile's (C, tile, tile) probabilities and returns the strips that
    became final, each ``(row_start, (C, rows, W) float32 probabilities)``; the strips of an image,
    concatenated in the order returned, cover rows 0..H-1 exactly once. The band lives on the device
    of the first tile (the model's), so blending runs where the predictions are.
    """

    def __init__(self, grid: TileGrid, weight: Tensor) -> None:
        tile = grid.tile
        if weight.shape != (tile, tile):
            raise ValueError(f"weight must be ({tile}, {tile}), got {tuple(weight.shape)}")
        self.height, self.width, self.tile = grid.height, grid.width, tile
        self.ys, self.xs = grid.ys, grid.xs
        self.weight = weight
        self.band_rows = min(tile, self.height)  # rows [y_r, y_r + band_rows) of the current tile row
        self._num: Tensor | None = None  # (C, band_rows, W) weighted sum of probabilities
        self._den: Tensor | None = None  # (band_rows, W) sum of weights
        self._row = 0  # index into self.ys of the tile row being filled
        self._col = 0  # next expected index into self.xs

    @property
    def done(self) -> bool:
        return self._row == len(self.ys)

    def add(self, probs: Tensor, y: int, x: int) -> list[tuple[int, Tensor]]:
        if self.done:
            raise RuntimeError("all tiles of this image were already added")
        expected = (self.ys[self._row], self.xs[self._col])
        if (y, x) != expected:
            raise ValueError(f"tiles must arrive in raster order: expected (y, x) = {expected}, got {(y, x)}")
        if self._num is None:
            self._num = probs.new_zeros((probs.shape[0], self.band_rows, self.width), dtype=torch.float32)
            self._den = probs.new_zeros((self.band_rows, self.width), dtype=torch.float32)
            self.weight = self.weight.to(probs.device)
        h, w = min(self.tile, self.height - y), min(self.tile, self.width - x)
        wt = self.weight[:h, :w]  # (h, w)
        self._num[:, :h, x : x + w] += probs[:, :h, :w].float() * wt  # band row 0 == image row y
        self._den[:h, x : x + w] += wt
        self._col += 1
        if self._col < len(self.xs):
            return []
        return [self._finish_row()]

    def _finish_row(self) -> tuple[int, Tensor]:
        assert self._num is not None and self._den is not None
        y0 = self.ys[self._row]
        self._row, self._col = self._row + 1, 0
        last = self._row == len(self.ys)
        rows = self.height - y0 if last else self.ys[self._row] - y0  # rows no later tile touches
        strip = self._num[:, :rows] / self._den[:rows]  # (C, rows, W)
        if last:
            self._num = self._den = None
        else:  # slide the band down by `rows`, zeroing the newly exposed bottom rows
            keep = self.band_rows - rows
            self._num[:, :keep] = self._num[:, rows:].clone()
            self._num[:, keep:] = 0
            self._den[:keep] = self._den[rows:].clone()
            self._den[keep:] = 0
        return y0, strip


def sliding_window(
    forward: Callable[[Tensor], Tensor],
    image: Tensor,
    *,
    tile: int,
    overlap: float = 0.25,
    sigma: float = 0.125,
    tiles_per_forward: int = 1,
) -> Tensor:
    """Blended probabilities (C, H, W) float32 of one image (in_channels, H, W), computed in tiles.

    ``forward`` maps a batch of tiles (N, in_channels, tile, tile) to their probabilities (N, C, tile, tile); at
    most ``tiles_per_forward`` tiles go through it at once, which bounds the activations' memory whatever the image
    size. Tiles and weights are :class:`TileGrid` and :func:`gaussian_weight`, blended by :class:`StripBlender`.
    """
    if image.ndim != 3:
        raise ValueError(f"expected one image (C, H, W), got shape {tuple(image.shape)}")
    if tiles_per_forward < 1:
        raise ValueError(f"tiles_per_forward must be >= 1, got {tiles_per_forward}")
    grid = TileGrid(image.shape[1], image.shape[2], tile, stride_for(tile, overlap))
    blender = StripBlender(grid, gaussian_weight(tile, sigma, device=image.device))
    positions = grid.positions
    strips = []
    for start in range(0, len(positions), tiles_per_forward):
        chunk = positions[start : start + tiles_per_forward]
        probs = forward(torch.stack([extract_tile(image, y, x, tile) for y, x in chunk]))  # (N, C, tile, tile)
        for p, (y, x) in zip(probs, chunk, strict=True):
            strips.extend(strip for _, strip in blender.add(p, y, x))
    return torch.cat(strips, dim=1)  # (C, H, W)
