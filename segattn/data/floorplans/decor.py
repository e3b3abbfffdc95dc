"""Everything on a synthetic plan that is ink but not wall: furniture, stairs, hatched areas, stray marks.

These are the hard negatives a wall segmenter must learn to ignore: furniture outlines and filled
symbols, stairs (many parallel lines), diagonal hatch exactly like hatched walls but over areas that are
not walls (terraces, shafts, tiles), a black/white scale bar, dash-dot grid axes with bubbles and stray
pencil lines. Furniture stays a few pixels inside its room so it never touches a wall.
"""

from __future__ import annotations

import math

import numpy as np

from .draw import Rect, circle, ellipse, fill_rect, hatch_pattern, line, rect_outline
from .layout import Plan
from .text import KIND_BY_NAME, TextStyle, put_text


class _Local:
    """Maps (u along the wall, v away from it), both in [0, 1], into a rect whose ``side`` touches a wall."""

    def __init__(self, rect: Rect, side: str) -> None:
        self.rect, self.side = rect, side

    def __call__(self, u: float, v: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.rect
        if self.side in ("top", "bottom"):
            return x0 + u * (x1 - x0), (y0 + v * (y1 - y0)) if self.side == "top" else (y1 - v * (y1 - y0))
        return (x0 + v * (x1 - x0)) if self.side == "left" else (x1 - v * (x1 - x0)), y0 + u * (y1 - y0)

    def box(self, u0: float, v0: float, u1: float, v1: float) -> Rect:
        (xa, ya), (xb, yb) = self(u0, v0), self(u1, v1)
        return min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)


def _bed(ink, m: _Local) -> None:
    rect_outline(ink, m.rect)
    rect_outline(ink, m.box(0.08, 0.04, 0.46, 0.18))
    rect_outline(ink, m.box(0.54, 0.04, 0.92, 0.18))
    line(ink, m(0, 0.3), m(1, 0.3))
    line(ink, m(0.6, 0.3), m(1, 0.5))


def _sofa(ink, m: _Local) -> None:
    rect_outline(ink, m.rect)
    rect_outline(ink, m.box(0.12, 0.28, 0.88, 1.0))
    line(ink, m(0.5, 0.28), m(0.5, 1.0))


def _toilet(ink, m: _Local) -> None:
    rect_outline(ink, m.box(0.05, 0.0, 0.95, 0.28))
    (x0, y0, x1, y1) = m.box(0.15, 0.3, 0.85, 0.98)
    ellipse(ink, ((x0 + x1) / 2, (y0 + y1) / 2), ((x1 - x0) / 2, (y1 - y0) / 2), 0, 360)


def _basin(ink, m: _Local) -> None:
    rect_outline(ink, m.rect)
    (x0, y0, x1, y1) = m.box(0.15, 0.2, 0.85, 0.85)
    ellipse(ink, ((x0 + x1) / 2, (y0 + y1) / 2), ((x1 - x0) / 2, (y1 - y0) / 2), 0, 360)
    circle(ink, m(0.5, 0.5), 1.2, 255, -1)


def _bathtub(ink, m: _Local) -> None:
    rect_outline(ink, m.rect)
    rect_outline(ink, m.box(0.06, 0.12, 0.94, 0.88))
    circle(ink, m(0.85, 0.5), 1.5)


def _counter(ink, m: _Local) -> None:
    rect_outline(ink, m.rect)
    rect_outline(ink, m.box(0.1, 0.15, 0.3, 0.85))
    x0, y0, x1, y1 = m.box(0.55, 0.1, 0.85, 0.9)
    r = min(x1 - x0, y1 - y0) / 5
    for cx, cy in ((0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7)):
        circle(ink, (x0 + cx * (x1 - x0), y0 + cy * (y1 - y0)), r)


def _wardrobe(ink, m: _Local) -> None:
    rect_outline(ink, m.rect)
    line(ink, m(0, 0), m(1, 1))
    line(ink, m(0, 1), m(1, 0))


def _table(ink, m: _Local) -> None:
    x0, y0, x1, y1 = m.box(0.15, 0.2, 0.85, 0.8)
    if abs((x1 - x0) - (y1 - y0)) < 0.2 * (x1 - x0):
        cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
        circle(ink, (cx, cy), r)
        for a in np.linspace(0, 2 * math.pi, 5)[:-1]:
            circle(ink, (cx + 1.3 * r * math.cos(a), cy + 1.3 * r * math.sin(a)), r * 0.22)
        return
    rect_outline(ink, (x0, y0, x1, y1))
    for u in (0.3, 0.7):
        rect_outline(ink, m.box(u - 0.08, 0.02, u + 0.08, 0.16))
        rect_outline(ink, m.box(u - 0.08, 0.84, u + 0.08, 0.98))


def _armchair(ink, m: _Local) -> None:
    rect_outline(ink, m.rect)
    rect_outline(ink, m.box(0.2, 0.3, 0.8, 1.0))


def _shower(ink, m: _Local) -> None:
    rect_outline(ink, m.rect)
    line(ink, m(0, 0), m(1, 1))
    line(ink, m(0, 1), m(1, 0))
    circle(ink, m(0.5, 0.5), 2.0)


# kind -> [(draw, width along the wall in m, depth in m)]
FURNITURE = {
    "bed": [(_bed, (1.4, 1.8), (1.9, 2.1)), (_wardrobe, (1.0, 2.0), (0.55, 0.65)), (_armchair, (0.7, 0.8), (0.7, 0.8))],
    "living": [(_sofa, (1.8, 2.6), (0.8, 0.95)), (_table, (1.0, 1.6), (0.8, 1.2)), (_armchair, (0.7, 0.9), (0.7, 0.9))],
    "dining": [(_table, (1.4, 2.0), (0.9, 1.4)), (_wardrobe, (1.0, 1.6), (0.45, 0.6))],
    "kitchen": [(_counter, (1.8, 3.2), (0.55, 0.65)), (_table, (0.9, 1.2), (0.9, 1.2))],
    "bath": [(_toilet, (0.38, 0.45), (0.6, 0.72)), (_basin, (0.5, 0.7), (0.4, 0.5)), (_bathtub, (1.6, 1.8), (0.7, 0.8)),
             (_shower, (0.8, 0.95), (0.8, 0.95))],
    "other": [(_wardrobe, (0.8, 1.5), (0.45, 0.6)), (_table, (1.0, 1.4), (0.6, 0.8))],
}  # fmt: skip


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def furnish(ink, plan: Plan, rng: np.random.Generator, taken: dict[int, list[Rect]]) -> None:
    """Furniture against the walls of each room (a gap of >= 2 px to the wall face), avoiding ``taken``."""
    gap = plan.int_t / 2 + max(2.0, 0.06 * plan.px_per_m)
    for i, room in enumerate(plan.rooms):
        x0, y0, x1, y1 = room.inner(gap)
        used = list(taken.get(i, []))
        items = FURNITURE[KIND_BY_NAME.get(room.label, "other")]
        for k in rng.permutation(len(items)):
            draw, (wa, wb), (da, db) = items[k]
            w, d = rng.uniform(wa, wb) * plan.px_per_m, rng.uniform(da, db) * plan.px_per_m
            side = str(rng.choice(["top", "bottom", "left", "right"]))
            along_x = side in ("top", "bottom")
            rw, rh = (w, d) if along_x else (d, w)
            if rw > x1 - x0 or rh > y1 - y0 or min(rw, rh) < 5:
                continue
            rx = {"left": x0, "right": x1 - rw}.get(side, rng.uniform(x0, x1 - rw))
            ry = {"top": y0, "bottom": y1 - rh}.get(side, rng.uniform(y0, y1 - rh))
            rect = (rx, ry, rx + rw, ry + rh)
            if any(_overlaps(rect, u) for u in used):
                continue
            draw(ink, _Local(rect, side))
            used.append(rect)


def draw_stairs(ink, plan: Plan, rng: np.random.Generator, taken: dict[int, list[Rect]]) -> None:
    """A straight flight (tread lines, walking line with arrow, break line) in a free corner of a room."""
    w, length = plan.px_per_m * rng.uniform(0.9, 1.2), plan.px_per_m * rng.uniform(2.4, 3.2)
    gap = plan.int_t / 2 + 2
    for k in rng.permutation(len(plan.rooms)):
        x0, y0, x1, y1 = plan.rooms[k].inner(gap)
        vertical = y1 - y0 > x1 - x0
        rw, rh = (w, length) if vertical else (length, w)
        rect = (x0, y0, x0 + rw, y0 + rh) if rng.random() < 0.5 else (x1 - rw, y1 - rh, x1, y1)
        if rw < x1 - x0 and rh < y1 - y0 and not any(_overlaps(rect, u) for u in taken.get(int(k), [])):
            taken.setdefault(int(k), []).append(rect)
            m = _Local(rect, "left" if vertical else "top")
            rect_outline(ink, m.rect)
            steps = int(length / (0.28 * plan.px_per_m))
            for s in np.linspace(0, 1, steps + 1)[1:-1]:
                line(ink, m(0, s) if vertical else m(s, 0), m(1, s) if vertical else m(s, 1))
            a, b = (m(0.5, 0.05), m(0.5, 0.95)) if vertical else (m(0.05, 0.5), m(0.95, 0.5))
            line(ink, a, b)
            circle(ink, a, 1.5, 255, -1)
            line(ink, m(0, 0.55) if vertical else m(0.55, 0), m(1, 0.7) if vertical else m(0.7, 1), 255, 2)
            return


def draw_hatched_area(ink, plan: Plan, rng: np.random.Generator, taken: dict[int, list[Rect]]) -> None:
    """A hatched region that is NOT wall: a terrace outside the building, a shaft or tiles inside a room."""
    H, W = ink.shape
    k = int(rng.integers(len(plan.rooms)))
    x0, y0, x1, y1 = plan.rooms[k].inner(plan.int_t / 2 + 3)
    size = plan.px_per_m * rng.uniform(0.8, 1.6)
    sx, sy = (x0, y0) if rng.random() < 0.5 else (x1 - size, y1 - size)
    rect = (sx, sy, sx + size, sy + size)
    inside = x1 - x0 > size and y1 - y0 > size and not any(_overlaps(rect, u) for u in taken.get(k, []))
    if inside and rng.random() < 0.5:  # shaft / tiled area in a room corner
        taken.setdefault(k, []).append(rect)
    else:  # terrace along the top or bottom of the building
        bx0, by0 = plan.outline.min(axis=0)
        bx1, by1 = plan.outline.max(axis=0)
        depth = plan.px_per_m * rng.uniform(1.0, 2.0)
        top = rng.random() < 0.5
        face = by0 - plan.ext_t / 2 - 2 - depth if top else by1 + plan.ext_t / 2 + 2  # clear of the wall
        ya, yb = face, face + depth
        xa = rng.uniform(bx0, (bx0 + bx1) / 2)
        rect = (xa, ya, min(bx1, xa + rng.uniform(0.3, 0.6) * (bx1 - bx0)), yb)
    ix0, iy0 = max(0, int(rect[0]) + 1), max(0, int(rect[1]) + 1)
    ix1, iy1 = min(W, int(rect[2])), min(H, int(rect[3]))
    if ix1 - ix0 < 3 or iy1 - iy0 < 3:
        return
    rect_outline(ink, rect)
    spacing = max(3.0, plan.ext_t * rng.uniform(0.35, 0.8))
    if rng.random() < 0.3:  # tile grid
        shape = (iy1 - iy0, ix1 - ix0)
        pattern = hatch_pattern(shape, spacing * 2, 1, 0) | hatch_pattern(shape, spacing * 2, 1, 90)
    else:
        pattern = hatch_pattern((iy1 - iy0, ix1 - ix0), spacing, max(1.0, spacing * 0.3), rng.choice([45, 135]))
    region = ink[iy0:iy1, ix0:ix1]
    region[pattern] = np.maximum(region[pattern], int(rng.choice([140, 200, 255])))


def _dashed(ink, p0, p1, dash: float, value: int) -> None:
    length = math.dist(p0, p1)
    n = max(1, int(length / (2 * dash)))
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    for k in range(n):
        a, b = k / n, (k + 0.6) / n
        line(ink, (p0[0] + a * dx, p0[1] + a * dy), (p0[0] + b * dx, p0[1] + b * dy), value)


def draw_marks(ink, plan: Plan, rng: np.random.Generator, style: TextStyle) -> None:
    """Grid axes with bubbles, a scale bar, a north arrow and stray pencil lines."""
    H, W = ink.shape
    if rng.random() < 0.3:  # dash-dot grid axes through some wall centre lines
        for wall in rng.choice(np.array(plan.walls, dtype=object), size=min(3, len(plan.walls)), replace=False):
            if wall.horizontal:
                p0, p1 = (8.0, wall.c), (W - 8.0, wall.c)
            else:
                p0, p1 = (wall.c, 8.0), (wall.c, H - 8.0)
            _dashed(ink, p0, p1, rng.uniform(4, 8), 150)
            circle(ink, p0, 5)
            put_text(ink, str(rng.choice(list("ABCD1234"))), p0, style, style.scale_for(5))
    if rng.random() < 0.25:  # black and white scale bar: solid bars that are not walls
        x, y, h = rng.uniform(4, W * 0.4), H - rng.uniform(6, 14), rng.uniform(2.5, 5)
        step = plan.px_per_m * rng.choice([0.5, 1.0])
        for k in range(4):
            (fill_rect if k % 2 == 0 else rect_outline)(ink, (x + k * step, y, x + (k + 1) * step, y + h))
    if rng.random() < 0.2:  # north arrow
        cx, cy, r = W - rng.uniform(10, 20), rng.uniform(10, 20), rng.uniform(5, 9)
        circle(ink, (cx, cy), r)
        fill_rect(ink, (cx - 1, cy - r, cx + 1, cy + r * 0.2))
    for _ in range(int(rng.poisson(0.8))):  # stray lines: pencil marks, folds, cut lines
        p0 = (rng.uniform(0, W), rng.uniform(0, H))
        angle, length = rng.uniform(0, math.pi), rng.uniform(0.2, 1.0) * max(H, W)
        p1 = (p0[0] + length * math.cos(angle), p0[1] + length * math.sin(angle))
        line(ink, p0, p1, int(rng.integers(60, 200)), 1)
