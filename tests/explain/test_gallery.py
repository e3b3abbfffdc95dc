"""The explain folder: float16 maps, PNG overlays, a self-contained page, every file listed, overwrite rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from segattn.explain import explain
from segattn.explain.gallery import Gallery, slug

from .helpers import plan_image, segmenter, tiny_net


def _gallery(out: Path, **kw) -> Gallery:
    gallery = Gallery(out, source={"model": "tiny"}, **kw)
    seg = segmenter(tiny_net(["self_attention", "cbam", "se"]))
    for i in range(2):
        gallery.add(explain(seg, plan_image(seed=i), name=f"sub/plan_{i}.png", points=[(3, 4)]))
    gallery.fail("broken.png", "broken.png: not an image")
    gallery.finish()
    return gallery


def test_files_maps_and_a_self_contained_page(tmp_path: Path) -> None:
    out = tmp_path / "explain"
    _gallery(out)
    index = json.loads((out / "explain.json").read_text())
    listed = set(index["files"])
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert listed == on_disk
    first = index["images"][0]
    assert first["name"] == "sub/plan_0.png" and first["points"][-1] == {
        "label": "user 1",
        "kind": "user",
        "x": 3,
        "y": 4,
        "tile_box": [0, 0, 64, 64],
    }
    spatial = first["attention"][1]["spatial"]["spatial gate"]
    values = np.load(out / spatial["file"])
    assert values.dtype == np.float16 and values.shape == (64, 64)
    assert float(values.min()) == pytest.approx(spatial["min"], abs=1e-3)
    assert np.load(out / first["attention"][2]["channel"]["gate"]["file"]).shape == (8,)
    assert len(first["attention"][0]["points"]["attention"]) == len(first["points"])
    assert (out / "figures/sub/plan_0/stage1_post_spatial-gate.png").is_file()
    assert index["failed"] == [{"name": "broken.png", "error": "broken.png: not an image"}]

    html = (out / "explain.html").read_text()
    assert not re.search(r'src="(?!data:)', html) and "<link" not in html  # everything embedded
    assert html.count("<img") == 2 * (2 + len(first["points"]) + 1)  # image, prediction, the points, the spatial gate
    assert "Channel gates across images" in html and "broken.png" in html
    assert "the tile whose centre is nearest" in html


def test_an_existing_gallery_is_replaced_only_with_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "explain"
    _gallery(out)
    (out / "mine.txt").write_text("not the gallery's")
    with pytest.raises(FileExistsError, match="--overwrite"):
        Gallery(out)
    old = set(json.loads((out / "explain.json").read_text())["files"])
    Gallery(out, overwrite=True)  # removes exactly the listed files
    left = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert left == {"mine.txt"} and not (left & old)


def test_slugs() -> None:
    assert [slug(s) for s in ("spatial gate", "α", "gate, mean over channels", "sSE")] == [
        "spatial-gate",
        "alpha",
        "gate-mean-over-channels",
        "sse",
    ]
