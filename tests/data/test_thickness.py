"""Foreground thickness: it follows the resolution, ignores 255, and turns a probe mask into a resize factor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segattn.data.floorplans import generate_floorplan
from segattn.data.thickness import (
    FACTOR_RANGE,
    PROBE_PIXELS,
    probe_factor,
    reference_thickness,
    scale_factor,
    settles,
    structure_width,
)


@pytest.mark.parametrize("width", [3, 8, 20])
def test_a_band_measures_its_width(width: int) -> None:
    mask = np.zeros((400, 400), np.uint8)
    mask[100 : 100 + width, 20:380] = 1  # 360 long
    cross = mask.copy()
    cross[20:380, 200 : 200 + width] = 1  # a second band across it
    assert structure_width(mask) == pytest.approx(width, rel=0.1)
    assert structure_width(cross) == pytest.approx(width, rel=0.15)


@pytest.mark.parametrize("seed", range(3))
def test_the_thickness_follows_the_resolution(seed: int) -> None:
    _, mask = generate_floorplan(seed, 512)
    base = structure_width(mask)
    assert base is not None and 2 <= base <= 30
    for factor in (2, 3):
        big = cv2.resize(mask, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
        assert structure_width(big) / base == pytest.approx(factor, rel=0.1)
        # the factor --scale auto picks for the enlarged page brings its walls back to the reference
        assert scale_factor(base, big > 0, 1.0) == pytest.approx(1 / factor, rel=0.1)


def test_ignore_and_empty_masks() -> None:
    mask = np.full((64, 64), 255, np.uint8)
    assert structure_width(mask) is None  # all ignore
    assert structure_width(np.zeros((64, 64), bool)) is None
    assert reference_thickness([np.zeros((8, 8), np.uint8)]) is None
    assert reference_thickness([np.zeros((8, 8), np.uint8), np.pad(np.ones((4, 40), np.uint8), 10)]) > 3
    # a probe that found nothing keeps the probe's factor; a huge measure is clipped
    assert scale_factor(6.0, np.zeros((100, 100), bool), 0.37) == 0.37
    assert scale_factor(6.0, np.ones((2000, 2000), bool), 1.0) == FACTOR_RANGE[0]


def test_the_probe_never_enlarges_and_bounds_the_pixels() -> None:
    assert probe_factor(100, 100) == 1.0
    f = probe_factor(7383, 5671)
    assert f < 1 and (7383 * f) * (5671 * f) == pytest.approx(PROBE_PIXELS, rel=1e-6)


def test_a_probe_settles_only_near_the_factor_it_measures() -> None:
    assert settles(0.5, 0.53) and settles(1.0, 0.95)
    assert not settles(0.5, 0.35) and not settles(1.0, 1.2)
