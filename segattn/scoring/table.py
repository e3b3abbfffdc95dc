"""Per-image scores: one pair of masks -> counts; counts of many images <-> the per-image CSV.

Everything a report says is derived from two integer tables, so a report can be re-scored, pooled or compared
without the masks:

- ``counts``   ``(M, K, 3)`` ``[tp, fp, fn]`` per image and class (``segattn.metrics.confusion_counts``);
- ``boundary`` ``(M, K, 4)`` ``[pred_matched, pred_total, ref_matched, ref_total]`` (``boundary.boundary_counts``).

The CSV holds one row per (image, class) with the scores *and* these raw counts, so ``read_table`` gives back the
exact integers that were written. Excluded scores (the empty-mask rule) are written as an empty cell.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from segattn.labels import IGNORE_INDEX
from segattn.scoring.boundary import boundary_counts, boundary_f1_from_counts
from segattn.scoring.counts import (
    EmptyRule,
    confusion_counts,
    dice_from_counts,
    iou_from_counts,
    precision_from_counts,
    recall_from_counts,
)

COLUMNS = (
    "name",
    "class",
    "class_name",
    "dice",
    "iou",
    "precision",
    "recall",
    "boundary_f1",
    "tp",
    "fp",
    "fn",
    "pred_pixels",
    "ref_pixels",
    "boundary_pred_matched",
    "boundary_pred",
    "boundary_ref_matched",
    "boundary_ref",
)


@dataclass
class ScoreTable:
    """Scores of ``M`` images over ``K`` classes, in the order the images were scored."""

    names: list[str]
    counts: np.ndarray  # (M, K, 3) int64
    boundary: np.ndarray  # (M, K, 4) int64
    class_names: list[str]

    def __post_init__(self) -> None:
        m, k = len(self.names), len(self.class_names)
        if self.counts.shape != (m, k, 3) or self.boundary.shape != (m, k, 4):
            raise ValueError(
                f"score table shapes disagree: {m} names, {k} classes, counts {self.counts.shape}, "
                f"boundary {self.boundary.shape}"
            )
        if len(set(self.names)) != m:
            dupes = sorted({n for n in self.names if self.names.count(n) > 1})
            raise ValueError(f"image names must be unique in a report; repeated: {dupes[:10]}")

    def dice(self, empty: EmptyRule) -> np.ndarray:  # (M, K) float64, NaN where excluded
        return dice_from_counts(torch.from_numpy(self.counts), empty=empty).numpy()

    def foreground_dice(self, empty: EmptyRule) -> np.ndarray:  # (M,)
        return foreground_dice(self.counts, empty)


def foreground_dice(counts: np.ndarray, empty: EmptyRule) -> np.ndarray:
    """Per-image mean Dice over classes ``1..K-1`` (class 0 alone if ``K == 1``) of ``(..., K, 3)`` counts.

    NaN where every foreground class is excluded by the empty-mask rule.
    """
    dice = dice_from_counts(torch.from_numpy(np.asarray(counts)), empty=empty).numpy()  # (..., K)
    return nanmean_rows(dice[..., 1:] if dice.shape[-1] > 1 else dice)


def nanmean_rows(x: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring NaN; NaN (without a warning) where a row is all NaN."""
    keep = ~np.isnan(x)
    n = keep.sum(axis=-1)
    total = np.where(keep, x, 0.0).sum(axis=-1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def score_pair(
    pred: np.ndarray, target: np.ndarray, num_classes: int, *, tolerance: float, ignore_index: int | None = IGNORE_INDEX
) -> tuple[np.ndarray, np.ndarray]:
    """``(counts (K, 3), boundary (K, 4))`` of one ``(H, W)`` prediction against its reference."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and reference {target.shape} differ in size")
    counts = confusion_counts(
        torch.from_numpy(np.ascontiguousarray(pred)),
        torch.from_numpy(np.ascontiguousarray(target)),
        num_classes,
        ignore_index=ignore_index,
    )
    bound = boundary_counts(pred, target, num_classes, tolerance=tolerance, ignore_index=ignore_index)
    return counts.numpy(), bound


def _cell(x: float) -> str:
    return "" if math.isnan(x) else repr(float(x))


def write_table(path: Path, table: ScoreTable, *, empty: EmptyRule) -> None:
    """Write one CSV row per (image, class), scores under the ``empty`` rule plus the raw counts."""
    t = torch.from_numpy(table.counts)
    scores = {
        "dice": dice_from_counts(t, empty=empty).numpy(),
        "iou": iou_from_counts(t, empty=empty).numpy(),
        "precision": precision_from_counts(t, empty=empty).numpy(),
        "recall": recall_from_counts(t, empty=empty).numpy(),
        "boundary_f1": boundary_f1_from_counts(table.boundary, empty=empty),
    }
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i, name in enumerate(table.names):
            for k, cname in enumerate(table.class_names):
                tp, fp, fn = (int(v) for v in table.counts[i, k])
                w.writerow(
                    [
                        name,
                        k,
                        cname,
                        *(_cell(scores[s][i, k]) for s in ("dice", "iou", "precision", "recall")),
                        _cell(scores["boundary_f1"][i, k]),
                        tp,
                        fp,
                        fn,
                        tp + fp,
                        tp + fn,
                        *(int(v) for v in table.boundary[i, k]),
                    ]
                )


def read_table(path: Path) -> ScoreTable:
    """Read a per-image CSV written by ``write_table`` back into its integer counts."""
    path = Path(path)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not a segattn per-image CSV, missing columns {missing}")
        rows = list(reader)
    classes: dict[int, str] = {}
    order: dict[str, int] = {}
    for r in rows:
        classes.setdefault(int(r["class"]), r["class_name"])
        order.setdefault(r["name"], len(order))
    k = len(classes)
    if sorted(classes) != list(range(k)) or len(rows) != len(order) * k:
        raise ValueError(f"{path}: expected one row per image and class 0..{k - 1}; the rows are incomplete")
    ints = np.zeros((len(order), k, 7), np.int64)  # (M, K, 3 + 4)
    for r in rows:
        ints[order[r["name"]], int(r["class"])] = [int(r[c]) for c in ("tp", "fp", "fn", *COLUMNS[-4:])]
    return ScoreTable(list(order), ints[..., :3].copy(), ints[..., 3:].copy(), [classes[i] for i in range(k)])
