"""The SVG charts: the histogram's count axis, the nice tick values behind it, and the docstring examples."""

from __future__ import annotations

import doctest
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import segattn.reports.svg
from segattn.reports.svg import histogram_svg

NS = {"svg": "http://www.w3.org/2000/svg"}


@pytest.mark.parametrize("values", [[0.5], [0.1, 0.2, 0.25], np.linspace(0, 1, 57), np.full(1234, 0.9), []])
def test_histogram_has_a_y_axis_of_nice_integer_ticks(values) -> None:
    svg = ET.fromstring(histogram_svg(np.asarray(values, float)))
    (axis,) = svg.findall(".//svg:g[@class='y-axis']", NS)
    ticks = [int(t.text) for t in axis.findall("svg:text", NS)]
    peak = int(np.histogram(np.asarray(values, float), bins=20, range=(0, 1))[0].max(initial=0))
    assert len(ticks) >= 4 and ticks[0] == 0 and ticks[-1] >= peak
    steps = set(np.diff(ticks))
    assert len(steps) == 1 and re.fullmatch(r"[125]0*", str(steps.pop()))
    grid = [float(line.get("y1")) for line in axis.findall("svg:line", NS)]  # one gridline per tick
    base, per_count = grid[0], (grid[0] - grid[-1]) / ticks[-1]
    for bar in svg.findall(".//svg:rect", NS):  # every bar ends at its count on that axis
        count = int(bar.find("svg:title", NS).text.rsplit(": ", 1)[1])
        assert float(bar.get("y")) == pytest.approx(base - count * per_count, abs=0.01)
    labels = svg.findall(".//svg:text", NS)
    assert any(t.text == "images" and "rotate(-90" in t.get("transform", "") for t in labels)  # the y axis's label


def test_svg_doctests() -> None:
    assert doctest.testmod(segattn.reports.svg).failed == 0
