"""How thick a drawing's lines are, in pixels: the scale a model learned, and the scale of a new scan.

A segmentation model sees walls at the thickness it was trained on; a scan at another resolution draws the same
walls thicker or thinner. Line drawings carry their scale in their strokes: a pen line is a fixed fraction of a
millimetre, so its width in pixels follows the resolution. :func:`stroke_width` measures it; a data source records
it over its training images (``SegData.stroke_px``, saved in checkpoints), and ``segattn predict --scale auto``
resizes each image by ``reference / measured`` before tiling (masks come back at the input's size).

The measure is the run-length statistic of document analysis: the ink (Otsu threshold of the gray page, dark = ink)
is cut into runs along every row and every column, and a stroke ``w`` pixels wide gives runs of about ``w`` across
it. Thin lines (text, furniture, dimensions, hatching) far outnumber walls, so the median run is the dominant pen
width; the grouped median (interpolated inside its integer bin) makes it continuous, so a page scanned 3x larger
measures about 3x wider instead of jumping between integers.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

MIN_INK, MAX_INK = 0.001, 0.5  # fractions of dark pixels outside which a page has no measurable strokes


def _gray_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8 gray of an (H, W) / (H, W, C) image, uint8 / uint16 or float in [0, 1]."""
    if image.dtype == np.uint8:
        array = image
    elif np.issubdtype(image.dtype, np.floating):
        array = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    else:
        array = (image.astype(np.float64) * (255.0 / np.iinfo(image.dtype).max)).round().astype(np.uint8)
    if array.ndim == 3:
        array = (
            array[:, :, 0]
            if array.shape[2] < 3
            else cv2.cvtColor(np.ascontiguousarray(array[:, :, :3]), cv2.COLOR_RGB2GRAY)
        )
    return np.ascontiguousarray(array)


def run_lengths(ink: np.ndarray) -> np.ndarray:
    """Lengths of the runs of ``True`` along every row and every column of a (H, W) bool array."""
    out = []
    for a in (ink, ink.T):
        a = np.ascontiguousarray(a, dtype=np.int8)
        pad = np.zeros((a.shape[0], 1), np.int8)
        edges = np.diff(np.concatenate([pad, a, pad], axis=1), axis=1).ravel()  # +1 at a start, -1 after an end
        out.append(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))
    return np.concatenate(out)


def stroke_width(image: np.ndarray) -> float | None:
    """Dominant width in pixels of the dark strokes of ``image`` ((H, W) or (H, W, C); uint8, uint16 or float in
    [0, 1]); None for a page with (almost) no ink or (almost) all ink."""
    gray = _gray_uint8(image)
    _, ink = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    fraction = float(np.count_nonzero(ink)) / ink.size
    if not MIN_INK <= fraction <= MAX_INK:
        return None
    counts = np.bincount(run_lengths(ink > 0)).astype(np.float64)  # counts[k]: runs of length k
    cumulative = np.cumsum(counts)
    half = cumulative[-1] / 2
    k = int(np.searchsorted(cumulative, half))  # the median's bin
    before = cumulative[k - 1] if k > 0 else 0.0
    return float(k - 0.5 + (half - before) / counts[k])  # grouped median: interpolated inside [k - 0.5, k + 0.5)


def reference_width(images: Iterable[np.ndarray]) -> float | None:
    """Median :func:`stroke_width` over images (those without measurable strokes left out); None if none has."""
    widths = [w for w in (stroke_width(im) for im in images) if w is not None]
    return float(np.median(widths)) if widths else None


def scale_factor(reference: float, measured: float | None, *, low: float = 0.125, high: float = 4.0) -> float:
    """The resize factor that brings ``measured`` strokes to ``reference`` (1 when unmeasured), clipped, 2 decimals."""
    if measured is None or measured <= 0:
        return 1.0
    return round(float(np.clip(reference / measured, low, high)), 2)
