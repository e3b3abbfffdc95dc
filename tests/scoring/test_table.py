"""Per-image rows: hand-computed cases (partial overlap, miss, both empty, class absent) and the CSV round trip."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from segattn.scoring.table import ScoreTable, foreground_dice, read_table, score_pair, write_table


def _m(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, np.uint8)


# Three 2x4 images, 3 classes (0 background, 1 wall, 2 door):
CASES = {
    # class 1: tp 2, fp 1, fn 1 -> Dice 4/6; class 2 absent from both -> excluded
    "partial": (_m([[1, 1, 1, 0], [0, 0, 0, 0]]), _m([[0, 1, 1, 1], [0, 0, 0, 0]])),
    # class 1 missed entirely (tp 0, fp 0, fn 2) -> 0; class 2 predicted but absent (fp 2) -> 0
    "miss": (_m([[0, 0, 2, 2], [0, 0, 0, 0]]), _m([[1, 1, 0, 0], [0, 0, 0, 0]])),
    # nothing but background in both -> classes 1 and 2 excluded, foreground mean is NaN
    "empty": (np.zeros((2, 4), np.uint8), np.zeros((2, 4), np.uint8)),
}


def _table() -> ScoreTable:
    scored = [score_pair(p, g, 3, tolerance=1) for p, g in CASES.values()]
    return ScoreTable(
        list(CASES), np.stack([c for c, _ in scored]), np.stack([b for _, b in scored]), ["bg", "wall", "door"]
    )


def test_counts_and_dice_by_hand() -> None:
    t = _table()
    assert t.counts[0, 1].tolist() == [2, 1, 1]
    assert t.counts[1, 1].tolist() == [0, 0, 2] and t.counts[1, 2].tolist() == [0, 2, 0]
    assert t.counts[2, 1:].tolist() == [[0, 0, 0], [0, 0, 0]]
    dice = t.dice("exclude")
    assert dice[0, 1] == pytest.approx(4 / 6) and math.isnan(dice[0, 2])
    assert dice[1, 1] == 0 and dice[1, 2] == 0
    assert np.isnan(dice[2, 1:]).all()
    fg = t.foreground_dice("exclude")
    assert fg[0] == pytest.approx(4 / 6)  # the absent door class does not drag the mean down
    assert fg[1] == 0 and math.isnan(fg[2])
    assert foreground_dice(t.counts, "one").tolist() == pytest.approx([(4 / 6 + 1) / 2, 0.0, 1.0])
    assert foreground_dice(t.counts, "zero").tolist() == pytest.approx([(4 / 6) / 2, 0.0, 0.0])


def test_ignored_pixels_are_not_counted() -> None:
    pred = _m([[1, 1, 0, 0]])
    ref = _m([[1, 255, 255, 0]])
    counts, _ = score_pair(pred, ref, 2, tolerance=1)
    assert counts[1].tolist() == [1, 0, 0]


def test_csv_round_trip_and_cells(tmp_path) -> None:
    t = _table()
    path = tmp_path / "per_image.csv"
    write_table(path, t, empty="exclude")
    rows = list(csv.DictReader(open(path)))
    assert len(rows) == 3 * 3  # one row per image and class
    partial_wall = next(r for r in rows if r["name"] == "partial" and r["class_name"] == "wall")
    assert float(partial_wall["dice"]) == pytest.approx(4 / 6)
    assert float(partial_wall["iou"]) == pytest.approx(2 / 4)
    assert (partial_wall["pred_pixels"], partial_wall["ref_pixels"]) == ("3", "3")
    empty_door = next(r for r in rows if r["name"] == "empty" and r["class_name"] == "door")
    assert empty_door["dice"] == "" and empty_door["boundary_f1"] == ""  # excluded: an empty cell, not 0
    back = read_table(path)
    assert back.names == t.names and back.class_names == t.class_names
    np.testing.assert_array_equal(back.counts, t.counts)
    np.testing.assert_array_equal(back.boundary, t.boundary)


def test_table_rejects_duplicates_and_bad_csv(tmp_path) -> None:
    c, b = score_pair(*CASES["partial"], 3, tolerance=1)
    with pytest.raises(ValueError, match="repeated"):
        ScoreTable(["a", "a"], np.stack([c, c]), np.stack([b, b]), ["bg", "wall", "door"])
    bad = tmp_path / "x.csv"
    bad.write_text("name,dice\na,0.5\n")
    with pytest.raises(ValueError, match="missing columns"):
        read_table(bad)
    with pytest.raises(ValueError, match="differ in size"):
        score_pair(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8), 2, tolerance=1)
