"""Text on a synthetic floor plan: room labels, chained dimension lines with ticks, title block and frame.

Text is ``cv2.putText`` in a Hershey font chosen per plan (sometimes italic); vertical dimension text is
drawn on a patch and rotated. Labels are fitted inside their room (shrunk, or left out) so text never lies
on a wall; dimension lines run outside the building.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .draw import circle, line, rect_outline
from .layout import Plan, Room

FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_COMPLEX_SMALL,
)
# label -> the kind of furniture the room gets
ROOM_NAMES: dict[str, tuple[str, ...]] = {
    "living": ("LIVING", "LIVING ROOM", "LOUNGE", "SEJOUR", "FAMILY"),
    "bed": ("BEDROOM", "BED 1", "BED 2", "MASTER BED", "CHAMBRE", "BR"),
    "kitchen": ("KITCHEN", "KIT.", "KUECHE", "COCINA"),
    "dining": ("DINING", "DINING RM", "EATING"),
    "bath": ("BATH", "W.C.", "WC", "SHOWER", "ENSUITE", "BAD"),
    "other": ("HALL", "STORE", "OFFICE", "STUDY", "UTILITY", "CLOSET", "ENTRY", "LAUNDRY"),
}
KIND_BY_NAME = {name: kind for kind, names in ROOM_NAMES.items() for name in names}


@lru_cache(maxsize=64)
def _cap_height(font: int, thickness: int) -> int:
    (_, h), _ = cv2.getTextSize("H", font, 1.0, thickness)
    return max(h, 1)


@dataclass
class TextStyle:
    font: int
    thickness: int

    def scale_for(self, height_px: float) -> float:
        return max(0.2, height_px / _cap_height(self.font, self.thickness))

    def size(self, text: str, scale: float) -> tuple[int, int, int]:
        (w, h), base = cv2.getTextSize(text, self.font, scale, self.thickness)
        return w, h, base


def random_style(rng: np.random.Generator) -> TextStyle:
    font = int(rng.choice(FONTS)) | (cv2.FONT_ITALIC if rng.random() < 0.15 else 0)
    return TextStyle(font, 1 if rng.random() < 0.85 else 2)


def _paste_max(ink: np.ndarray, patch: np.ndarray, x0: int, y0: int) -> None:
    """ink[y0:, x0:] = max(ink, patch), clipped to the canvas."""
    h, w = patch.shape
    ya, xa, yb, xb = max(y0, 0), max(x0, 0), min(y0 + h, ink.shape[0]), min(x0 + w, ink.shape[1])
    if ya < yb and xa < xb:
        region = ink[ya:yb, xa:xb]
        np.maximum(region, patch[ya - y0 : yb - y0, xa - x0 : xb - x0], out=region)


def put_text(ink, text: str, centre, style: TextStyle, scale: float, value: int = 255, vertical: bool = False) -> None:
    """Text centred on ``centre``; ``vertical`` reads bottom to top (as on a left-hand dimension line)."""
    w, h, base = style.size(text, scale)
    pad = style.thickness + 1
    patch = np.zeros((h + base + 2 * pad, w + 2 * pad), np.uint8)
    cv2.putText(patch, text, (pad, pad + h), style.font, scale, value, style.thickness, cv2.LINE_AA)
    if vertical:
        patch = np.ascontiguousarray(np.rot90(patch))
    _paste_max(ink, patch, round(centre[0] - patch.shape[1] / 2), round(centre[1] - patch.shape[0] / 2))


def draw_room_labels(ink, plan: Plan, rng, style: TextStyle, height: float) -> dict[int, list[tuple]]:
    """Name (and sometimes area) in each room; returns {room index: [occupied rect]} for furniture placement."""
    occupied: dict[int, list[tuple]] = {}
    order = np.argsort([-r.area for r in plan.rooms])
    for rank, i in enumerate(order):
        room: Room = plan.rooms[i]
        area_m2 = room.area / plan.px_per_m**2
        kind = str(rng.choice(["bed", "kitchen", "dining", "other"]))
        kind = "living" if rank == 0 else "bath" if area_m2 < 6 else kind
        room.label = str(rng.choice(ROOM_NAMES[kind]))
        lines = [room.label] + ([f"{area_m2:.1f} m2"] if rng.random() < 0.45 else [])
        x0, y0, x1, y1 = room.inner(plan.int_t + 3)
        for shrink in (1.0, 0.75, 0.55):
            scale = style.scale_for(height * shrink)
            sizes = [style.size(t, scale) for t in lines]
            tw, th = max(s[0] for s in sizes), sum(s[1] + s[2] for s in sizes) + 2
            if tw < x1 - x0 and th < y1 - y0:
                break
        else:
            continue
        cx = rng.uniform(x0 + tw / 2, x1 - tw / 2)
        cy = rng.uniform(y0 + th / 2, y1 - th / 2) if rng.random() < 0.4 else (y0 + y1) / 2
        y = cy - th / 2
        for text, (_, h, base) in zip(lines, sizes, strict=True):
            put_text(ink, text, (cx, y + (h + base) / 2), style, scale * (1 if text == room.label else 0.8))
            y += h + base + 2
        occupied[int(i)] = [(cx - tw / 2 - 2, cy - th / 2 - 2, cx + tw / 2 + 2, cy + th / 2 + 2)]
    return occupied


def _fmt_length(metres: float, unit: str) -> str:
    if unit == "mm":
        return f"{round(metres * 1000)}"
    if unit == "cm":
        return f"{round(metres * 100)}"
    if unit == "ft":
        inches = round(metres / 0.0254)
        return f"{inches // 12}'-{inches % 12}\""
    return f"{metres:.2f}".replace(".", "," if unit == "m," else ".")


def _tick(ink, x: float, y: float, horizontal: bool, kind: str, size: float) -> None:
    if kind == "slash":
        line(ink, (x - size, y + size), (x + size, y - size))
    elif kind == "dot":
        circle(ink, (x, y), max(1.2, size / 2.5), 255, -1)
    elif horizontal:
        line(ink, (x, y - size), (x, y + size))
    else:
        line(ink, (x - size, y), (x + size, y))


def _opening_ticks(plan: Plan, horizontal: bool) -> list[float]:
    """Positions along x (``horizontal``) or y of the exterior walls' outer ends and of their openings' edges."""
    ticks = []
    for wall in plan.walls:
        if wall.exterior and wall.horizontal == horizontal:
            ticks += [wall.a - wall.thickness / 2, wall.b + wall.thickness / 2]
            ticks += [v for op in wall.openings for v in (op.start, op.end)]
    return ticks


def _chain(ink, ticks: list[float], xy, out: int, reach: float, style: TextStyle, scale: float, fmt) -> None:
    """One dimension chain along ``ticks``: the line, a tick and an extension line (``reach`` towards the building
    from the chain) at each, and each segment's length written above the line where it fits."""
    horizontal = xy(0.0, 1.0)[0] == 0.0
    line(ink, xy(ticks[0] - 4, 0), xy(ticks[-1] + 4, 0))
    for t in ticks:
        line(ink, xy(t, reach), xy(t, out * 4))  # extension line
        fmt.tick(ink, *xy(t, 0), horizontal)
    for a, b in zip(ticks[:-1], ticks[1:], strict=True):
        text = fmt.text(b - a)
        w, h, _ = style.size(text, scale)
        if w + 4 < b - a:
            put_text(ink, text, xy((a + b) / 2, -(h / 2 + 3)), style, scale, vertical=not horizontal)


@dataclass
class _Format:
    unit: str
    tick_kind: str
    px_per_m: float

    def text(self, length_px: float) -> str:
        return _fmt_length(length_px / self.px_per_m, self.unit)

    def tick(self, ink, x: float, y: float, horizontal: bool) -> None:
        _tick(ink, x, y, horizontal, self.tick_kind, 3.0)


def draw_dimensions(ink, plan: Plan, rng, style: TextStyle, height: float, dense: bool) -> None:
    """Chained dimension lines outside the building, ticks at every room boundary, on 1-4 sides. ``dense`` plans
    stack up to three chains a side (openings, rooms, overall) and add dimension lines inside rooms: many thin
    parallel lines near the walls, which a segmenter must not take for hollow walls."""
    H, W = ink.shape
    bx0, by0 = plan.outline.min(axis=0)
    bx1, by1 = plan.outline.max(axis=0)
    unit, tick_kind = str(rng.choice(["m", "m,", "mm", "cm", "ft"])), str(rng.choice(["slash", "bar", "dot"]))
    fmt = _Format(unit, tick_kind, plan.px_per_m)
    scale = style.scale_for(height)
    gap = plan.ext_t / 2 + rng.uniform(0.4, 0.9) * plan.px_per_m
    step = rng.uniform(2.0, 3.0) * height + 4  # between stacked chains
    for side, p in (("top", 0.85), ("left", 0.7), ("bottom", 0.3), ("right", 0.3)):
        if rng.random() > (0.95 if dense else p):
            continue
        horizontal = side in ("top", "bottom")
        limit = W if horizontal else H
        rooms = [v for r in plan.rooms for v in ((r.x0, r.x1) if horizontal else (r.y0, r.y1))]
        chains = [rooms]
        if dense:
            overall = [bx0, bx1] if horizontal else [by0, by1]
            chains = [c for c in (_opening_ticks(plan, horizontal), rooms, overall) if rng.random() < 0.85]
        out = -1 if side in ("top", "left") else 1
        start = (by0 if side == "top" else by1) if horizontal else (bx0 if side == "left" else bx1)
        for level, edges in enumerate(chains):
            ticks = [t for t in sorted(set(np.round(edges, 1))) if 0 <= t <= limit]
            ticks = [t for k, t in enumerate(ticks) if k == 0 or t - ticks[k - 1] > 6]
            pos = start + out * (gap + level * step)
            if len(ticks) < 2 or not (height + 4 < pos < (H if horizontal else W) - height - 4):
                continue

            def xy(t: float, o: float, pos: float = pos, horizontal: bool = horizontal) -> tuple[float, float]:
                return (t, pos + o) if horizontal else (pos + o, t)

            _chain(ink, ticks, xy, out, start - pos + out * (plan.ext_t / 2 + 3), style, scale, fmt)
    if dense:
        _inner_dimensions(ink, plan, rng, style, scale, fmt)


def _inner_dimensions(ink, plan: Plan, rng, style: TextStyle, scale: float, fmt: _Format) -> None:
    """Dimension lines across a few rooms, face to face, a little off one wall."""
    for k in rng.permutation(len(plan.rooms))[: int(rng.integers(1, 4))]:
        room = plan.rooms[int(k)]
        x0, y0, x1, y1 = room.inner(plan.int_t / 2)
        off = plan.px_per_m * rng.uniform(0.3, 0.8)
        horizontal, near_start = rng.random() < 0.5, rng.random() < 0.5
        if min(x1 - x0, y1 - y0) < 3 * off:
            continue
        lo, hi = (y0, y1) if horizontal else (x0, x1)  # across the line
        pos = lo + off if near_start else hi - off

        def xy(t: float, o: float, pos: float = pos, horizontal: bool = horizontal) -> tuple[float, float]:
            return (t, pos + o) if horizontal else (pos + o, t)

        a, b = (x0, x1) if horizontal else (y0, y1)
        line(ink, xy(a, 0), xy(b, 0))
        for t in (a, b):
            fmt.tick(ink, *xy(t, 0), horizontal)
        text = fmt.text(b - a)
        w, h, _ = style.size(text, scale)
        if w + 4 < b - a:
            put_text(ink, text, xy((a + b) / 2, -(h / 2 + 3)), style, scale, vertical=not horizontal)


def draw_sheet(ink, plan: Plan, rng, style: TextStyle, lw: int) -> None:
    """Sheet frame and a title block in a free corner, when the page has room for them (``plan.sheet``: the
    canvas, or for a real-scale page the paper around the building, mostly off the canvas)."""
    sx0, sy0, sx1, sy1 = plan.sheet
    bx1, by1 = plan.outline.max(axis=0)
    if rng.random() < 0.35:
        m = rng.uniform(2, 8)
        rect_outline(ink, (sx0 + m, sy0 + m, sx1 - m, sy1 - m), 255, lw)
        if rng.random() < 0.4:
            rect_outline(ink, (sx0 + m + 3, sy0 + m + 3, sx1 - m - 3, sy1 - m - 3), 255, 1)
    if rng.random() < 0.5:
        tw, th = (sx1 - sx0) * rng.uniform(0.25, 0.4), (sy1 - sy0) * rng.uniform(0.1, 0.16)
        x0, y0 = sx1 - tw - 4, sy1 - th - 4
        if x0 > bx1 + 4 or y0 > by1 + 4:
            rect_outline(ink, (x0, y0, x0 + tw, y0 + th), 255, lw)
            rows = int(rng.integers(2, 4))
            for k in range(1, rows):
                line(ink, (x0, y0 + th * k / rows), (x0 + tw, y0 + th * k / rows))
            line(ink, (x0 + tw * 0.6, y0 + th / rows), (x0 + tw * 0.6, y0 + th))
            scale = style.scale_for(min(th / rows * 0.55, 10))
            words = ("FLOOR PLAN", "GROUND FLOOR", "PLAN 1:100", "LEVEL 01", "DWG A-101", "SCALE 1:50")
            for k in range(rows):
                text = str(rng.choice(words))
                if style.size(text, scale)[0] < tw * 0.55:
                    put_text(ink, text, (x0 + tw * 0.3, y0 + th * (k + 0.5) / rows), style, scale)
