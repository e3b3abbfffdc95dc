"""Drawing primitives and the wall / door / window layer of a synthetic floor plan.

All drawing goes onto single-channel uint8 layers (255 = full ink) with anti-aliasing at 1/16-pixel
precision (OpenCV's ``shift``). Walls are drawn twice over the same geometry: filled into a per-style
*wall layer* (the mask is this layer thresholded at 128, so it is exactly the drawn wall) and rendered into
the ink in one of four styles: solid, grey fill with an outline, hatched with an outline, or outline only.
Doors (leaf + swing arc) and windows (thin parallel lines across the gap) are ink only, never wall.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .layout import Opening, Plan, Wall

SHIFT = 4  # OpenCV fixed-point bits: coordinates are multiplied by 16
WALL_STYLES = ("solid", "grey", "hatch", "outline")

Point = tuple[float, float]
Rect = tuple[float, float, float, float]


def fp(x: float, y: float) -> tuple[int, int]:
    """A float point as OpenCV fixed point."""
    return round(x * (1 << SHIFT)), round(y * (1 << SHIFT))


def line(img: np.ndarray, p0: Point, p1: Point, value: int = 255, thickness: int = 1) -> None:
    cv2.line(img, fp(*p0), fp(*p1), value, max(1, thickness), cv2.LINE_AA, SHIFT)


def fill_rect(img: np.ndarray, rect: Rect, value: int = 255) -> None:
    x0, y0, x1, y1 = rect
    pts = np.array([fp(x0, y0), fp(x1, y0), fp(x1, y1), fp(x0, y1)], dtype=np.int32)
    cv2.fillPoly(img, [pts], value, cv2.LINE_AA, SHIFT)


def rect_outline(img: np.ndarray, rect: Rect, value: int = 255, thickness: int = 1) -> None:
    x0, y0, x1, y1 = rect
    pts = np.array([fp(x0, y0), fp(x1, y0), fp(x1, y1), fp(x0, y1)], dtype=np.int32)
    cv2.polylines(img, [pts], True, value, max(1, thickness), cv2.LINE_AA, SHIFT)


def circle(img: np.ndarray, centre: Point, radius: float, value: int = 255, thickness: int = 1) -> None:
    cv2.circle(img, fp(*centre), round(radius * (1 << SHIFT)), value, thickness, cv2.LINE_AA, SHIFT)


def ellipse(img: np.ndarray, centre: Point, axes: Point, start: float, end: float, value=255, thickness=1) -> None:
    ax = (round(axes[0] * (1 << SHIFT)), round(axes[1] * (1 << SHIFT)))
    cv2.ellipse(img, fp(*centre), ax, 0.0, start, end, value, thickness, cv2.LINE_AA, SHIFT)


def hatch_pattern(shape: tuple[int, int], spacing: float, width: float, angle: float) -> np.ndarray:
    """Boolean (H, W) parallel lines ``spacing`` px apart, ``width`` px wide, at ``angle`` degrees."""
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    t = math.radians(angle)
    d = xx * math.sin(t) - yy * math.cos(t)  # (H, W) signed distance across the lines
    return np.mod(d, spacing) < width


def _outline(ink: np.ndarray, layer: np.ndarray, lw: int) -> None:
    """Stroke the wall's contour into ``ink`` and into ``layer``: the stroke straddles the contour, and the half
    of it outside the fill is drawn wall too (a wall's mask covers its outline, as a person would label it)."""
    contours, _ = cv2.findContours((layer >= 128).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    stroke = np.zeros_like(ink)
    cv2.drawContours(stroke, contours, -1, 255, lw, cv2.LINE_AA)
    np.maximum(ink, stroke, out=ink)
    np.maximum(layer, stroke, out=layer)


def draw_walls(plan: Plan, shape: tuple[int, int], rng: np.random.Generator, lw: int) -> tuple[np.ndarray, np.ndarray]:
    """Render every wall; returns (ink (H, W) uint8, wall layer (H, W) uint8 whose >= 128 pixels are wall)."""
    # styles in order of first use, not a set: set order follows PYTHONHASHSEED, and the styles below draw from rng,
    # so a set made the same seed give different plans in different processes (DDP ranks, a resumed job)
    layers = {style: np.zeros(shape, np.uint8) for style in dict.fromkeys(w.style for w in plan.walls)}
    for wall in plan.walls:
        for start, end in wall.solid_spans():
            fill_rect(layers[wall.style], wall.rect(start, end))
    ink = np.zeros(shape, np.uint8)
    lw = lw + 1  # cut walls carry the heaviest line weight, as in drafting: heavier than window and door lines
    for style, layer in layers.items():
        if style == "solid":
            np.maximum(ink, layer, out=ink)
        elif style == "grey":
            np.maximum(ink, (layer * rng.uniform(0.25, 0.6)).astype(np.uint8), out=ink)
            _outline(ink, layer, lw)
        elif style == "hatch":
            spacing = max(3.0, plan.ext_t * rng.uniform(0.35, 0.7))
            lines = hatch_pattern(shape, spacing, max(1.0, spacing * rng.uniform(0.2, 0.4)), rng.choice([45, 135]))
            np.maximum(ink, np.where(lines, layer, 0).astype(np.uint8), out=ink)
            _outline(ink, layer, lw)
        else:
            _outline(ink, layer, lw)
    wall_layer = np.maximum.reduce(list(layers.values())) if len(layers) > 1 else next(iter(layers.values()))
    return ink, wall_layer


def assign_wall_styles(plan: Plan, rng: np.random.Generator) -> None:
    """Exterior and interior styles per plan; sometimes a few interior walls hatched (load-bearing)."""
    probs = [0.5, 0.2, 0.18, 0.12]
    ext = str(rng.choice(WALL_STYLES, p=probs))
    inner = ext if rng.random() < 0.5 else str(rng.choice(WALL_STYLES, p=probs))
    # hatch / outline / grey fill need room inside the wall to be visible
    ext = "solid" if ext in ("hatch", "outline") and plan.ext_t < 5 else ext
    inner = "solid" if inner in ("hatch", "outline", "grey") and plan.int_t < 4 else inner
    load_bearing = rng.random() < 0.25 and plan.int_t >= 4
    for wall in plan.walls:
        wall.style = ext if wall.exterior else ("hatch" if load_bearing and rng.random() < 0.4 else inner)


def _door(ink: np.ndarray, wall: Wall, hinge: float, free: float, side: int, lw: int, arc_value: int) -> None:
    width = abs(free - hinge)
    face = side * wall.thickness / 2
    h = wall.xy(hinge, face)
    tip = wall.xy(hinge, face + side * width)
    jamb = wall.xy(free, face)
    line(ink, h, tip, 255, lw)
    a_tip = math.degrees(math.atan2(tip[1] - h[1], tip[0] - h[0]))
    a_jamb = math.degrees(math.atan2(jamb[1] - h[1], jamb[0] - h[0]))
    delta = (a_jamb - a_tip + 180) % 360 - 180  # the 90 degree sweep between leaf and jamb
    start, end = (a_tip, a_tip + delta) if delta > 0 else (a_tip + delta, a_tip)
    ellipse(ink, h, (width, width), start, end, arc_value, 1)


def draw_openings(ink: np.ndarray, plan: Plan, rng: np.random.Generator, lw: int) -> None:
    """Door leaves with swing arcs and windows as thin lines across their gap (ink only, not wall)."""
    window_lines = int(rng.choice([2, 3, 4], p=[0.35, 0.45, 0.2]))
    arc_value = int(rng.choice([255, 170]))
    for wall in plan.walls:
        for op in wall.openings:
            _draw_opening(ink, wall, op, lw, window_lines, arc_value)


def _draw_opening(ink: np.ndarray, wall: Wall, op: Opening, lw: int, window_lines: int, arc_value: int) -> None:
    half = wall.thickness / 2
    if op.kind == "window":
        for across in np.linspace(-half, half, window_lines):
            line(ink, wall.xy(op.start, across), wall.xy(op.end, across), 255, 1)
        for run in (op.start, op.end):
            line(ink, wall.xy(run, -half), wall.xy(run, half), 255, 1)
    elif op.kind == "door":
        hinge, free = (op.start, op.end) if op.hinge_at_start else (op.end, op.start)
        _door(ink, wall, hinge, free, op.side, lw, arc_value)
    elif op.kind == "double_door":
        mid = (op.start + op.end) / 2
        _door(ink, wall, op.start, mid, op.side, lw, arc_value)
        _door(ink, wall, op.end, mid, op.side, lw, arc_value)
