"""Drawing primitives, and the doors and windows of a synthetic floor plan.

All drawing goes onto single-channel uint8 layers (255 = full ink) with anti-aliasing at 1/16-pixel
precision (OpenCV's ``shift``). Walls are inked in ``styles.py``. Doors and windows sit in the gaps openings
cut in a wall and its outline, and are ink only, never wall (CVC-FP labels them background too): a door is a
leaf (one line, or a thin panel of two) with its swing arc; a window is thin lines across the gap, or a thin
sash (a narrow rectangle) on the wall's axis, sometimes with jamb lines at its ends.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import cv2
import numpy as np

from .layout import Opening, Plan, Wall

SHIFT = 4  # OpenCV fixed-point bits: coordinates are multiplied by 16

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


@dataclass(frozen=True)
class OpeningStyle:
    """How one plan draws its doors and windows."""

    leaf: int  # door leaf line width; 0: a thin panel (two lines) instead of one line
    arc_value: int  # ink of the swing arc (full or lighter)
    window: str  # "lines" across the gap or a "sash" on the wall's axis
    window_lines: int  # lines across the gap ("lines")
    jambs: bool  # lines across the wall at the ends of a "sash" window

    @classmethod
    def random(cls, rng: np.random.Generator, plan: Plan, lw: int, cad: bool) -> OpeningStyle:
        """A random style; ``cad`` drawings use one thin pen and windows of three or more lines. Panels and sashes
        only where their lines are a few pixels apart, as on a scan at real scale (on a small plan they merge into
        one thick stroke, a wall stub)."""
        panel = rng.random() < 0.4 and 0.045 * plan.px_per_m >= 2  # a leaf is about 4.5 cm thick
        leaf = 0 if panel else (1 if cad else lw)
        arc_value = int(rng.choice([255, 170]))
        window = "sash" if rng.random() < 0.35 and plan.ext_t >= 10 else "lines"
        lines = int(rng.choice([3, 4]) if cad else rng.choice([2, 3, 4], p=[0.35, 0.45, 0.2]))
        return cls(leaf, arc_value, window, lines, bool(rng.random() < 0.5))


def _door(ink: np.ndarray, wall: Wall, hinge: float, free: float, side: int, style: OpeningStyle) -> None:
    width = abs(free - hinge)
    face = side * wall.thickness / 2
    h = wall.xy(hinge, face)
    tip = wall.xy(hinge, face + side * width)
    jamb = wall.xy(free, face)
    if style.leaf:
        line(ink, h, tip, 255, style.leaf)
    else:  # a panel as thick as a real leaf: 5 % of its width
        panel = math.copysign(0.05 * width, free - hinge)
        line(ink, h, tip)
        line(ink, wall.xy(hinge + panel, face), wall.xy(hinge + panel, face + side * width))
        line(ink, tip, wall.xy(hinge + panel, face + side * width))
    a_tip = math.degrees(math.atan2(tip[1] - h[1], tip[0] - h[0]))
    a_jamb = math.degrees(math.atan2(jamb[1] - h[1], jamb[0] - h[0]))
    delta = (a_jamb - a_tip + 180) % 360 - 180  # the 90 degree sweep between leaf and jamb
    start, end = (a_tip, a_tip + delta) if delta > 0 else (a_tip + delta, a_tip)
    ellipse(ink, h, (width, width), start, end, style.arc_value, 1)


def draw_openings(ink: np.ndarray, plan: Plan, style: OpeningStyle, *, two_line: Collection[str] = ()) -> None:
    """Doors and windows in the gaps of every wall (ink only, not wall). Windows in walls of a ``two_line`` style
    (drawn as a pair of lines with nothing between) get three lines or more: two would read as the wall itself."""
    for wall in plan.walls:
        for op in wall.openings:
            _draw_opening(ink, wall, op, style, wall.style in two_line)


def _draw_opening(ink: np.ndarray, wall: Wall, op: Opening, style: OpeningStyle, two_line: bool) -> None:
    half = wall.thickness / 2
    if op.kind == "window" and style.window == "sash":
        depth = max(1.0, half * 0.35)
        for across in (-depth, depth):
            line(ink, wall.xy(op.start, across), wall.xy(op.end, across), 255, 1)
        ends = (-half, half) if style.jambs else (-depth, depth)
        for run in (op.start, op.end):
            line(ink, wall.xy(run, ends[0]), wall.xy(run, ends[1]), 255, 1)
    elif op.kind == "window":
        lines = max(3, style.window_lines) if two_line else style.window_lines
        for across in np.linspace(-half, half, lines):
            line(ink, wall.xy(op.start, across), wall.xy(op.end, across), 255, 1)
        for run in (op.start, op.end):
            line(ink, wall.xy(run, -half), wall.xy(run, half), 255, 1)
    elif op.kind == "door":
        hinge, free = (op.start, op.end) if op.hinge_at_start else (op.end, op.start)
        _door(ink, wall, hinge, free, op.side, style)
    elif op.kind == "double_door":
        mid = (op.start + op.end) / 2
        _door(ink, wall, op.start, mid, op.side, style)
        _door(ink, wall, op.end, mid, op.side, style)
