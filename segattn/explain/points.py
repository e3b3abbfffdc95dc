"""Query points for the point-wise attentions (self-attention, PSA): chosen from the prediction, or given.

By default ``n`` points of each kind, all from the blended class probabilities (K, H, W):

- ``foreground`` (walls in floor plans): predicted foreground pixels, the first the deepest inside the foreground
  (largest distance to predicted background), each next the foreground pixel farthest from the points chosen so
  far, so the points spread over the image instead of sitting side by side on one wall;
- ``background``: the same on predicted background (the first is the middle of the largest empty area);
- ``uncertain``: the pixels where the prediction is least sure (binary: probability nearest 0.5; several classes:
  smallest gap between the two most probable), each next one at least ``spacing`` pixels from the others.

Ties go to the first pixel in raster order, so the same probabilities always give the same points. User points
are ``x,y`` in image pixels (x the column from the left, y the row from the top), as an image viewer shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

KINDS = ("foreground", "background", "uncertain")
_MAX_CANDIDATES = 1_000_000  # pixels considered for farthest-point sampling
_MAX_UNCERTAIN = 4096  # least certain pixels considered


@dataclass(frozen=True)
class Point:
    """A query point in image pixels."""

    label: str  # "foreground 1", "uncertain 2", "user 1", ...
    kind: str  # one of KINDS or "user"
    y: int
    x: int


def parse_points(text: str | None) -> list[tuple[int, int]]:
    """``"x,y;x,y"`` -> [(x, y), ...]; ``ValueError`` naming the piece that is not two integers."""
    if text is None or not text.strip():
        return []
    points = []
    for piece in text.split(";"):
        if not piece.strip():
            continue
        parts = piece.split(",")
        try:
            x, y = (int(p) for p in parts)
        except ValueError:
            example = "write e.g. '40,12;100,80'"
            raise ValueError(f"--points: {piece.strip()!r} is not x,y (two integers); {example}") from None
        points.append((x, y))
    return points


def user_points(xy: list[tuple[int, int]], height: int, width: int, name: str = "the image") -> list[Point]:
    """The user's (x, y) points as :class:`Point`; ``ValueError`` for one outside the image."""
    out = []
    for i, (x, y) in enumerate(xy, start=1):
        if not (0 <= x < width and 0 <= y < height):
            raise ValueError(f"point x={x}, y={y} lies outside {name} ({width} wide, {height} high)")
        out.append(Point(f"user {i}", "user", int(y), int(x)))
    return out


def uncertainty(probs: np.ndarray) -> np.ndarray:
    """(K, H, W) probabilities -> (H, W) certainty margin, small = unsure: |2p - 1| (binary) or top1 - top2."""
    if probs.shape[0] == 1:
        return np.abs(2 * probs[0] - 1)
    top = np.sort(probs, axis=0)
    return top[-1] - top[-2]


def foreground(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(H, W) bool: predicted foreground (any class but 0)."""
    return probs[0] > threshold if probs.shape[0] == 1 else probs.argmax(0) > 0


def choose_points(probs: np.ndarray, n: int, *, threshold: float = 0.5, spacing: int = 8) -> list[Point]:
    """``n`` points of each kind (fewer when a kind has fewer pixels, none of a kind the image lacks)."""
    if n <= 0:
        return []
    fg = foreground(probs, threshold)
    points = []
    for kind, where in (("foreground", fg), ("background", ~fg)):
        for i, (y, x) in enumerate(_spread(where, n), start=1):
            points.append(Point(f"{kind} {i}", kind, y, x))
    for i, (y, x) in enumerate(_least_certain(uncertainty(probs), n, spacing), start=1):
        points.append(Point(f"uncertain {i}", "uncertain", y, x))
    return points


def _spread(where: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Up to ``n`` pixels of ``where``: the deepest inside it, then farthest-point sampling."""
    if not where.any():
        return []
    inside = cv2.distanceTransform(np.pad(where, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]  # (H, W)
    first = np.unravel_index(int(np.argmax(inside)), where.shape)
    chosen = [(int(first[0]), int(first[1]))]
    ys, xs = np.nonzero(where)
    step = -(-ys.size // _MAX_CANDIDATES)  # a large image: every step-th candidate in raster order
    ys, xs = ys[::step], xs[::step]
    dist = np.full(ys.shape, np.inf)
    while len(chosen) < n:
        cy, cx = chosen[-1]
        dist = np.minimum(dist, (ys - cy) ** 2 + (xs - cx) ** 2)
        best = int(np.argmax(dist))
        if dist[best] == 0:
            break  # every pixel is already a point
        chosen.append((int(ys[best]), int(xs[best])))
    return chosen


def _least_certain(margin: np.ndarray, n: int, spacing: int) -> list[tuple[int, int]]:
    flat_margin = margin.ravel()
    k = min(flat_margin.size, max(_MAX_UNCERTAIN, n))
    part = np.argpartition(flat_margin, k - 1)[:k]  # the k least certain pixels, unordered
    order = part[np.lexsort((part, flat_margin[part]))]  # least certain first, ties in raster order
    chosen: list[tuple[int, int]] = []
    for flat in order:
        y, x = divmod(int(flat), margin.shape[1])
        if all((y - cy) ** 2 + (x - cx) ** 2 >= spacing**2 for cy, cx in chosen):
            chosen.append((y, x))
            if len(chosen) == n:
                break
    return chosen
