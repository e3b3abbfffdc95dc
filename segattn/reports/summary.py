"""The summary JSON of a report: dataset-level and mean per-image scores, empty cases, and the rule used.

Two Dice values per class, because they answer different questions and can differ a lot:

- ``dice_dataset``: pool TP/FP/FN over all images, then ``2TP / (2TP + FP + FN)`` — large images weigh more;
- ``dice_mean_per_image``: Dice per image, then the mean over the images the empty-mask rule keeps.

``per_image_foreground`` is the number ``segattn compare`` ranks runs by: per image the mean Dice over the
foreground classes scored in that image, then the mean over images, with a bootstrap 95% interval.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from segattn import __version__
from segattn.scoring.boundary import boundary_f1_from_counts
from segattn.scoring.counts import EmptyRule, precision_from_counts, recall_from_counts, summarize_counts
from segattn.scoring.stats import bootstrap_ci
from segattn.scoring.table import ScoreTable, nanmean_rows

REPORT_FORMAT = "segattn-report/1"
EMPTY_RULE_TEXT: dict[str, str] = {
    "exclude": "an (image, class) whose reference and prediction are both empty is excluded: no score (empty cell "
    "in per_image.csv) and left out of per-image means, as in nnU-Net",
    "one": "an (image, class) whose reference and prediction are both empty scores 1 (a correct 'nothing here')",
    "zero": "an (image, class) whose reference and prediction are both empty scores 0",
}
_COMMON_RULE = "; an empty reference with a non-empty prediction, or the reverse, scores 0 under every rule"


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def build_summary(
    table: ScoreTable, *, empty: EmptyRule, tolerance: float, source: dict[str, object], seed: int = 0
) -> dict[str, object]:
    """JSON-ready summary of ``table``; NaN (nothing scored) becomes ``null``."""
    counts = torch.from_numpy(table.counts)
    base = summarize_counts(counts, empty=empty, classes=table.class_names)
    pooled = counts.sum(dim=0)  # (K, 3)
    b_img = boundary_f1_from_counts(table.boundary, empty=empty)  # (M, K)
    b_pooled = boundary_f1_from_counts(table.boundary.sum(axis=0), empty=empty)  # (K,)
    classes: dict[str, dict[str, object]] = {}
    for k, name in enumerate(table.class_names):
        entry = dict(base["classes"][name])
        entry["precision_dataset"] = float(precision_from_counts(pooled[k], empty=empty))
        entry["recall_dataset"] = float(recall_from_counts(pooled[k], empty=empty))
        entry["boundary_f1_dataset"] = float(b_pooled[k])
        entry["boundary_f1_mean_per_image"] = float(nanmean_rows(b_img[:, k]))
        entry["n_boundary_scored"] = int((~np.isnan(b_img[:, k])).sum())
        classes[name] = {key: _json_float(v) if isinstance(v, float) else v for key, v in entry.items()}

    fg = table.foreground_dice(empty)  # (M,)
    scored = fg[~np.isnan(fg)]
    ci = bootstrap_ci(scored, seed=seed)
    return {
        "format": REPORT_FORMAT,
        "segattn_version": __version__,
        "source": source,
        "n_images": len(table.names),
        "num_classes": len(table.class_names),
        "class_names": table.class_names,
        "empty_rule": {"name": empty, "meaning": EMPTY_RULE_TEXT[empty] + _COMMON_RULE},
        "boundary_tolerance_px": tolerance,
        "classes": classes,
        "foreground": {k: _json_float(v) for k, v in base["foreground"].items()},
        "per_image_foreground": {
            "dice_mean": _json_float(ci.mean),
            "ci95_low": _json_float(ci.low),
            "ci95_high": _json_float(ci.high),
            "n_images_scored": ci.n,
            "n_images_excluded": int(np.isnan(fg).sum()),
            "bootstrap": {"method": "percentile", "n_resamples": 10_000, "seed": seed},
        },
    }
