"""The tile grid and the blender: placement, seam-free blending, strip finalisation against a full-size reference."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from segattn.models.tiling import StripBlender, TileGrid, extract_tile, gaussian_weight, stride_for, tile_starts
from segattn.models.tiling import sliding_window as tiled  # the library's; sliding_window below drives it by hand

# (H, W): smaller than a tile, 1-pixel strips, not multiples of 32, exactly a tile, several tiles
SIZES = [(1, 300), (300, 1), (1, 1), (37, 45), (64, 64), (65, 64), (100, 513), (131, 97)]


def sliding_window(
    image: Tensor, predict, *, tile: int, overlap: float = 0.25, sigma_scale: float = 0.125, batch_size: int = 4
) -> Tensor:
    """(C_out, H, W) blended output for one (C, H, W) image: the grid and blender, driven by hand."""
    grid = TileGrid(image.shape[1], image.shape[2], tile, stride_for(tile, overlap))
    blender = StripBlender(grid, gaussian_weight(tile, sigma_scale))
    positions, strips = grid.positions, []
    for i in range(0, len(positions), batch_size):
        chunk = positions[i : i + batch_size]
        out = predict(torch.stack([extract_tile(image, y, x, tile) for y, x in chunk]))  # (B, C_out, T, T)
        for probs, (y, x) in zip(out, chunk, strict=True):
            strips.extend(s for _, s in blender.add(probs, y, x))
    return torch.cat(strips, dim=1)


@pytest.mark.parametrize("length", [1, 5, 63, 64, 65, 100, 300, 1000])
@pytest.mark.parametrize("stride", [16, 48, 64])
def test_tile_starts_cover_the_axis_evenly(length: int, stride: int) -> None:
    tile = 64
    starts = tile_starts(length, tile, stride)
    assert starts[0] == 0
    if length <= tile:
        assert starts == [0]
        return
    assert starts[-1] == length - tile  # the last tile ends at the border, never past it
    steps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(0 < s <= stride for s in steps)
    assert max(steps) - min(steps) <= 1  # evenly spaced


def test_gaussian_weight_is_centred_symmetric_and_positive() -> None:
    w = gaussian_weight(33, 0.125)
    assert w.shape == (33, 33) and w.dtype == torch.float32
    assert w[16, 16] == 1.0 and w.argmax() == 16 * 33 + 16
    torch.testing.assert_close(w, w.T)
    torch.testing.assert_close(w, w.flip(0))
    assert w.min() > 0  # a corner-only pixel still has a denominator
    assert gaussian_weight(64, 0.01).min() > 0  # even when exp() underflows


def test_extract_tile_pads_small_images_by_replicating_the_border() -> None:
    image = torch.arange(6.0).reshape(1, 2, 3)  # (C, H, W)
    tile = extract_tile(image, 0, 0, 4)
    assert tile.shape == (1, 4, 4)
    torch.testing.assert_close(tile[:, :2, :3], image)
    torch.testing.assert_close(tile[0, 3], torch.tensor([3.0, 4.0, 5.0, 5.0]))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5])
def test_constant_model_gives_a_constant_output(size: tuple[int, int], overlap: float) -> None:
    image = torch.rand(3, *size)
    out = sliding_window(image, lambda x: torch.full_like(x[:, :2], 0.3), tile=32, overlap=overlap, batch_size=3)
    assert out.shape == (2, *size)
    torch.testing.assert_close(out, torch.full_like(out, 0.3), rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", SIZES)
def test_per_pixel_identity_model_reproduces_its_input(size: tuple[int, int]) -> None:
    image = torch.rand(3, *size)
    out = sliding_window(image, lambda x: x, tile=32, overlap=0.5, sigma_scale=0.125, batch_size=5)
    torch.testing.assert_close(out, image, rtol=0, atol=1e-6)


def _reference_blend(image: Tensor, predict: nn.Module, tile: int, stride: int, sigma: float) -> Tensor:
    """Naive blending with full-image accumulators (what StripBlender must equal)."""
    _, h, w = image.shape
    weight = gaussian_weight(tile, sigma)
    num, den = None, torch.zeros(h, w)
    for y in tile_starts(h, tile, stride):
        for x in tile_starts(w, tile, stride):
            out = predict(extract_tile(image, y, x, tile)[None])[0]  # (C, T, T)
            num = torch.zeros(out.shape[0], h, w) if num is None else num
            th, tw = min(tile, h - y), min(tile, w - x)
            num[:, y : y + th, x : x + tw] += out[:, :th, :tw] * weight[:th, :tw]
            den[y : y + th, x : x + tw] += weight[:th, :tw]
    return num / den


@pytest.mark.parametrize("size", [(37, 45), (70, 150), (131, 97), (200, 33)])
@pytest.mark.parametrize("overlap", [0.25, 0.5])
def test_strip_blending_equals_full_image_blending(size: tuple[int, int], overlap: float) -> None:
    torch.manual_seed(0)
    # a zero-padded conv sees the tile border, so tiles disagree where they overlap: blending matters
    net = nn.Sequential(nn.Conv2d(3, 4, 5, padding=2), nn.Softmax(dim=1)).eval()
    image = torch.rand(3, *size)
    with torch.no_grad():
        got = sliding_window(image, net, tile=32, overlap=overlap, batch_size=4)
        want = _reference_blend(image, net, 32, stride_for(32, overlap), 0.125)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_blender_holds_one_band_and_returns_each_row_once() -> None:
    h, w, tile = 150, 70, 32
    grid = TileGrid(h, w, tile, 20)
    blender = StripBlender(grid, gaussian_weight(tile, 0.125))
    rows = []
    for y, x in grid.positions:
        for y0, strip in blender.add(torch.rand(2, tile, tile), y, x):
            assert blender._num is None or blender._num.shape == (2, tile, w)  # never image-sized
            rows.extend(range(y0, y0 + strip.shape[1]))
    assert blender.done and rows == list(range(h))


def test_blender_rejects_tiles_out_of_raster_order() -> None:
    blender = StripBlender(TileGrid(100, 100, 32, 32), gaussian_weight(32, 0.125))
    with pytest.raises(ValueError, match="raster order"):
        blender.add(torch.rand(1, 32, 32), 32, 0)


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_overlap_outside_range_is_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="overlap"):
        stride_for(64, bad)


def test_sliding_window_of_a_pixelwise_function_is_that_function() -> None:
    # the weights are normalised per pixel, so blending overlapping copies of the same value gives it back exactly
    image = torch.rand(3, 70, 90)
    out = tiled(lambda t: t[:, :2].sigmoid(), image, tile=32, tiles_per_forward=3)
    torch.testing.assert_close(out, image[:2].sigmoid())


def test_sliding_window_bounds_each_forward_and_does_not_depend_on_it() -> None:
    image = torch.rand(1, 100, 75)
    grid = TileGrid(100, 75, 32, stride_for(32, 0.25))
    sizes: list[int] = []

    def conv(tiles: Tensor) -> Tensor:  # not pixelwise: a tile's border pixels see its padding
        sizes.append(tiles.shape[0])
        return torch.nn.functional.avg_pool2d(tiles, 5, stride=1, padding=2)

    few = tiled(conv, image, tile=32, tiles_per_forward=2)
    assert max(sizes) == 2 and sum(sizes) == len(grid.positions)
    many = tiled(conv, image, tile=32, tiles_per_forward=len(grid.positions))
    torch.testing.assert_close(few, many)
    assert few.shape == (1, 100, 75)


def test_sliding_window_on_an_image_smaller_than_a_tile_is_cropped_back() -> None:
    image = torch.rand(2, 20, 40)
    out = tiled(lambda t: t, image, tile=64)
    torch.testing.assert_close(out, image)
    with pytest.raises(ValueError, match="one image"):
        tiled(lambda t: t, image[None], tile=64)
