"""``segattn evaluate`` end to end on small mask folders made here: numbers, files, refusals."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from segattn.commands.evaluate import main as evaluate_main


def _write(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), arr)


@pytest.fixture()
def folders(tmp_path: Path) -> dict[str, Path]:
    """Predictions as 0/255 PNGs (like a viewer-friendly writer), references as 0/1 index PNGs, 3 images."""
    pred, gt, img = tmp_path / "pred", tmp_path / "gt", tmp_path / "images"
    ref = np.zeros((12, 16), np.uint8)
    ref[4:8, 2:14] = 1  # a 4 x 12 wall: 48 pixels
    shifted = np.roll(ref, 1, axis=0)  # tp 36, fp 12, fn 12 -> Dice 72/96 = 0.75
    _write(gt / "a.png", ref)
    _write(pred / "a.png", ref * 255)  # perfect
    _write(gt / "sub" / "b.png", ref)
    _write(pred / "sub" / "b.png", shifted * 255)
    _write(gt / "c.png", np.zeros_like(ref))  # empty reference, empty prediction -> excluded
    _write(pred / "c.png", np.zeros_like(ref))
    for name in ("a", "sub/b", "c"):
        _write(img / f"{name}.jpg", np.full((12, 16, 3), 200, np.uint8))
    return {"pred": pred, "gt": gt, "images": img, "out": tmp_path / "report"}


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def _args(f: dict[str, Path], *extra: str) -> list[str]:
    return ["--pred", str(f["pred"]), "--gt", str(f["gt"]), "--out", str(f["out"]), *extra]


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(dict(attrs)["src"] or "")


def test_report_numbers_and_files(folders, capsys) -> None:
    evaluate_main(_args(folders, "--images", str(folders["images"]), "--tolerance", "1"))
    out = folders["out"]
    assert capsys.readouterr().out.startswith("3 images")  # c is reported although its Dice is excluded
    rows = {(r["name"], r["class"]): r for r in csv.DictReader(open(out / "per_image.csv"))}
    assert set(rows) == {(n, k) for n in ("a", "sub/b", "c") for k in ("0", "1")}
    assert float(rows["a", "1"]["dice"]) == 1.0
    b = rows["sub/b", "1"]
    assert (b["tp"], b["fp"], b["fn"]) == ("36", "12", "12")
    assert float(b["dice"]) == pytest.approx(0.75)
    assert float(b["boundary_f1"]) == 1.0  # a one-pixel shift is forgiven at tolerance 1
    assert rows["c", "1"]["dice"] == ""  # both empty: excluded

    s = json.loads((out / "summary.json").read_text())
    assert s["empty_rule"]["name"] == "exclude" and "excluded" in s["empty_rule"]["meaning"]
    fg = s["classes"]["foreground"]
    assert fg["dice_mean_per_image"] == pytest.approx((1 + 0.75) / 2)
    assert fg["dice_dataset"] == pytest.approx(2 * 84 / (2 * 84 + 12 + 12))
    assert (fg["n_images_scored"], fg["n_both_empty"], fg["n_reference_empty"]) == (2, 1, 1)
    assert s["per_image_foreground"]["n_images_excluded"] == 1
    for rel in s["files"]:
        assert (out / rel).is_file(), rel

    # HTML: parses, self-contained (every panel an embedded JPEG or PNG), the histogram is inline SVG
    html = (out / "report.html").read_text()
    parser = _Collect()
    parser.feed(html)
    parser.close()
    assert "svg" in parser.tags and "table" in parser.tags
    assert len(parser.imgs) == 2 * 2 * 4  # best 2 and worst 2 of the two scored images, four panels each
    for src in parser.imgs:
        assert re.match(r"data:image/(jpeg|png);base64,", src)
        panel = cv2.imdecode(np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
        assert panel.shape == (12, 16, 3)  # the images are small: panels at full size
    # Markdown: every referenced figure exists; the SVG is well-formed XML
    md = (out / "report.md").read_text()
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert refs and all((out / r).is_file() for r in refs)
    ET.fromstring((out / "figures" / "dice_histogram.svg").read_text())


def test_never_writes_into_inputs_and_refuses_to_overwrite(folders, capsys) -> None:
    before = {k: _snapshot(folders[k]) for k in ("pred", "gt")}
    evaluate_main(_args(folders))
    assert {k: _snapshot(folders[k]) for k in ("pred", "gt")} == before
    (folders["out"] / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as exc:
        evaluate_main(_args(folders))
    assert exc.value.code == 2 and "--overwrite" in capsys.readouterr().err
    evaluate_main(_args(folders, "--overwrite", "--examples", "0"))
    assert (folders["out"] / "notes.txt").read_text() == "mine"  # a user's file survives --overwrite
    assert not list((folders["out"] / "figures").glob("*.png"))  # the old report's example figures are gone
    for inside in (folders["gt"], folders["pred"] / "sub"):
        with pytest.raises(SystemExit):
            evaluate_main(["--pred", str(folders["pred"]), "--gt", str(folders["gt"]), "--out", str(inside)])
        assert "inside the" in capsys.readouterr().err
    assert {k: _snapshot(folders[k]) for k in ("pred", "gt")} == before


def test_mismatched_folders_list_the_missing_files(folders, capsys) -> None:
    (folders["pred"] / "a.png").unlink()
    _write(folders["pred"] / "extra.png", np.zeros((12, 16), np.uint8))
    with pytest.raises(SystemExit):
        evaluate_main(_args(folders))
    err = capsys.readouterr().err
    assert "no prediction" in err and "1 reference masks: a (" in err
    assert "no reference mask" in err and "1 predictions: extra" in err
    assert not folders["out"].exists()  # refused before anything was written


def test_size_mismatch_and_bad_values_name_the_file(folders, capsys) -> None:
    _write(folders["pred"] / "a.png", np.zeros((10, 16), np.uint8))
    with pytest.raises(SystemExit):
        evaluate_main(_args(folders))
    err = capsys.readouterr().err
    assert "a.png" in err and "16x10" in err and "16x12" in err
    _write(folders["pred"] / "a.png", np.full((12, 16), 7, np.uint8))
    with pytest.raises(SystemExit):
        evaluate_main(_args(folders, "--overwrite"))
    assert "a.png" in capsys.readouterr().err


def test_empty_rule_one_scores_the_empty_image(folders) -> None:
    evaluate_main(_args(folders, "--empty", "one"))
    s = json.loads((folders["out"] / "summary.json").read_text())
    assert s["classes"]["foreground"]["dice_mean_per_image"] == pytest.approx((1 + 0.75 + 1) / 3)
    assert s["empty_rule"]["name"] == "one"


def test_only_predicted_scores_a_split_but_never_unreferenced_predictions(folders, capsys) -> None:
    (folders["pred"] / "a.png").unlink()  # predictions for a split: b and c only
    with pytest.raises(SystemExit):
        evaluate_main(_args(folders))
    assert "--only_predicted" in capsys.readouterr().err
    evaluate_main(_args(folders, "--only_predicted"))
    s = json.loads((folders["out"] / "summary.json").read_text())
    assert s["n_images"] == 2 and "only those with a prediction" in s["source"]["references_scored"]
    _write(folders["pred"] / "extra.png", np.zeros((12, 16), np.uint8))
    with pytest.raises(SystemExit):
        evaluate_main(_args(folders, "--only_predicted", "--overwrite"))
    assert "1 predictions: extra" in capsys.readouterr().err


@pytest.mark.parametrize("k", ["1", "0", "-3"])
def test_fewer_than_two_classes_is_a_usage_error(folders, capsys, k: str) -> None:
    # issue 11: --num_classes 1 scored all-empty predictions as Dice 1.0
    with pytest.raises(SystemExit) as info:
        evaluate_main(_args(folders, "--num_classes", k))
    assert info.value.code == 2 and "must be >= 2" in capsys.readouterr().err
    assert not folders["out"].exists()
