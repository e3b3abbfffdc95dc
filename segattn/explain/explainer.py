"""``explain(segmenter, image)``: every decoder attention's maps for one image, as an :class:`Explanation`.

    from segattn.predict import Segmenter
    from segattn.explain import explain

    seg = Segmenter.from_checkpoint("runs/walls/best.ckpt")
    ex = explain(seg, "plan.png", points=[(120, 40)])      # (x, y) in image pixels, besides the default points
    ex.attention[0].spatial["spatial gate"]               # (H, W) float32, blended over tiles like probabilities
    ex.attention[0].points["attention"][2]                # the self-attention of ex.points[2] over its tile

The image goes through prediction's own path (the checkpoint's preprocessing, the tile grid, Gaussian blending;
:mod:`.tiles`), so the maps belong to the prediction shown beside them. No test-time augmentation: a map is what
the attention computed on the image as it is. The network is left exactly as it was: the hooks exist only during
the two passes, and every module's train / eval mode is restored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from segattn.models.tiling import TileGrid
from segattn.predict import Segmenter
from segattn.predict.stream import Preprocessing

from .capture import Site, find_sites
from .points import Point, choose_points, user_points
from .tiles import holding_tile, run_points, run_tiles


class NoAttentionError(ValueError):
    """The network has no attention in its decoder: nothing to explain."""


@dataclass
class AttentionMaps:
    """One decoder attention's maps for one image. ``points[label][i]`` belongs to ``Explanation.points[i]`` and
    covers ``Explanation.boxes[i]``."""

    stage: int  # decoder block, deepest first
    slot: str  # "pre", "post" or "skip"
    name: str  # attention name in the registry
    feature_size: tuple[int, int]  # (h, w) of the feature map it works on, for one tile
    spatial: dict[str, np.ndarray] = field(default_factory=dict)  # label -> (H, W) float32
    channel: dict[str, np.ndarray] = field(default_factory=dict)  # label -> (C,) float32
    points: dict[str, list[np.ndarray]] = field(default_factory=dict)  # label -> [(h_box, w_box) float32 per point]
    gamma: float | None = None

    @property
    def key(self) -> str:
        return f"stage{self.stage}_{self.slot}"


@dataclass
class Explanation:
    """The maps of every decoder attention for one image, with the prediction they came with."""

    name: str
    display: np.ndarray  # (H, W, 3) uint8: the image as tiled (after the checkpoint's eval transforms), for drawing
    probs: np.ndarray  # (K, H, W) float32 (K = 1 for binary models)
    pred: np.ndarray  # (H, W) uint8 class indices
    points: list[Point]
    boxes: list[tuple[int, int, int, int]]  # per point: (y0, x0, y1, x1), the tile its maps come from
    attention: list[AttentionMaps]
    tile: int
    tiles: int  # tiles in the image's grid


def check_attention(net: nn.Module) -> list[Site]:
    """The decoder's attention modules; :class:`NoAttentionError` (a one-line message) when there are none."""
    sites = find_sites(net)
    if not sites:
        raise NoAttentionError(
            "the model has no attention in its decoder (attention: null), so there is nothing to show; explain a "
            "model trained with attention, e.g. --model.net.init_args.attention cbam"
        )
    return sites


def explain(
    segmenter: Segmenter,
    image: np.ndarray | str | Path,
    *,
    points: Sequence[tuple[int, int]] = (),
    auto_points: int = 2,
    tile: int | None = None,
    overlap: float = 0.25,
    sigma: float = 0.125,
    batch_size: int = 4,
    name: str | None = None,
) -> Explanation:
    """Every decoder attention's maps for ``image`` (a path, or an array as :meth:`Segmenter.predict` takes).

    ``points``: (x, y) query points in image pixels for self-attention and PSA, after ``auto_points`` points of
    each kind chosen from the prediction (:func:`~segattn.explain.points.choose_points`; 0 for none).
    """
    prep = segmenter.config
    if isinstance(image, (str, Path)):
        array, name = prep.read(Path(image)), name or Path(image).name
    else:
        array = prep.prepare(np.asarray(image))
    return explain_array(
        segmenter.net,
        prep,
        array,
        name=name or "image",
        points=points,
        auto_points=auto_points,
        tile=tile or prep.tile,
        overlap=overlap,
        sigma=sigma,
        batch_size=batch_size,
        threshold=prep.threshold,
    )


def explain_array(
    net: nn.Module,
    prep: Preprocessing,
    array: np.ndarray,
    *,
    name: str,
    tile: int,
    points: Sequence[tuple[int, int]] = (),
    auto_points: int = 2,
    overlap: float = 0.25,
    sigma: float = 0.125,
    batch_size: int = 4,
    threshold: float = 0.5,
    display: np.ndarray | None = None,
) -> Explanation:
    """:func:`explain` for an array already read (``(H, W, C)``, what ``prep.read`` returns) and any preprocessing;
    ``display``: the (H, W, 3) uint8 picture to draw the maps on (default: ``array`` as an image in [0, 1])."""
    sites = check_attention(net)
    height, width = array.shape[:2]
    asked = user_points(list(points), height, width, name)
    modes = {m: m.training for m in net.modules()}
    net.eval()
    try:
        first = run_tiles(net, prep, array, tile=tile, overlap=overlap, sigma=sigma, batch_size=batch_size)
        chosen = [*choose_points(first.probs, auto_points, threshold=threshold), *asked]
        at_points = run_points(net, prep, array, chosen, first.grid)
    finally:
        for module, training in modes.items():  # each module's own flag, as it was (not net.train(), which sets all)
            module.training = training
    attention = []
    for site in sites:
        key = site.key
        maps = AttentionMaps(site.stage, site.slot, site.name, first.feature_size.get(key, (0, 0)))
        maps.spatial = {label: v for (k, label), v in first.spatial.items() if k == key}
        maps.channel = {label: v for (k, label), v in first.channel.items() if k == key}
        maps.gamma = first.gamma.get(key)
        for pm in at_points:
            for (k, label), v in pm.maps.items():
                if k == key:
                    maps.points.setdefault(label, []).append(v)
        attention.append(maps)
    return Explanation(
        name=name,
        display=display_rgb(array) if display is None else display,
        probs=first.probs,
        pred=_classes(first.probs, threshold),
        points=chosen,
        boxes=[pm.box for pm in at_points] if at_points else [_box(first.grid, p) for p in chosen],
        attention=attention,
        tile=tile,
        tiles=len(first.grid.positions),
    )


def _classes(probs: np.ndarray, threshold: float) -> np.ndarray:
    if probs.shape[0] == 1:
        return (probs[0] > threshold).astype(np.uint8)
    return probs.argmax(0).astype(np.uint8 if probs.shape[0] <= 256 else np.uint16)


def _box(grid: TileGrid, point: Point) -> tuple[int, int, int, int]:
    ty, tx = holding_tile(grid, point.y, point.x)
    return (ty, tx, min(ty + grid.tile, grid.height), min(tx + grid.tile, grid.width))


def display_rgb(array: np.ndarray) -> np.ndarray:
    """An (H, W, C) image in [0, 1] as (H, W, 3) uint8: gray repeated, channels past the third (alpha) dropped."""
    rgb = array[:, :, :3] if array.shape[2] >= 3 else np.repeat(array[:, :, :1], 3, axis=2)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


class Prepared:
    """Preprocessing for an input that is already the network's (normalised) input: ``(C, H, W)`` -> tiles as is.

    For callers holding network inputs rather than image files (the test report's batches); ``display`` gives the
    (H, W, 3) picture shown under the maps.
    """

    def __init__(self, in_channels: int) -> None:
        self.in_channels = in_channels

    def to_input(self, array: np.ndarray) -> Tensor:  # (h, w, C) -> (C, h, w)
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
