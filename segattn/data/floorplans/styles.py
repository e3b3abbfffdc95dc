"""Wall styles: how the walls of a synthetic plan are inked, and which styles a plan uses.

Walls are drawn twice over the same geometry: filled into a per-style *wall layer* (the mask is this layer
thresholded at 128, so it is exactly the drawn wall) and inked in one of the styles below, each taken from
real drawings (CVC-FP, see ``bench/README.md``). A style inks only inside its layer, and any outline it strokes
is added to the layer too, so the mask covers every pixel of wall ink, outline included (a test checks it for
every style).

- ``solid``: filled with ink, the commonest style of scanned house plans;
- ``grey``: a flat mid-grey band inside a heavy outline; in CAD drawings a light tint (a light hatch shrunk on a
  scan looks the same: CVC-FP's image0xx plans) inside a thin one;
- ``hatch``: diagonal hatch, dark and dense inside a heavy outline; in CAD drawings light and fine inside a thin
  one;
- ``outline``: the wall's contour in the heavy wall pen, nothing inside;
- ``hollow``: two thin parallel lines in the same pen as the furniture, empty or lightly hatched between (CAD
  drawings, where a wall differs from a wardrobe only by being a long pair of lines), sometimes with the inside
  face of exterior walls in the heavy pen (a lined wall).

A plan is either *inked* (a heavy pen for walls, a thin one for the rest: styles mixed at random) or *CAD* (one
thin pen for everything: walls hollow, light grey or lightly hatched with thin outlines). The light variants are
kept to CAD drawings: in inked plans they cost a model trained for minutes several points of Dice on its own
validation plans (``bench/README.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .draw import fill_rect, hatch_pattern, line
from .layout import Plan


@dataclass(frozen=True)
class Pens:
    """Line widths in pixels: ``wall`` outlines cut walls, ``thin`` everything else (doors, furniture). ``cad``:
    one thin pen for everything, and no dark fills either."""

    wall: int
    thin: int = 1
    cad: bool = False


def _outline(ink: np.ndarray, layer: np.ndarray, width: int, value: int = 255) -> None:
    """Stroke the wall's contour into ``ink`` and into ``layer``: the stroke straddles the contour, and the half
    of it outside the fill is drawn wall too (a wall's mask covers its outline, as a person would label it).

    Walls run on past the canvas edge (the layer is extended by replication), so a wall cut by the edge gets no
    line along it, as in a crop of a larger scan."""
    pad = width + 2
    solid = cv2.copyMakeBorder((layer >= 128).astype(np.uint8), pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    contours, _ = cv2.findContours(solid, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE, offset=(-pad, -pad))
    stroke = np.zeros_like(ink)
    cv2.drawContours(stroke, contours, -1, 255, width, cv2.LINE_AA)
    np.maximum(ink, (stroke.astype(np.float32) * (value / 255)).astype(np.uint8), out=ink)
    np.maximum(layer, stroke, out=layer)


def _hatch_inside(ink: np.ndarray, layer: np.ndarray, spacing: float, width: float, angle: float, value: int) -> None:
    """Diagonal lines of ink ``value`` where ``layer`` is wall."""
    lines = hatch_pattern(layer.shape, spacing, width, angle)
    np.maximum(ink, np.where(lines, (layer.astype(np.uint16) * value // 255).astype(np.uint8), 0), out=ink)


def _solid(ink: np.ndarray, layer: np.ndarray, rng: np.random.Generator, pens: Pens, plan: Plan) -> None:
    np.maximum(ink, layer, out=ink)


def _grey(ink: np.ndarray, layer: np.ndarray, rng: np.random.Generator, pens: Pens, plan: Plan) -> None:
    level = rng.uniform(0.06, 0.3) if pens.cad else rng.uniform(0.25, 0.6)  # CAD: a light tint
    np.maximum(ink, (layer * level).astype(np.uint8), out=ink)
    _outline(ink, layer, pens.wall)


def _hatch(ink: np.ndarray, layer: np.ndarray, rng: np.random.Generator, pens: Pens, plan: Plan) -> None:
    angle = rng.choice([45, 135])
    if pens.cad:  # fine, light hatch: a grey band once scanned
        _hatch_inside(ink, layer, rng.uniform(2.5, 5.0), rng.uniform(0.7, 1.2), angle, int(rng.integers(90, 200)))
    else:  # dark, dense hatch
        spacing = max(3.0, plan.ext_t * rng.uniform(0.35, 0.7))
        _hatch_inside(ink, layer, spacing, max(1.0, spacing * rng.uniform(0.2, 0.4)), angle, 255)
    _outline(ink, layer, pens.wall)


def _outlined(ink: np.ndarray, layer: np.ndarray, rng: np.random.Generator, pens: Pens, plan: Plan) -> None:
    _outline(ink, layer, pens.wall)


def _hollow(ink: np.ndarray, layer: np.ndarray, rng: np.random.Generator, pens: Pens, plan: Plan) -> None:
    if rng.random() < 0.4:  # a light, sparse hatch between the lines
        value = int(rng.integers(60, 160))
        _hatch_inside(ink, layer, rng.uniform(3.0, 8.0), rng.uniform(0.6, 1.0), rng.choice([45, 135]), value)
    if rng.random() < 0.3 and not pens.cad:  # the inner face in the heavy pen (a lining: CVC-FP group IIa)
        _inner_faces(ink, layer, plan, pens.wall)
    _outline(ink, layer, pens.thin)


def _inner_faces(ink: np.ndarray, layer: np.ndarray, plan: Plan, width: int) -> None:
    """A ``width`` line along the inside face of every hollow exterior wall, kept within the wall."""
    lines = np.zeros_like(ink)
    outline = plan.outline.astype(np.float32)
    for wall in plan.walls:
        if not wall.exterior or wall.style != "hollow":
            continue
        probe = wall.xy((wall.a + wall.b) / 2, wall.thickness)  # a wall's thickness off its + side
        side = 1 if cv2.pointPolygonTest(outline, probe, False) > 0 else -1
        face = side * (wall.thickness - width) / 2
        for start, end in wall.solid_spans():
            line(lines, wall.xy(start, face), wall.xy(end, face), 255, width)
    np.maximum(ink, np.minimum(lines, layer), out=ink)


WallStyle = Callable[[np.ndarray, np.ndarray, np.random.Generator, Pens, Plan], None]
STYLES: dict[str, WallStyle] = {
    "solid": _solid,
    "grey": _grey,
    "hatch": _hatch,
    "outline": _outlined,
    "hollow": _hollow,
}
WALL_STYLES = tuple(STYLES)
TWO_LINE_STYLES = ("outline", "hollow")  # a pair of lines with nothing between: windows in them need three lines
# how often each style is drawn on an inked plan, and the least wall thickness in pixels each needs to show
INKED_WEIGHTS = {"solid": 0.5, "grey": 0.18, "hatch": 0.16, "outline": 0.1, "hollow": 0.06}
CAD_WEIGHTS = {"hollow": 0.6, "grey": 0.2, "hatch": 0.2}
MIN_THICKNESS = {"solid": 0.0, "grey": 4.0, "hatch": 5.0, "outline": 5.0, "hollow": 6.0}


def assign_wall_styles(plan: Plan, rng: np.random.Generator, cad: bool) -> None:
    """Exterior and interior styles per plan; sometimes a few interior walls hatched (load-bearing). A style needs
    room inside the wall to be visible: thinner walls are drawn solid."""
    weights = CAD_WEIGHTS if cad else INKED_WEIGHTS
    names, probs = list(weights), list(weights.values())
    ext = str(rng.choice(names, p=probs))
    inner = ext if rng.random() < 0.5 else str(rng.choice(names, p=probs))
    ext = ext if plan.ext_t >= MIN_THICKNESS[ext] else "solid"
    inner = inner if plan.int_t >= MIN_THICKNESS[inner] else "solid"
    load_bearing = rng.random() < 0.25 and plan.int_t >= MIN_THICKNESS["hatch"]
    for wall in plan.walls:
        wall.style = ext if wall.exterior else ("hatch" if load_bearing and rng.random() < 0.4 else inner)


def draw_walls(
    plan: Plan, shape: tuple[int, int], rng: np.random.Generator, pens: Pens
) -> tuple[np.ndarray, np.ndarray]:
    """Render every wall; returns (ink (H, W) uint8, wall layer (H, W) uint8 whose >= 128 pixels are wall)."""
    # styles in order of first use, not a set: set order follows PYTHONHASHSEED, and the styles below draw from rng,
    # so a set made the same seed give different plans in different processes (DDP ranks, a resumed job)
    layers = {style: np.zeros(shape, np.uint8) for style in dict.fromkeys(w.style for w in plan.walls)}
    for wall in plan.walls:
        for start, end in wall.solid_spans():
            fill_rect(layers[wall.style], wall.rect(start, end))
    ink = np.zeros(shape, np.uint8)
    for style, layer in layers.items():
        STYLES[style](ink, layer, rng, pens, plan)
    wall_layer = np.maximum.reduce(list(layers.values())) if len(layers) > 1 else next(iter(layers.values()))
    return ink, wall_layer
