"""Channel gates as SVG: one strip per image, and a heatmap of every image with the channels that move marked.

A channel gate is a weight in (0, 1) per channel, so both charts use one fixed scale, 0 (dark blue) to 1 (yellow)
in viridis, and strips of different images compare directly. The channels that *move most between images* are
those with the largest standard deviation of their weight across the gallery's images; they get a black triangle
under their column, and are listed with their range.
"""

from __future__ import annotations

from html import escape

import numpy as np

from .draw import VIRIDIS

_FONT = 'font-family="sans-serif" font-size="11"'
STRIP_WIDTH = 480  # px of the channel cells, whatever C


def moving_channels(weights: np.ndarray, n: int = 5) -> list[int]:
    """The ``n`` channels whose weight varies most across images ((images, C) -> indices, most first); none for one
    image or when no weight varies."""
    if weights.shape[0] < 2:
        return []
    spread = weights.std(axis=0)
    order = np.argsort(-spread, kind="stable")[:n]
    return [int(c) for c in order if spread[c] > 0]


def _colour(v: float) -> str:
    r, g, b = VIRIDIS[int(round(float(np.clip(v, 0, 1)) * 255))]
    return f"#{r:02x}{g:02x}{b:02x}"


def _cells(row: np.ndarray, x0: float, y: float, cell: float, height: float, names: list[str]) -> list[str]:
    return [
        f'<rect x="{x0 + c * cell:.2f}" y="{y}" width="{cell + 0.02:.2f}" height="{height}" fill="{_colour(v)}">'
        f"<title>{escape(names[c])}: {v:.3f}</title></rect>"
        for c, v in enumerate(row)
    ]


def _marks(marked: list[int], x0: float, y: float, cell: float) -> list[str]:
    out = []
    for c in marked:
        cx = x0 + (c + 0.5) * cell
        out.append(f'<path d="M{cx:.2f} {y} l-4 7 h8 z" fill="black"><title>channel {c}</title></path>')
    return out


def _svg(width: float, height: float, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def strip_svg(weights: np.ndarray, marked: list[int], *, title: str) -> str:
    """One image's channel weights (C,) as a row of cells, ``marked`` channels flagged below."""
    c = len(weights)
    cell = STRIP_WIDTH / c
    names = [f"channel {i}" for i in range(c)]
    body = _cells(weights, 0, 0, cell, 16, names) + _marks(marked, 0, 18, cell)
    return _svg(STRIP_WIDTH, 26, body, title)


def heatmap_svg(weights: np.ndarray, images: list[str], marked: list[int], *, title: str) -> str:
    """(images, C) weights: one row per image (its name on the left), the ``marked`` channels flagged below."""
    n, c = weights.shape
    label_w, row, cell = 150, 14, STRIP_WIDTH / c
    body = []
    for i, name in enumerate(images):
        y = i * row
        short = name if len(name) <= 22 else "…" + name[-21:]
        body.append(f'<text x="{label_w - 6}" y="{y + row - 3}" text-anchor="end" {_FONT}>{escape(short)}</text>')
        body += _cells(weights[i], label_w, y, cell, row - 1, [f"{name}, channel {j}" for j in range(c)])
    body += _marks(marked, label_w, n * row + 2, cell)
    axis_y = n * row + 22
    body.append(f'<text x="{label_w}" y="{axis_y}" {_FONT}>channel 0</text>')
    body.append(f'<text x="{label_w + STRIP_WIDTH}" y="{axis_y}" text-anchor="end" {_FONT}>{c - 1}</text>')
    return _svg(label_w + STRIP_WIDTH + 4, axis_y + 4, body, title)


def scale_svg() -> str:
    """The colour scale of every map and strip: low (dark blue) to high (yellow)."""
    stops = "".join(f'<stop offset="{t:.2f}" stop-color="{_colour(t)}"/>' for t in np.linspace(0, 1, 9))
    body = [
        f'<defs><linearGradient id="viridis">{stops}</linearGradient></defs>',
        '<rect x="40" y="2" width="200" height="12" fill="url(#viridis)"/>',
        f'<text x="34" y="12" text-anchor="end" {_FONT}>low</text>',
        f'<text x="246" y="12" {_FONT}>high</text>',
    ]
    return _svg(280, 16, body, "colour scale: low to high")
