"""Load a "run" for ``segattn compare``: one or more reports (seeds) plus the run metadata beside them.

A run is a folder holding reports written by ``segattn test`` or ``segattn evaluate`` (``summary.json`` +
``per_image.csv``, and ``run.json`` when the test callback could measure costs). A folder that is itself a report
is one run with one seed; otherwise every report below it is one seed of the run (``segattn ablate`` writes
``OUT/<attention>/seed<S>/report``). Seeds must have scored the same images, and be different trainings: two
reports of one fit (its ``best.ckpt`` and ``last.ckpt``, or one checkpoint twice) are refused, since counting them
as two seeds shrinks the seed spread and weights that fit twice.

Scores are recomputed from the raw counts in ``per_image.csv``, so every run of one comparison is scored under one
empty-mask rule.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segattn.reports.summary import REPORT_FORMAT
from segattn.reports.writer import PER_IMAGE, RUN_INFO, SUMMARY
from segattn.scoring.counts import EmptyRule
from segattn.scoring.table import ScoreTable, nanmean_rows, read_table

COST_KEYS = ("params", "flops", "train_step_ms", "inference_ms_per_image")


@dataclass
class Run:
    label: str
    folder: Path
    reports: list[Path]
    tables: list[ScoreTable]
    rules: list[str]
    infos: list[dict] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return self.tables[0].names

    def per_image(self, empty: EmptyRule, names: list[str]) -> np.ndarray:
        """``(len(names),)`` foreground Dice per image, averaged over seeds (NaN only if excluded in every seed)."""
        per_seed = [t.foreground_dice(empty)[[t.names.index(n) for n in names]] for t in self.tables]  # S x (N,)
        return nanmean_rows(np.stack(per_seed, axis=1))  # (N, S) -> (N,)

    def seed_means(self, empty: EmptyRule, names: list[str]) -> list[float]:
        """Mean per-image foreground Dice of each seed over ``names``."""
        out = []
        for t in self.tables:
            d = t.foreground_dice(empty)[[t.names.index(n) for n in names]]
            out.append(float(np.nanmean(d)) if np.isfinite(d).any() else math.nan)
        return out

    def cost(self, key: str) -> int | float | str:
        """Mean over seeds of a measured cost (counts stay integers); "n/a" when no seed measured it."""
        values = [i[key] for i in self.infos if isinstance(i.get(key), (int, float)) and not isinstance(i[key], bool)]
        if not values:
            return "n/a"
        mean = float(np.mean(values))
        return round(mean) if all(isinstance(v, int) for v in values) else mean


def find_reports(folder: Path) -> list[Path]:
    """Report folders at or below ``folder`` (a folder holding ``summary.json`` + ``per_image.csv``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"run folder {folder} does not exist")
    if (folder / SUMMARY).is_file():
        return [folder]
    found = sorted(p.parent for p in folder.rglob(SUMMARY) if (p.parent / PER_IMAGE).is_file())
    if not found:
        raise ValueError(
            f"{folder} holds no report (summary.json + per_image.csv); run `segattn test` or "
            "`segattn evaluate --out` into it first"
        )
    return found


def load_run(folder: Path, label: str) -> Run:
    reports = find_reports(folder)
    tables, rules, infos, checkpoints = [], [], [], []
    for rep in reports:
        summary = json.loads((rep / SUMMARY).read_text())
        source = summary.get("source")
        checkpoints.append(source.get("checkpoint") if isinstance(source, dict) else None)
        if summary.get("format") != REPORT_FORMAT:
            raise ValueError(f"{rep / SUMMARY}: not a {REPORT_FORMAT} summary (format {summary.get('format')!r})")
        tables.append(read_table(rep / PER_IMAGE))
        rules.append(summary["empty_rule"]["name"])
        infos.append(json.loads((rep / RUN_INFO).read_text()) if (rep / RUN_INFO).is_file() else {})
    first = tables[0]
    for rep, t in zip(reports[1:], tables[1:], strict=True):
        if t.class_names != first.class_names or set(t.names) != set(first.names):
            raise ValueError(
                f"run {folder}: the reports {reports[0]} and {rep} scored different images or classes; "
                "seeds of one run must share the test set"
            )
    _refuse_one_fit_twice(folder, reports, checkpoints)
    return Run(label, Path(folder), reports, tables, rules, infos)


def _refuse_one_fit_twice(folder: Path, reports: list[Path], checkpoints: list[object]) -> None:
    """Refuse reports of one fit counted as seeds: the same checkpoint, or checkpoints from one folder that holds a
    ``last*.ckpt`` (one fit writes its best and last side by side; folders of differently named checkpoints pass)."""
    by_dir: dict[Path, list[tuple[Path, Path]]] = {}
    for rep, ckpt in zip(reports, checkpoints, strict=True):
        if isinstance(ckpt, str) and ckpt.endswith(".ckpt"):
            by_dir.setdefault(Path(ckpt).parent, []).append((rep, Path(ckpt)))
    for group in by_dir.values():
        files = [c for _, c in group]
        if len(group) > 1 and (len(set(files)) < len(files) or any(c.name.startswith("last") for c in files)):
            (a, ca), (b, cb) = group[0], group[1]
            raise ValueError(
                f"run {folder}: the reports {a} ({ca.name}) and {b} ({cb.name}) score one fit ({ca.parent}), "
                "which would count as two seeds; keep one report per seed below a run folder and compare the "
                "other as its own run"
            )


def run_labels(folders: list[Path]) -> list[str]:
    """Short unique labels: folder names, or paths relative to the common parent when names repeat."""
    names = [Path(f).resolve().name for f in folders]
    if len(set(names)) == len(names):
        return names
    resolved = [Path(f).resolve() for f in folders]
    common = Path(*Path(*resolved[0].parts).parts[: _common_depth(resolved)])
    return [str(r.relative_to(common)) for r in resolved]


def _common_depth(paths: list[Path]) -> int:
    depth = 0
    for parts in zip(*(p.parts for p in paths), strict=False):
        if len(set(parts)) != 1:
            break
        depth += 1
    return depth
