"""The pictures of the gallery: maps as heat over the image, the prediction, the query points (RGB uint8).

A map is drawn in viridis (dark blue low, yellow high) over the image in gray, stretched to its own range
``[lo, hi]`` (the caption gives it), so a gate that varies between 0.45 and 0.55 still shows where it is high; a
constant map is drawn in the middle colour. Query points are rings in the colour of their kind, numbered.
"""

from __future__ import annotations

import cv2
import numpy as np

from segattn.reports.examples import CLASS_COLOURS

from .points import Point

VIRIDIS = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_VIRIDIS)[:, 0, ::-1].copy()  # RGB
POINT_COLOURS: dict[str, tuple[int, int, int]] = {
    "foreground": (255, 40, 200),
    "background": (0, 220, 255),
    "uncertain": (255, 150, 0),
    "user": (255, 255, 255),
}
HEAT_ALPHA = 0.6


def value_range(values: np.ndarray) -> tuple[float, float]:
    """(min, max) of the finite values (0, 0 when there are none)."""
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def heat(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(H, W) values -> (H, W, 3) viridis colours of ``(v - lo) / (hi - lo)``."""
    scaled = np.full(values.shape, 0.5) if hi <= lo else (values - lo) / (hi - lo)
    index = np.nan_to_num(np.clip(scaled, 0, 1) * 255, nan=0).round().astype(np.uint8)
    return VIRIDIS[index]


def overlay(display: np.ndarray, values: np.ndarray, *, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """``values`` (H, W) as heat over ``display`` (H, W, 3) uint8 in gray; the range defaults to the values'."""
    vlo, vhi = value_range(values)
    lo, hi = vlo if lo is None else lo, vhi if hi is None else hi
    gray = cv2.cvtColor(display, cv2.COLOR_RGB2GRAY)[:, :, None].astype(np.float32)  # (H, W, 1)
    out = (1 - HEAT_ALPHA) * gray + HEAT_ALPHA * heat(values, lo, hi).astype(np.float32)
    return out.round().astype(np.uint8)


def prediction(display: np.ndarray, pred: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The image with every predicted foreground class tinted in its report colour."""
    colours = CLASS_COLOURS[np.minimum(pred, len(CLASS_COLOURS) - 1)].astype(np.float32)  # (H, W, 3)
    out = display.astype(np.float32)
    where = pred > 0
    out[where] = (1 - alpha) * out[where] + alpha * colours[where]
    return out.round().astype(np.uint8)


def mark_points(rgb: np.ndarray, points: list[tuple[int, int, str, str]], *, scale: float = 1.0) -> np.ndarray:
    """Rings at (y, x) with their numbers; ``points`` are (y, x, kind, number) in ``rgb``'s pixels / ``scale``."""
    out = np.ascontiguousarray(rgb.copy())
    radius = max(4, round(min(out.shape[:2]) / 40))
    for y, x, kind, number in points:
        centre = (round(x * scale), round(y * scale))
        colour = POINT_COLOURS.get(kind, (255, 255, 255))
        cv2.circle(out, centre, radius + 1, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.circle(out, centre, radius, colour, 2, cv2.LINE_AA)
        corner = (centre[0] + radius + 1, centre[1] - radius)
        cv2.putText(out, number, corner, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, number, corner, cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return out


def point_marks(points: list[Point]) -> list[tuple[int, int, str, str]]:
    return [(p.y, p.x, p.kind, str(i)) for i, p in enumerate(points, start=1)]


def shrink(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """``rgb`` no larger than ``max_side`` (area averaging keeps thin walls visible) and the scale applied."""
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return rgb, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # cv2 wants (W, H)
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale
