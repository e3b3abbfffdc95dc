"""Pure scoring: confusion counts -> Dice / IoU / precision / recall / boundary F1, the per-image table, and the
statistics of a mean and of a paired difference (bootstrap, Wilcoxon, Holm). No Lightning, no files but the CSV.

- ``counts``: ``[tp, fp, fn]`` per image and class and every score from them; the empty-mask rule;
- ``boundary``: boundary F1 with a pixel tolerance, also as counts;
- ``table``: one pair of masks -> its counts; many images <-> the per-image CSV (``ScoreTable``);
- ``stats``: bootstrap intervals, Wilcoxon signed-rank, Holm.
"""

from .boundary import boundary_counts, boundary_f1_from_counts
from .counts import (
    EMPTY_RULES,
    EmptyRule,
    confusion_counts,
    dice_from_counts,
    iou_from_counts,
    precision_from_counts,
    recall_from_counts,
    summarize_counts,
)
from .stats import bootstrap_ci, holm, paired_difference, wilcoxon_p
from .table import ScoreTable, foreground_dice, nanmean_rows, read_table, score_pair, write_table

__all__ = [
    "EMPTY_RULES",
    "EmptyRule",
    "ScoreTable",
    "bootstrap_ci",
    "boundary_counts",
    "boundary_f1_from_counts",
    "confusion_counts",
    "dice_from_counts",
    "foreground_dice",
    "holm",
    "iou_from_counts",
    "nanmean_rows",
    "paired_difference",
    "precision_from_counts",
    "read_table",
    "recall_from_counts",
    "score_pair",
    "summarize_counts",
    "wilcoxon_p",
    "write_table",
]
