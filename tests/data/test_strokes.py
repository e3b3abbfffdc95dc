"""The stroke width: it follows the resolution, and a page without ink has none."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segattn.data.floorplans import generate_floorplan
from segattn.data.strokes import reference_width, run_lengths, scale_factor, stroke_width


def test_run_lengths_along_rows_and_columns() -> None:
    ink = np.zeros((5, 6), bool)
    ink[1, 1:4] = True  # one horizontal run of 3, three vertical runs of 1
    ink[3:5, 5] = True  # one vertical run of 2, two horizontal runs of 1
    assert sorted(run_lengths(ink).tolist()) == [1, 1, 1, 1, 1, 2, 3]


@pytest.mark.parametrize("seed", range(4))
def test_the_width_follows_the_resolution(seed: int) -> None:
    image, _ = generate_floorplan(seed, 512)
    base = stroke_width(image)
    assert base is not None and 1 <= base <= 6
    for factor in (2, 3):
        big = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        assert stroke_width(big) / base == pytest.approx(factor, rel=0.25)
    # the factor --scale auto picks for the enlarged page brings it back
    assert scale_factor(base, stroke_width(cv2.resize(image, None, fx=3, fy=3))) == pytest.approx(1 / 3, rel=0.25)


def test_blank_and_black_pages_have_no_width() -> None:
    assert stroke_width(np.full((64, 64), 255, np.uint8)) is None
    assert stroke_width(np.zeros((64, 64, 3), np.float32)) is None
    assert reference_width([np.full((8, 8), 255, np.uint8)]) is None
    assert scale_factor(2.0, None) == 1.0
