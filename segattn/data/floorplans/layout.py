"""Geometry of a synthetic floor plan: outline, rooms by recursive partition, walls with doors and windows.

Everything here is plain numbers in canvas pixels (before the slight scan rotation); drawing lives in
``draw.py``. A plan is a rectangle or an L (a corner cut away), split recursively into rooms
(binary space partition, each split one interior wall). Exterior walls are the outline's edges and are
thicker than interior ones. Openings are gaps in a wall's solid spans: doors, double doors and open
passages in interior walls, an entrance door and windows in exterior walls, never across a wall junction.

Two kinds of page:

- *whole*: the whole building on the canvas (a sheet shrunk to the canvas), its size in pixels set by the canvas;
- *real scale*: the canvas is a window onto a sheet drawn at 1:50, 1:100 or 1:200 and scanned at about ``dpi``
  dots per inch (the same sheet copied at 80-125 %), so walls, text and rooms have the size in pixels they have
  on such a scan, whatever the canvas size; the building usually overflows the canvas, as it does the tiles of a
  sliding window. The default ``dpi`` (150) is an A4 or A3 scan at 300 dpi shrunk by half; the wall thicknesses
  this gives are compared with real scans in ``bench/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

OpeningKind = Literal["door", "double_door", "passage", "window"]


@dataclass
class Opening:
    kind: OpeningKind
    start: float  # along the wall's running axis, start < end
    end: float
    side: int  # +1 / -1: the side of the wall a door swings into (along the perpendicular axis)
    hinge_at_start: bool


@dataclass
class Wall:
    """An axis-aligned wall: centre line at ``c`` (y if horizontal, x if vertical) running from ``a`` to ``b``."""

    horizontal: bool
    c: float
    a: float
    b: float
    thickness: float
    exterior: bool
    style: str = "solid"
    openings: list[Opening] = field(default_factory=list)

    def xy(self, run: float, across: float) -> tuple[float, float]:
        """Canvas (x, y) of a point ``run`` along the wall and ``across`` from its centre line."""
        return (run, self.c + across) if self.horizontal else (self.c + across, run)

    def solid_spans(self) -> list[tuple[float, float]]:
        """Running-axis intervals drawn as wall: the extent minus the openings (exterior ends cover corners)."""
        ext = self.thickness / 2 if self.exterior else 0.0
        spans, cursor = [], self.a - ext
        for op in sorted(self.openings, key=lambda o: o.start):
            if op.start > cursor:
                spans.append((cursor, op.start))
            cursor = max(cursor, op.end)
        if self.b + ext > cursor:
            spans.append((cursor, self.b + ext))
        return spans

    def rect(self, start: float, end: float) -> tuple[float, float, float, float]:
        """Canvas rectangle (x0, y0, x1, y1) of the wall between ``start`` and ``end``."""
        (x0, y0), (x1, y1) = self.xy(start, -self.thickness / 2), self.xy(end, self.thickness / 2)
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


@dataclass
class Room:
    x0: float  # the rectangle between wall centre lines
    y0: float
    x1: float
    y1: float
    label: str = ""

    def inner(self, margin: float) -> tuple[float, float, float, float]:
        return self.x0 + margin, self.y0 + margin, self.x1 - margin, self.y1 - margin

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)


@dataclass
class Plan:
    walls: list[Wall]
    rooms: list[Room]
    outline: np.ndarray  # (N, 2) float polygon, x/y canvas pixels
    px_per_m: float
    ext_t: float
    int_t: float
    sheet: tuple[float, float, float, float]  # the paper (x0, y0, x1, y1) in canvas pixels; the canvas if whole
    real_scale: bool = False


def _outline_rects(rng: np.random.Generator, x0: float, y0: float, bw: float, bh: float, min_room: float):
    """One rectangle, or two forming an L (the top-right corner cut away, then mirrored at random)."""
    x1, y1 = x0 + bw, y0 + bh
    if rng.random() < 0.4 and bw > 3 * min_room and bh > 3 * min_room:
        cw, ch = bw * rng.uniform(0.3, 0.55), bh * rng.uniform(0.3, 0.55)
        rects = [(x0, y0 + ch, x1, y1), (x0, y0, x1 - cw, y0 + ch)]
        poly = [(x0, y0), (x1 - cw, y0), (x1 - cw, y0 + ch), (x1, y0 + ch), (x1, y1), (x0, y1)]
        shared = [(True, y0 + ch, x0, x1 - cw)]  # the wall between the L's two rectangles
    else:
        rects, poly, shared = [(x0, y0, x1, y1)], [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], []
    flip_x, flip_y = rng.random() < 0.5, rng.random() < 0.5
    fx = (lambda v: x0 + x1 - v) if flip_x else (lambda v: v)
    fy = (lambda v: y0 + y1 - v) if flip_y else (lambda v: v)
    rects = [(min(fx(a), fx(c)), min(fy(b), fy(d)), max(fx(a), fx(c)), max(fy(b), fy(d))) for a, b, c, d in rects]
    poly = np.array([(fx(x), fy(y)) for x, y in poly], dtype=np.float64)
    shared = [(h, fy(c), *sorted((fx(a), fx(b)))) for h, c, a, b in shared]
    return rects, poly, shared


def _partition(rng, rect, min_room: float, depth: int, rooms: list, splits: list) -> None:
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    can_v, can_h = w >= 2 * min_room, h >= 2 * min_room  # v: a vertical wall splits the width
    if not (can_v or can_h) or (depth >= 2 and rng.random() < 0.2 + 0.1 * depth):
        rooms.append(Room(x0, y0, x1, y1))
        return
    vertical = can_v and (not can_h or (rng.random() < 0.8) == (w >= h))
    lo, hi = (x0, x1) if vertical else (y0, y1)
    pos = float(np.clip(lo + (hi - lo) * rng.uniform(0.3, 0.7), lo + min_room, hi - min_room))
    if vertical:
        splits.append((False, pos, y0, y1))
        _partition(rng, (x0, y0, pos, y1), min_room, depth + 1, rooms, splits)
        _partition(rng, (pos, y0, x1, y1), min_room, depth + 1, rooms, splits)
    else:
        splits.append((True, pos, x0, x1))
        _partition(rng, (x0, y0, x1, pos), min_room, depth + 1, rooms, splits)
        _partition(rng, (x0, pos, x1, y1), min_room, depth + 1, rooms, splits)


def _free_intervals(wall: Wall, walls: list[Wall], margin: float) -> list[tuple[float, float]]:
    """Parts of ``wall`` away from every junction with a perpendicular wall and from its own ends."""
    blocked = [(wall.a - wall.thickness, wall.a + wall.thickness / 2 + margin)]
    blocked.append((wall.b - wall.thickness / 2 - margin, wall.b + wall.thickness))
    for other in walls:
        if other.horizontal == wall.horizontal:
            continue
        touches = min(abs(other.a - wall.c), abs(other.b - wall.c)) < 0.5 or other.a < wall.c < other.b
        if touches and wall.a - 0.5 <= other.c <= wall.b + 0.5:
            blocked.append((other.c - other.thickness / 2 - margin, other.c + other.thickness / 2 + margin))
    free, cursor = [], wall.a
    for lo, hi in sorted(blocked):
        if lo > cursor:
            free.append((cursor, lo))
        cursor = max(cursor, hi)
    if wall.b > cursor:
        free.append((cursor, wall.b))
    return free


def _add_openings(rng: np.random.Generator, walls: list[Wall], px_per_m: float) -> None:
    margin = 0.15 * px_per_m
    door_w = px_per_m * rng.uniform(0.75, 0.95)
    entrance_done = False
    for i in rng.permutation(len(walls)):
        wall = walls[i]
        for lo, hi in _free_intervals(wall, walls, margin):
            length = hi - lo
            if not wall.exterior:
                kind = "double_door" if length > 2.4 * door_w and rng.random() < 0.25 else "door"
                kind = "passage" if rng.random() < 0.12 else kind
                width = door_w * (1.7 if kind == "double_door" else rng.uniform(0.9, 1.1))
                if length < width + 2 * margin or rng.random() > 0.8:
                    continue
                # doors sit near a corner more often than in the middle of a wall
                start = rng.choice([lo + margin, hi - margin - width, rng.uniform(lo + margin, hi - margin - width)])
                wall.openings.append(Opening(kind, start, start + width, rng.choice([-1, 1]), rng.random() < 0.5))
                continue
            if not entrance_done and length > 1.2 * door_w + 2 * margin:
                start = rng.uniform(lo + margin, hi - margin - 1.1 * door_w)
                wall.openings.append(Opening("door", start, start + 1.1 * door_w, rng.choice([-1, 1]), True))
                entrance_done = True
                continue
            win_w = px_per_m * rng.uniform(0.8, 1.8)
            n = int(min(3, length // (win_w + 3 * margin)))
            for k in range(n):
                if rng.random() < 0.8:
                    slot = lo + (k + 0.5) * length / n
                    wall.openings.append(Opening("window", slot - win_w / 2, slot + win_w / 2, 1, True))


def visible_wall_fraction(plan: Plan, height: int, width: int) -> float:
    """Approximate share of the canvas covered by wall (solid spans clipped to the canvas)."""
    area = 0.0
    for wall in plan.walls:
        for start, end in wall.solid_spans():
            x0, y0, x1, y1 = wall.rect(start, end)
            area += max(0.0, min(x1, width) - max(x0, 0)) * max(0.0, min(y1, height) - max(y0, 0))
    return area / (height * width)


# drawing scales (1:n) of real-scale pages and how often each is drawn; most house plans are at 1:100
DRAWING_SCALES = {50: 0.15, 100: 0.7, 200: 0.15}
REAL_SCALE_SHARE = 0.15  # default share of real-scale pages
DPI = 150.0  # default resolution of real-scale pages, dots per inch
MAX_WALL_FRACTION = 0.3  # a canvas more than this much wall is re-drawn (a window lying on a wall teaches little)


def make_layout(
    rng: np.random.Generator, height: int, width: int, *, real_scale: float = REAL_SCALE_SHARE, dpi: float = DPI
) -> Plan:
    """Random plan geometry on a (height, width) canvas, 2-30% of it wall (re-drawn until so).

    ``real_scale`` is the share of real-scale pages (see the module docstring), ``dpi`` their resolution. A
    real-scale page that cannot give a canvas with 2-30% wall in 20 tries (a canvas much smaller than a room)
    gives way to a whole one.
    """
    kinds = [rng.random() < real_scale] * 20 + [False] * 20
    for real in kinds:
        plan = _make_layout(rng, height, width, real, dpi)
        if 0.02 <= visible_wall_fraction(plan, height, width) <= MAX_WALL_FRACTION:
            break
    return plan


def _building_size(rng: np.random.Generator, height: int, width: int, real: bool, dpi: float):
    """(building width, height, pixels per metre, exterior and interior wall thickness) in canvas pixels."""
    aspect = float(np.exp(rng.uniform(np.log(0.6), np.log(1.65))))
    if real:
        scale = rng.choice(list(DRAWING_SCALES), p=list(DRAWING_SCALES.values()))
        px_per_m = dpi * rng.uniform(0.8, 1.25) / 0.0254 / scale
        long_side = px_per_m * rng.uniform(8.0, 20.0)
        bw, bh = (long_side, long_side * aspect) if aspect < 1 else (long_side / aspect, long_side)
        ext_t = px_per_m * rng.uniform(0.18, 0.45)
        int_t = float(np.clip(px_per_m * rng.uniform(0.06, 0.2), 2.0, 0.75 * ext_t))
        return bw, bh, float(px_per_m), max(3.0, ext_t), int_t
    fill = rng.uniform(0.55, 0.88)
    bw, bh = fill * width, fill * width * aspect
    shrink = min(1.0, 0.88 * height / bh)  # keep the whole building on the page
    bw, bh = bw * shrink, bh * shrink
    px_per_m = max(bw, bh) / rng.uniform(6.0, 16.0)
    ext_t = max(3.0, px_per_m * rng.uniform(0.2, 0.4))
    int_t = float(np.clip(px_per_m * rng.uniform(0.09, 0.18), 2.0, 0.75 * ext_t))
    return bw, bh, px_per_m, ext_t, int_t


def _make_layout(rng: np.random.Generator, height: int, width: int, real: bool, dpi: float) -> Plan:
    """Random plan geometry on a (height, width) canvas, whole or real-scale (``real``)."""
    bw, bh, px_per_m, ext_t, int_t = _building_size(rng, height, width, real, dpi)
    if real:  # the canvas anywhere over the building, or just off its edge where the dimension lines run
        pad = 0.35 * min(height, width)
        x0, y0 = rng.uniform(*sorted((width - bw - pad, pad))), rng.uniform(*sorted((height - bh - pad, pad)))
        margin = px_per_m * rng.uniform(1.5, 3.0, size=4)  # paper beyond the building: dimensions, title
        sheet = (x0 - margin[0], y0 - margin[1], x0 + bw + margin[2], y0 + bh + margin[3])
    else:  # dimension lines usually go top and left, so leave a little more room there
        x0 = rng.uniform(0.55, 0.8) * (width - bw)
        y0 = rng.uniform(0.55, 0.8) * (height - bh)
        sheet = (0.0, 0.0, float(width), float(height))
    min_room = px_per_m * rng.uniform(2.2, 3.2)
    rects, outline, shared = _outline_rects(rng, x0, y0, bw, bh, min_room)

    walls = []
    for (xa, ya), (xb, yb) in zip(outline, np.roll(outline, -1, axis=0), strict=True):
        horizontal = abs(ya - yb) < 1e-6
        c, a, b = (ya, min(xa, xb), max(xa, xb)) if horizontal else (xa, min(ya, yb), max(ya, yb))
        walls.append(Wall(horizontal, float(c), float(a), float(b), ext_t, exterior=True))
    rooms: list[Room] = []
    splits: list[tuple[bool, float, float, float]] = list(shared)
    for rect in rects:
        _partition(rng, rect, min_room, 0, rooms, splits)
    walls += [Wall(h, float(c), float(a), float(b), int_t, exterior=False) for h, c, a, b in splits]
    _add_openings(rng, walls, px_per_m)
    sheet = tuple(float(v) for v in sheet)
    return Plan(walls, rooms, outline, float(px_per_m), float(ext_t), float(int_t), sheet, real)


def door_swings(plan: Plan) -> dict[int, list[tuple[float, float, float, float]]]:
    """{room index: [square swept by each door leaf opening into that room]}, to keep furniture out of it."""
    swings: dict[int, list[tuple[float, float, float, float]]] = {}
    for wall in plan.walls:
        for op in wall.openings:
            if op.kind not in ("door", "double_door"):
                continue
            face = op.side * wall.thickness / 2
            (xa, ya), (xb, yb) = wall.xy(op.start, face), wall.xy(op.end, face + op.side * (op.end - op.start))
            rect = (min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))
            cx, cy = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
            for i, room in enumerate(plan.rooms):
                if room.x0 <= cx <= room.x1 and room.y0 <= cy <= room.y1:
                    swings.setdefault(i, []).append(rect)
    return swings
