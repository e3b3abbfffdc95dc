"""Two small SVG charts written as text (no plotting dependency): a Dice histogram and an interval plot.

SVG is text, so the charts are exact, tiny, readable in any browser, embeddable inline in HTML and testable with
an XML parser.
"""

from __future__ import annotations

import itertools
import math
from html import escape

import numpy as np

_FONT = 'font-family="sans-serif" font-size="12"'


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}">\n<title>{escape(title)}</title>\n' + "\n".join(body) + "\n</svg>\n"
    )


def integer_ticks(peak: float, *, min_steps: int = 3, max_steps: int = 5) -> list[int]:
    """Tick values ``0, step, 2 step, ...`` for a count axis reaching ``peak``: ``step`` is the smallest nice number
    (1, 2 or 5 times a power of ten) that covers ``peak`` in at most ``max_steps`` steps, and the axis has at least
    ``min_steps`` steps so a small peak still gets a readable scale.

    >>> integer_ticks(7), integer_ticks(23), integer_ticks(1)
    ([0, 2, 4, 6, 8], [0, 5, 10, 15, 20, 25], [0, 1, 2, 3])
    """
    peak = max(peak, 1)
    nice = (m * 10**k for k in itertools.count() for m in (1, 2, 5))  # 1, 2, 5, 10, 20, 50, ...
    step = next(n for n in nice if math.ceil(peak / n) <= max_steps)
    return [i * step for i in range(max(math.ceil(peak / step), min_steps) + 1)]


def histogram_svg(values: np.ndarray, *, bins: int = 20, title: str = "Dice per image", width: int = 560) -> str:
    """Histogram of scores in [0, 1] (NaN dropped) with ``bins`` equal bins; number of images on the y axis."""
    x = np.asarray(values, np.float64)
    x = x[~np.isnan(x)]
    counts, edges = np.histogram(np.clip(x, 0, 1), bins=bins, range=(0.0, 1.0))
    ticks = integer_ticks(int(counts.max()) if counts.size else 0)
    height, left, right, top, bottom = 240, 58, 12, 26, 36
    pw, ph = width - left - right, height - top - bottom

    def py(count: float) -> float:
        return top + ph * (1 - count / ticks[-1])

    body = [f'<text x="{width / 2}" y="15" text-anchor="middle" {_FONT}>{escape(title)} (n = {x.size})</text>']
    body.append('<g class="y-axis">')
    for t in ticks:
        body.append(f'<line x1="{left}" y1="{py(t):.1f}" x2="{left + pw}" y2="{py(t):.1f}" stroke="#ddd"/>')
        body.append(f'<text x="{left - 5}" y="{py(t) + 4:.1f}" text-anchor="end" {_FONT}>{t}</text>')
    body.append("</g>")
    for i, c in enumerate(counts):
        bw = pw / bins
        body.append(
            f'<rect x="{left + i * bw:.2f}" y="{py(c):.2f}" width="{bw - 1:.2f}" height="{top + ph - py(c):.2f}" '
            f'fill="#3b7dd8"><title>{edges[i]:.2f}–{edges[i + 1]:.2f}: {int(c)}</title></rect>'
        )
    body.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>')
    body.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="black"/>')
    for t in np.linspace(0, 1, 6):
        xt = left + pw * t
        body.append(f'<text x="{xt:.1f}" y="{top + ph + 14}" text-anchor="middle" {_FONT}>{t:.1f}</text>')
    body.append(f'<text x="{left + pw / 2}" y="{height - 4}" text-anchor="middle" {_FONT}>Dice</text>')
    mid = top + ph / 2
    body.append(f'<text x="14" y="{mid}" transform="rotate(-90 14 {mid})" text-anchor="middle" {_FONT}>images</text>')
    return _svg(width, height, body, title)


def interval_svg(
    labels: list[str], means: list[float], lows: list[float], highs: list[float], *, title: str, reference: float | None
) -> str:
    """One row per label: a dot at the mean and a bar over [low, high]; optional vertical reference line."""
    finite = [v for v in [*lows, *highs, *means, *([reference] if reference is not None else [])] if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    pad = (hi - lo) * 0.08 or 0.05
    lo, hi = lo - pad, hi + pad
    label_w, width, row = 170, 560, 26
    height = 40 + row * len(labels) + 24
    pw = width - label_w - 20

    def px(v: float) -> float:
        return label_w + pw * (v - lo) / (hi - lo)

    body = [f'<text x="{width / 2}" y="15" text-anchor="middle" {_FONT}>{escape(title)}</text>']
    if reference is not None:
        body.append(
            f'<line x1="{px(reference):.1f}" y1="26" x2="{px(reference):.1f}" y2="{height - 24}" '
            'stroke="#888" stroke-dasharray="4 3"/>'
        )
    for i, (name, m, a, b) in enumerate(zip(labels, means, lows, highs, strict=True)):
        y = 40 + row * i
        body.append(f'<text x="{label_w - 8}" y="{y + 4}" text-anchor="end" {_FONT}>{escape(name)}</text>')
        if math.isfinite(a) and math.isfinite(b):
            bar = f'x1="{px(a):.1f}" y1="{y}" x2="{px(b):.1f}" y2="{y}"'
            body.append(f'<line {bar} stroke="#3b7dd8" stroke-width="3"/>')
        if math.isfinite(m):
            body.append(
                f'<circle cx="{px(m):.1f}" cy="{y}" r="4" fill="#1a3d6e"><title>{m:.4f} [{a:.4f}, {b:.4f}]'
                "</title></circle>"
            )
    axis_y = height - 18
    body.append(f'<line x1="{label_w}" y1="{axis_y - 8}" x2="{label_w + pw}" y2="{axis_y - 8}" stroke="black"/>')
    for t in np.linspace(lo, hi, 5):
        body.append(f'<text x="{px(t):.1f}" y="{axis_y + 6}" text-anchor="middle" {_FONT}>{t:.3f}</text>')
    return _svg(width, height, body, title)
