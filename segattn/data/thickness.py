"""How thick the foreground structures are, in pixels: the scale a model learned, and the scale it is shown.

A segmentation model sees walls (cracks, membranes) at the thickness it was trained on; a scan at another
resolution, or a drawing at another scale, draws them thicker or thinner and the model misses them. A data source
records the median foreground thickness of its training masks (``SegData.structure_px``, saved in checkpoints).
``segattn predict --scale auto`` then predicts each image at a probe size of at most ``PROBE_PIXELS`` (never
enlarged), measures the thickness of what the model found there, resizes the image by ``reference / measured``,
and measures again (up to ``PROBE_ROUNDS`` rounds: shown walls far thicker than it learned, a model finds them
too thin, so one round falls short; an image probed within ``SETTLED`` of its measured factor is not probed
again) before the prediction that is kept (masks and probabilities come back at the
input's size; the factor is in the manifest).

Thickness is twice the area over the outline length: a band ``w`` wide and ``L`` long has area ``wL`` and an
outline of about ``2L``. It needs no skeleton, follows the resolution exactly, and a mask of many short pieces
measures thinner, not thicker (the factor then errs towards keeping the image large).

Why the model's own prediction and not the page's ink: the dominant pen width of the page (the run-length
statistic of document analysis) was tried first. Pens and walls do not keep one ratio across drawings: over the
122 CVC-FP plans the pen width's correlation with the wall masks' thickness is 0.05 (log-log), and the factors it
chose scored pooled wall Dice 0.596 where a fixed 0.5 scored 0.835 (bench/README.md, bench/transfer.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import cv2
import numpy as np

PROBE_PIXELS = 2_500_000  # the first probe prediction of --scale auto sees at most this many pixels
PROBE_ROUNDS = 2  # probe predictions per image before the one that is kept, at most
SETTLED = 0.1  # a probe at a factor within 10% of the one it measures needs no further round
MIN_FOREGROUND = 1e-4  # a probe mask with a smaller foreground share measures nothing: the probe factor is kept
FACTOR_RANGE = (0.0625, 4.0)  # --scale auto never resizes further than this


def structure_width(mask: np.ndarray) -> float | None:
    """Mean thickness in pixels of the foreground of a (H, W) mask: twice its area over the length of its outline.
    A bool mask is the foreground; a label mask's is ``0 < value < 255`` (255 is ignore). None without foreground."""
    fg = (mask if mask.dtype == bool else (mask > 0) & (mask != 255)).astype(np.uint8)
    area = int(np.count_nonzero(fg))
    if area == 0:
        return None
    contours, _ = cv2.findContours(fg, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outline = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * area / max(outline, 1.0)


def reference_thickness(masks: Iterable[np.ndarray]) -> float | None:
    """Median :func:`structure_width` over masks (those without foreground left out); None if none has any."""
    widths = [w for w in (structure_width(m) for m in masks) if w is not None]
    return float(np.median(widths)) if widths else None


def probe_factor(height: int, width: int, pixels: int = PROBE_PIXELS) -> float:
    """The factor of the probe prediction: the image brought to at most ``pixels`` pixels, never enlarged."""
    return min(1.0, math.sqrt(pixels / max(height * width, 1)))


def scale_factor(reference: float, probe_mask: np.ndarray, probe: float) -> float:
    """The factor that brings the structures of ``probe_mask`` (the probe prediction, at the image's own size) to
    ``reference`` pixels; ``probe`` (the probe's own factor) when it found (almost) nothing. Clipped, 4 decimals."""
    measured = structure_width(probe_mask)
    share = np.count_nonzero(probe_mask if probe_mask.dtype == bool else (probe_mask > 0) & (probe_mask != 255))
    share /= max(probe_mask.size, 1)
    if measured is None or share < MIN_FOREGROUND:
        return round(probe, 4)
    return round(float(np.clip(reference / measured, *FACTOR_RANGE)), 4)


def settles(probed: float, measured: float) -> bool:
    """Whether a probe at factor ``probed`` that measured ``measured`` is close enough to need no further round."""
    return abs(measured / probed - 1.0) <= SETTLED
