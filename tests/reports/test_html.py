"""The HTML pages' structure, read with ``html.parser`` (no browser): what lets them read well at any width.

``bench/report_browser.py`` checks the rendered layout in headless Chromium; these tests check, on every run, the
structure that layout depends on: the viewport meta tag, every table in a scrolling wrapper, no empty header cell,
colour legends drawn as swatches, captioned panels, a y axis with several ticks, panels embedded as the smaller of
JPEG and PNG.
"""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from segattn.data.floorplans import generate_floorplan
from segattn.reports.compare import compare_runs
from segattn.reports.examples import ERROR_COLOURS, PANEL_ORDER, Example, ExampleKeeper, class_colours, make_panels
from segattn.reports.render import data_uri, example_strip, jpeg_bytes, png_bytes
from segattn.reports.writer import prepare_out_dir, write_report
from segattn.scoring.table import ScoreTable, foreground_dice, score_pair

VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent, self.children, self.text = tag, attrs, parent, [], ""

    def all(self, tag: str, cls: str | None = None) -> list[Node]:
        found = [c for c in self.children if c.tag == tag and (cls is None or cls in c.classes)]
        return found + [n for c in self.children for n in c.all(tag, cls)]

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    def text_all(self) -> str:
        return self.text + "".join(c.text_all() for c in self.children)


class Tree(HTMLParser):
    """The page as a tree of ``Node``; a start tag with no end tag (``<line .../>``, ``<img>``) is a leaf."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.root = self.node = Node("#document", {}, None)
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.node)
        self.node.children.append(node)
        if tag not in VOID:
            self.node = node

    def handle_startendtag(self, tag, attrs) -> None:
        self.node.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.node))

    def handle_endtag(self, tag) -> None:
        node = self.node
        while node.tag != tag and node.parent is not None:
            node = node.parent
        assert node.parent is not None, f"</{tag}> closes nothing"
        self.node = node.parent

    def handle_data(self, data) -> None:
        self.node.text += data


def _report(folder: Path, plans: list[tuple[np.ndarray, np.ndarray]], seed: int, n_examples: int) -> Path:
    rng = np.random.default_rng(seed)
    keeper, counts, bounds = ExampleKeeper(n_examples), [], []
    for i, (image, mask) in enumerate(plans):
        pred = mask.copy()
        pred[rng.integers(0, 40) :, : rng.integers(8, 60)] = 0  # a missed block, larger or smaller per image
        c, b = score_pair(pred, mask, 2, tolerance=2.0)
        keeper.offer(
            f"plan_{i}", float(foreground_dice(c, "exclude")), lambda p=pred, g=mask, x=image: make_panels(p, g, x)
        )
        counts.append(c)
        bounds.append(b)
    table = ScoreTable([f"plan_{i}" for i in range(len(plans))], np.stack(counts), np.stack(bounds), ["bg", "wall"])
    out = prepare_out_dir(folder, reads={}, overwrite=False)
    write_report(out, table, empty="exclude", tolerance=2.0, source={"test": "test_html"}, examples=keeper)
    return out


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A report of four 96² scanned plans (two best, two worst examples) and the comparison of two such runs."""
    root = tmp_path_factory.mktemp("html")
    plans = [generate_floorplan(seed, 96) for seed in range(4)]
    a, b = _report(root / "a", plans, 0, 2), _report(root / "b", plans, 1, 0)
    compare_runs([a, b], root / "cmp")
    html = {"report": (a / "report.html").read_text(), "compare": (root / "cmp" / "compare.html").read_text()}
    return {"html": html, "trees": {k: Tree(v).root for k, v in html.items()}}


@pytest.mark.parametrize("page", ["report", "compare"])
def test_page_structure(pages, page) -> None:
    tree = pages["trees"][page]
    metas = [m.attrs.get("content", "") for m in tree.all("meta") if m.attrs.get("name") == "viewport"]
    assert metas and "width=device-width" in metas[0]
    ths = tree.all("th")
    assert ths and all(th.text_all().strip() for th in ths)
    tables = tree.all("table")
    assert tables and all(t.parent.tag == "div" and "table-wrap" in t.parent.classes for t in tables)
    style = "".join(s.text for s in tree.all("style"))
    assert re.search(r"\.table-wrap\{[^}]*overflow-x:(auto|scroll)", style)
    for shrinks in ("img", "svg"):  # panels and charts narrow down with the page
        assert re.search(rf"(^|}})[^{{}}]*\b{shrinks}\b[^{{}}]*\{{[^}}]*max-width:100%", style), shrinks


def test_legend_swatches_name_every_colour(pages) -> None:
    tree = pages["trees"]["report"]
    drawn = set()
    for swatch in tree.all("span", "swatch"):
        rgb = re.fullmatch(r"background:rgb\((\d+),(\d+),(\d+)\)", swatch.attrs["style"]).groups()
        drawn.add((swatch.parent.text_all().strip(), tuple(int(v) for v in rgb)))
    assert set(ERROR_COLOURS.items()) <= drawn
    assert "rgb(0, 170, 0)" not in pages["html"]["report"]  # the colours are drawn, not written out
    assert ("wall", tuple(int(v) for v in class_colours(2)[1])) in drawn  # the class colour of the mask panels


def test_every_panel_is_captioned_and_embedded_as_the_smaller_encoding(pages) -> None:
    examples = pages["trees"]["report"].all("figure", "example")
    assert len(examples) == 4  # best 2 and worst 2
    for ex in examples:
        assert re.fullmatch(r"plan_\d — Dice [01]\.\d{4}", ex.children[0].text_all().strip())
        panels = ex.all("figure", "panel")
        assert [p.all("figcaption")[0].text_all().strip() for p in panels] == list(PANEL_ORDER)
        for p in panels:
            (img,) = p.all("img")
            mime, data = re.fullmatch(r"data:image/(jpeg|png);base64,(.+)", img.attrs["src"]).groups()
            raw = base64.b64decode(data)
            rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            assert rgb.shape[:2] == (int(img.attrs["height"]), int(img.attrs["width"]))
            assert img.attrs["alt"] == f"{ex.children[0].text_all().split()[0]}: {p.all('figcaption')[0].text_all()}"
            other = png_bytes(rgb) if mime == "jpeg" else jpeg_bytes(rgb)  # the encoding not chosen, of these pixels
            assert len(raw) <= len(other)


def test_data_uri_picks_jpeg_for_scans_and_png_for_flat_masks() -> None:
    scan, mask = generate_floorplan(0, 256)
    flat = make_panels(mask, mask)["reference"]  # no image: flat colours on white
    for rgb, mime in ((scan, "jpeg"), (flat, "png")):
        uri = data_uri(rgb)
        assert uri.startswith(f"data:image/{mime};base64,")
        size = len(base64.b64decode(uri.split(",", 1)[1]))
        assert size == min(len(jpeg_bytes(rgb)), len(png_bytes(rgb)))
    assert len(jpeg_bytes(scan)) < len(png_bytes(scan)) / 3


def test_report_histogram_is_inline_with_its_axis(pages) -> None:
    (svg,) = pages["trees"]["report"].all("svg")
    assert len(svg.all("g", "y-axis")[0].all("text")) >= 4


def test_markdown_strip_carries_the_panel_captions() -> None:
    image, mask = generate_floorplan(0, 64)
    ex = Example(1.0, "plan", make_panels(mask, mask, image))
    plain, captioned = example_strip(ex, captions=False), example_strip(ex)
    band = captioned.shape[0] - plain.shape[0]
    assert band > 10 and captioned.shape[1] == plain.shape[1]
    assert (captioned[:band] < 128).any() and np.array_equal(captioned[band:], plain)
