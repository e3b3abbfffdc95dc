"""``segattn compare``: did a variant beat the baseline, or is the difference noise?

For each run (see ``runs.py``) on the images every run scored:

- mean per-image foreground Dice with a 95% percentile-bootstrap interval over images;
- the paired per-image difference to the baseline (images matched by name): mean, 95% bootstrap interval and the
  two-sided Wilcoxon signed-rank p-value, plus Holm-adjusted p-values over all variants (several variants
  against one baseline are several tests);
- pooled (dataset-level) foreground Dice; parameters, FLOPs, training step time and inference time per image as
  measured by ``segattn test`` (``run.json``), "n/a" when not measured.

With several seeds per run, a run's per-image Dice is the mean over its seeds, and the per-seed means are listed
with their standard deviation: the bootstrap covers image-to-image variation only, the seed spread shows how much
training noise there is.

Runs scored on different image sets are refused unless ``intersect=True``, which compares the common images and
states how many each run lost.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path

import numpy as np
import torch

from segattn.reports.render import html_page, table_html
from segattn.reports.runs import COST_KEYS, Run, load_run, run_labels
from segattn.reports.svg import interval_svg
from segattn.reports.writer import prepare_out_dir
from segattn.scoring.counts import EMPTY_RULES, EmptyRule, dice_from_counts
from segattn.scoring.stats import bootstrap_ci, holm, paired_difference

COMPARE_FORMAT = "segattn-compare/1"
TIMING_NOTE = (
    "timings are each run's own, measured while it ran under whatever load the machine had, so they are not a fair "
    "comparison between runs; for costs measured side by side use bench/train_step.py (the same machine state for "
    "every variant)"
)
COMPARE_MARKERS = ("compare.json", "compare.md", "compare.html")


def common_images(runs: list[Run], *, intersect: bool) -> list[str]:
    """The image names every run scored; different sets raise ``ValueError`` unless ``intersect``."""
    sets = [set(r.names) for r in runs]
    common = set.intersection(*sets)
    if not intersect and any(s != sets[0] for s in sets):
        lines = []
        for r, s in zip(runs, sets, strict=True):
            missing, extra = sorted(set.union(*sets) - s), sorted(s - common)
            if missing or extra:
                lines.append(f"{r.label} ({r.folder}): {len(s)} images; lacks {missing[:10]}, only it has {extra[:10]}")
        raise ValueError(
            "the runs were scored on different images; pass --intersect to compare the "
            f"{len(common)} common ones:\n  " + "\n  ".join(lines)
        )
    if not common:
        raise ValueError("the runs have no image in common")
    return sorted(common)


def _pooled_foreground(run: Run, names: list[str]) -> float:
    """Dataset-level foreground Dice over ``names``, averaged over seeds (pooled counts: the rule never applies)."""
    values = []
    for t in run.tables:
        pooled = torch.from_numpy(t.counts[[t.names.index(n) for n in names]].sum(axis=0))  # (K, 3)
        d = dice_from_counts(pooled, empty="exclude").numpy()
        d = d[1:] if d.size > 1 else d
        values.append(float(np.nanmean(d)) if np.isfinite(d).any() else float("nan"))
    return float(np.mean(values))


def compare_runs(
    folders: list[Path],
    out: Path,
    *,
    baseline: Path | None = None,
    intersect: bool = False,
    empty: EmptyRule | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, object]:
    """Compare runs against ``baseline`` (default: the first run) and write compare.{json,md,html} + figures."""
    folders = [Path(f) for f in folders]
    if baseline is not None and Path(baseline).resolve() not in [f.resolve() for f in folders]:
        folders = [Path(baseline), *folders]
    if len(folders) < 2:
        raise ValueError("compare needs at least two runs (a baseline and one variant)")
    base_idx = 0 if baseline is None else [f.resolve() for f in folders].index(Path(baseline).resolve())
    runs = [load_run(f, label) for f, label in zip(folders, run_labels(folders), strict=True)]
    rules = sorted({rule for r in runs for rule in r.rules})
    if empty is None:
        if len(rules) > 1:
            raise ValueError(f"the reports used different empty-mask rules {rules}; choose one with --empty")
        empty = rules[0]  # type: ignore[assignment]
    if empty not in EMPTY_RULES:
        raise ValueError(f"unknown empty-mask rule {empty!r}; choose from {list(EMPTY_RULES)}")
    class_names = {tuple(r.tables[0].class_names) for r in runs}
    if len(class_names) > 1:
        raise ValueError(f"the runs have different classes: {sorted(class_names)}")
    names = common_images(runs, intersect=intersect)
    reads = {f"run {r.label}": r.folder for r in runs}
    out = prepare_out_dir(out, reads=reads, overwrite=overwrite, markers=COMPARE_MARKERS)

    base = runs[base_idx].per_image(empty, names)
    rows, p_values = [], []
    for i, run in enumerate(runs):
        scores = run.per_image(empty, names)
        ci = bootstrap_ci(scores[np.isfinite(scores)], seed=seed)
        seeds = run.seed_means(empty, names)
        row: dict[str, object] = {
            "label": run.label,
            "folder": str(run.folder),
            "reports": [str(p) for p in run.reports],
            "n_seeds": len(run.tables),
            "n_images": len(names),
            "images_dropped": len(run.names) - len(names),
            "dice_mean": ci.mean,
            "ci95_low": ci.low,
            "ci95_high": ci.high,
            "n_images_scored": ci.n,
            "seed_means": seeds,
            "seed_sd": float(np.std(seeds, ddof=1)) if len(seeds) > 1 else None,
            "dice_dataset": _pooled_foreground(run, names),
            **{k: run.cost(k) for k in COST_KEYS},
        }
        if i != base_idx:
            both = np.isfinite(scores) & np.isfinite(base)
            diff = paired_difference(base[both], scores[both], seed=seed)
            row["difference"] = diff.to_dict()
            p_values.append(diff.p_value)
        rows.append(row)
    adjusted = iter(holm(p_values))
    for i, row in enumerate(rows):
        if i != base_idx:
            row["difference"]["p_holm"] = next(adjusted)

    result = {
        "format": COMPARE_FORMAT,
        "empty_rule": empty,
        "baseline": runs[base_idx].label,
        "n_images": len(names),
        "intersect": intersect,
        "score": "foreground Dice per image (mean over foreground classes scored in the "
        "image; mean over seeds), then mean over images",
        "bootstrap": {"method": "percentile", "n_resamples": 10_000, "confidence": 0.95, "seed": seed},
        "test": "Wilcoxon signed-rank, two-sided, zero differences "
        "dropped (scipy.stats.wilcoxon); p_holm: Holm-adjusted over the variants",
        "timings": TIMING_NOTE,
        "runs": rows,
    }
    result = _no_nan(result)
    _write_outputs(out, result)
    return result


def _no_nan(x: object) -> object:
    """NaN (nothing scored) as JSON null."""
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_no_nan(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    return None if isinstance(x, float) and math.isnan(x) else x


def _fmt(v: object, digits: int = 4) -> str:
    if v is None or v == "n/a":
        return "n/a"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) < 1e5 else f"{v:.3g}"
    return str(v)


def _fmt_p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def _table(result: dict) -> tuple[list[str], list[list[str]]]:
    head = [
        "run",
        "seeds",
        "Dice mean/image [95% CI]",
        "seed sd",
        "Dice pooled",
        "Δ vs baseline [95% CI]",
        "p (Wilcoxon)",
        "p (Holm)",
        "pairs",
        "params",
        "FLOPs",
        "train ms/step*",
        "infer ms/image*",
    ]
    rows = []
    for r in result["runs"]:
        d = r.get("difference")
        delta = f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]" if d else "baseline"
        rows.append(
            [
                r["label"],
                str(r["n_seeds"]),
                f"{_fmt(r['dice_mean'])} [{_fmt(r['ci95_low'])}, {_fmt(r['ci95_high'])}]",
                _fmt(r["seed_sd"]),
                _fmt(r["dice_dataset"]),
                delta,
                _fmt_p(d["p_value"]) if d else "",
                _fmt_p(d["p_holm"]) if d else "",
                str(d["n_pairs"]) if d else "",
                _fmt(r["params"], 0),
                _fmt(r["flops"], 0),
                _fmt(r["train_step_ms"], 1),
                _fmt(r["inference_ms_per_image"], 1),
            ]
        )
    return head, rows


def _figures(result: dict) -> dict[str, str]:
    runs = result["runs"]
    dice = interval_svg(
        [r["label"] for r in runs],
        [r["dice_mean"] for r in runs],
        [r["ci95_low"] for r in runs],
        [r["ci95_high"] for r in runs],
        title="Foreground Dice, mean per image (95% CI)",
        reference=None,
    )
    var = [r for r in runs if "difference" in r]
    diff = interval_svg(
        [r["label"] for r in var],
        [r["difference"]["mean"] for r in var],
        [r["difference"]["low"] for r in var],
        [r["difference"]["high"] for r in var],
        title=f"Paired difference to {result['baseline']} (95% CI)",
        reference=0.0,
    )
    return {"figures/compare_dice.svg": dice, "figures/compare_difference.svg": diff}


def _write_outputs(out: Path, result: dict) -> None:
    head, rows = _table(result)
    figures = _figures(result)
    (out / "figures").mkdir(exist_ok=True)
    for rel, svg in figures.items():
        (out / rel).write_text(svg)
    intro = (
        f"Baseline: {result['baseline']}. {result['n_images']} images, empty-mask rule "
        f"{result['empty_rule']!r}. Score: {result['score']}. Test: {result['test']}. * {TIMING_NOTE}"
    )
    md = ["# Run comparison", "", intro, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += ["", *(f"![{Path(rel).stem}]({rel})\n" for rel in figures), "All numbers: `compare.json`.", ""]
    (out / "compare.md").write_text("\n".join(md))
    parts = ["<h1>Run comparison</h1>", f"<p>{escape(intro)}</p>", table_html(head, rows, row_headers=True)]
    parts += [f"<figure>{svg}</figure>" for svg in figures.values()]
    (out / "compare.html").write_text(html_page("Run comparison", parts))
    result["files"] = [*COMPARE_MARKERS, *figures]
    (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
