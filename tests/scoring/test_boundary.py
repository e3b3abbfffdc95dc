"""Boundary F1: hand-computed cases, the shifted-line property, empty cases, ignored pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segattn.scoring.boundary import boundary_counts, boundary_f1_from_counts, class_boundary


def _line(shift: int = 0, size: int = 16) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    m[6 + shift, 2:14] = 1  # a one-pixel horizontal wall
    return m


def _f1(pred: np.ndarray, ref: np.ndarray, tolerance: float, k: int = 1, **kw) -> float:
    return float(boundary_f1_from_counts(boundary_counts(pred, ref, 2, tolerance=tolerance), **kw)[k])


def test_inner_boundary_of_a_square_is_its_outline_not_the_image_edge() -> None:
    m = np.zeros((7, 7), np.uint8)
    m[1:6, 1:6] = 1
    b = class_boundary(m, 1)
    assert b.sum() == 16  # 5x5 square: 25 - 9 interior pixels
    assert not b[2:5, 2:5].any()
    full = np.ones((5, 5), np.uint8)
    assert class_boundary(full, 1).sum() == 0  # a class filling the image has no boundary (edge is not one)


@pytest.mark.parametrize("tolerance", [1, 1.5, 3])
def test_one_pixel_shift_is_forgiven_with_tolerance(tolerance: float) -> None:
    assert _f1(_line(1), _line(0), tolerance) == 1.0


def test_one_pixel_shift_without_tolerance_is_a_miss() -> None:
    assert _f1(_line(1), _line(0), 0) == 0.0
    assert _f1(_line(0), _line(0), 0) == 1.0


def test_shifted_thick_wall_scores_lower_at_tolerance_zero() -> None:
    ref = np.zeros((20, 20), np.uint8)
    ref[5:10, 3:17] = 1
    pred = np.roll(ref, 1, axis=1)
    assert _f1(pred, ref, 1) == 1.0
    assert 0.0 < _f1(pred, ref, 0) < 1.0


def test_counts_by_hand() -> None:
    # ref: line of 10 pixels on row 3; pred: 5 pixels on row 3 (matching) + 5 pixels on row 10 (far away)
    ref = np.zeros((14, 14), np.uint8)
    ref[3, 2:12] = 1
    pred = np.zeros((14, 14), np.uint8)
    pred[3, 2:7] = 1
    pred[10, 2:7] = 1
    c = boundary_counts(pred, ref, 2, tolerance=1)[1]
    # pred boundary: 10 pixels, 5 within 1 px of ref. ref boundary: 10 pixels; those within 1 px of a pred
    # boundary pixel are columns 2..7 (column 7 is at distance 1 from column 6) -> 6.
    assert c.tolist() == [5, 10, 6, 10]
    p, r = 5 / 10, 6 / 10
    assert _f1(pred, ref, 1) == pytest.approx(2 * p * r / (p + r))


def test_empty_cases_follow_the_rule() -> None:
    empty = np.zeros((16, 16), np.uint8)
    assert math.isnan(_f1(empty, empty, 2))
    assert _f1(empty, empty, 2, empty="one") == 1.0
    assert _f1(empty, empty, 2, empty="zero") == 0.0
    # boundary on one side only: 0 under every rule
    for rule in ("exclude", "one", "zero"):
        assert _f1(_line(), empty, 2, empty=rule) == 0.0
        assert _f1(empty, _line(), 2, empty=rule) == 0.0


def test_ignored_reference_pixels_are_not_boundary() -> None:
    ref = _line(0)
    pred = _line(0)
    pred[12, 2:14] = 1  # a false wall ...
    ref_ignored = ref.copy()
    ref_ignored[11:14, :] = 255  # ... inside an ignored band
    assert _f1(pred, ref, 1) < 1.0
    assert _f1(pred, ref_ignored, 1) == 1.0


def test_pooled_counts_and_bad_inputs() -> None:
    counts = np.array([[[5, 10, 6, 10]], [[0, 0, 0, 0]]])  # (M=2, K=1, 4)
    per_image = boundary_f1_from_counts(counts)
    assert math.isnan(per_image[1, 0])
    assert boundary_f1_from_counts(counts.sum(axis=0))[0] == pytest.approx(per_image[0, 0])
    with pytest.raises(ValueError, match="tolerance"):
        boundary_counts(_line(), _line(), 2, tolerance=-1)
    with pytest.raises(ValueError, match="empty-mask rule"):
        boundary_f1_from_counts(counts, empty="nan")  # type: ignore[arg-type]
