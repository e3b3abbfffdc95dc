"""Boundary F1 with a pixel tolerance: does the predicted outline lie where the reference outline lies?

Walls, cracks and membranes are a few pixels thick, so a prediction shifted by one pixel can lose half its Dice
while tracing the right line. The boundary F1 (the BF score of Csurka et al., BMVC 2013; the contour F-measure
of the DAVIS benchmark, Perazzi et al., CVPR 2016) forgives such shifts up to a tolerance ``d``:

    boundary_k(m)   = pixels of class k whose 8-neighbourhood holds another label (inner boundary; the image
                      edge is not a boundary)
    precision_k     = |{p ∈ boundary_k(pred) : dist(p, boundary_k(ref)) <= d}| / |boundary_k(pred)|
    recall_k        = |{p ∈ boundary_k(ref)  : dist(p, boundary_k(pred)) <= d}| / |boundary_k(ref)|
    F1_k            = 2 · precision_k · recall_k / (precision_k + recall_k)

with Euclidean ``dist``. ``d = 0`` demands the exact pixels. Like Dice, everything is kept as counts
``[pred_matched, pred_total, ref_matched, ref_total]`` per image and class, so scores can be pooled over a dataset
and the empty-mask rule applies the same way: no boundary in the reference nor in the prediction is 0/0 and follows
``empty``; a boundary on one side only scores 0.

Pixels whose reference is ``ignore_index`` never count as boundary pixels (a boundary *next to* an ignored region
does: the reference says the class ends there).

Example:
    >>> import numpy as np
    >>> ref = np.zeros((8, 8), np.uint8); ref[3, 1:7] = 1       # a one-pixel line
    >>> pred = np.zeros((8, 8), np.uint8); pred[4, 1:7] = 1     # the same line, one pixel lower
    >>> float(boundary_f1_from_counts(boundary_counts(pred, ref, 2, tolerance=1))[1])
    1.0
    >>> float(boundary_f1_from_counts(boundary_counts(pred, ref, 2, tolerance=0))[1])
    0.0
"""

from __future__ import annotations

import cv2
import numpy as np

from segattn.labels import IGNORE_INDEX
from segattn.scoring.counts import EMPTY_RULES, EmptyRule

_KERNEL = np.ones((3, 3), np.uint8)  # 8-neighbourhood


def class_boundary(labels: np.ndarray, k: int) -> np.ndarray:
    """Inner boundary of class ``k`` in an ``(H, W)`` label map: ``bool (H, W)``."""
    inside = (labels == k).astype(np.uint8)
    # cv2.erode pads with +inf by default, so pixels on the image edge are not boundary pixels.
    return inside.astype(bool) & (cv2.erode(inside, _KERNEL) == 0)


def _distance_to(points: np.ndarray) -> np.ndarray:
    """Euclidean distance from every pixel to the nearest ``True`` pixel of ``points`` (``float32 (H, W)``)."""
    return cv2.distanceTransform((~points).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def boundary_counts(
    pred: np.ndarray,
    target: np.ndarray,
    num_classes: int,
    *,
    tolerance: float = 2.0,
    ignore_index: int | None = IGNORE_INDEX,
) -> np.ndarray:
    """Per-class boundary match counts of one image.

    Args:
        pred, target: ``(H, W)`` integer class maps of the same shape.
        num_classes: ``K``, background included.
        tolerance: largest Euclidean distance (pixels) at which two boundary pixels still match.

    Returns:
        ``int64 (K, 4)``: ``[pred_matched, pred_total, ref_matched, ref_total]`` per class.
    """
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(f"pred and target must be (H, W) maps of one shape, got {pred.shape} and {target.shape}")
    if tolerance < 0:
        raise ValueError(f"boundary tolerance must be >= 0 pixels, got {tolerance}")
    valid = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    out = np.zeros((num_classes, 4), np.int64)
    for k in range(num_classes):
        b_pred = class_boundary(pred, k) & valid
        b_ref = class_boundary(target, k) & valid
        n_pred, n_ref = int(b_pred.sum()), int(b_ref.sum())
        if n_pred == 0 or n_ref == 0:  # nothing can match; skip the distance transforms
            out[k] = (0, n_pred, 0, n_ref)
            continue
        pred_hit = int((_distance_to(b_ref)[b_pred] <= tolerance).sum())
        ref_hit = int((_distance_to(b_pred)[b_ref] <= tolerance).sum())
        out[k] = (pred_hit, n_pred, ref_hit, n_ref)
    return out


def boundary_f1_from_counts(counts: np.ndarray, *, empty: EmptyRule = "exclude") -> np.ndarray:
    """Boundary F1 from ``(..., 4)`` counts (float64 ``(...)``); no boundary on either side follows ``empty``."""
    if empty not in EMPTY_RULES:
        raise ValueError(f"unknown empty-mask rule {empty!r}; choose from {list(EMPTY_RULES)}")
    counts = np.asarray(counts, np.float64)
    if counts.shape[-1] != 4:
        raise ValueError(f"boundary counts must end in an axis of size 4, got shape {counts.shape}")
    pm, pt, rm, rt = np.moveaxis(counts, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(pt > 0, pm / np.maximum(pt, 1), 0.0)
        recall = np.where(rt > 0, rm / np.maximum(rt, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    fill = {"exclude": np.nan, "one": 1.0, "zero": 0.0}[empty]
    return np.where((pt == 0) & (rt == 0), fill, f1)
