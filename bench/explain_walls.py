"""Do the spatial gates of a trained floor-plan model look at walls? And where does self-attention look?

Takes checkpoints (``NAME=PATH``), or trains them first (``--train cbam,scse``: ``segattn fit --config quickstart``
with that attention and ``--epochs`` epochs, 50 steps each, into ``--runs``), then explains ``--images`` held-out
synthetic plans (the test split's seeds, ``--size``², never seen in training) and reports, per model and stage:

- **wall ÷ background** of every spatial map: the map's mean over the reference wall pixels divided by its mean
  over background pixels, per image, then the median and range over images (> 1: the gate lets walls through
  more than background);
- for self-attention / PSA, per query-point kind: the share of a point's attention weight that falls on walls
  divided by the walls' share of the tile (**wall lift**: 1 = attends to walls as often as they occur), the
  weight-averaged distance from the point in pixels (small = local), and the **cells** it spreads over
  (exp of the entropy of its weights over the feature cells: 1 = one cell, N = uniform); per image, the **overlap**
  of every two points' distributions (Σ min(a, b): 1 = the same map whatever the query, 0 = disjoint).

Prints one table, writes ``bench/results/explain_walls.json`` (``--out``). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common  # noqa: E402
from segattn.data.floorplans import generate_floorplan  # noqa: E402
from segattn.data.floorplans.dataset import plan_seed  # noqa: E402
from segattn.explain import explain  # noqa: E402
from segattn.predict import Segmenter  # noqa: E402


def train(name: str, runs: Path, epochs: int) -> Path:
    """``segattn fit --config quickstart`` with ``attention`` = ``name``; returns its best checkpoint."""
    root = runs / name
    attention = name if name != "self_attention" else "[self_attention, self_attention, null, null, null]"
    cmd = [
        sys.executable,
        "-m",
        "segattn",
        "fit",
        "--config",
        "configs/quickstart.yaml",
        "--model.net.init_args.attention",
        attention,
        "--trainer.max_epochs",
        str(epochs),
        "--trainer.default_root_dir",
        str(root),
        "--trainer.enable_progress_bar",
        "false",
    ]
    env = {**os.environ, "PYTHONPATH": str(_common.REPO_ROOT), "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, cwd=_common.REPO_ROOT, env=env)
    return sorted(root.glob("lightning_logs/version_*/checkpoints/best*.ckpt"))[-1]


def wall_ratio(values: np.ndarray, wall: np.ndarray) -> float:
    """Mean of ``values`` on wall pixels ÷ on background pixels."""
    return float(values[wall].mean() / values[~wall].mean())


def point_stats(values: np.ndarray, wall: np.ndarray, y: int, x: int) -> tuple[float, float]:
    """(wall lift, mean distance in pixels) of one point's weights over its tile ((h, w), ``wall`` cropped alike)."""
    w = np.clip(values, 0, None)  # PSA weights may be negative: count only what the point takes in
    total = w.sum()
    ys, xs = np.mgrid[: w.shape[0], : w.shape[1]]
    distance = float((w * np.hypot(ys - y, xs - x)).sum() / total)
    return float((w * wall).sum() / total / wall.mean()), distance


def cells(values: np.ndarray, stride: int) -> float:
    """exp(entropy) of a point's weights over the feature cells (the map repeats each cell over stride² pixels)."""
    w = np.clip(values[::stride, ::stride].astype(np.float64), 0, None)
    w = w[w > 0] / w.sum()
    return float(np.exp(-(w * np.log(w)).sum()))


def overlaps(per_point: list[np.ndarray]) -> list[float]:
    """Σ min(a, b) of every two points' normalised weights (maps over the same tile only)."""
    out = []
    for i, a in enumerate(per_point):
        for b in per_point[i + 1 :]:
            if a.shape == b.shape:
                a_, b_ = np.clip(a, 0, None), np.clip(b, 0, None)
                out.append(float(np.minimum(a_ / a_.sum(), b_ / b_.sum()).sum()))
    return out


def measure(name: str, ckpt: Path, n_images: int, size: int) -> list[dict]:
    seg = Segmenter.from_checkpoint(ckpt)
    rows: dict[tuple, list] = {}
    for i in range(n_images):
        image, mask = generate_floorplan(plan_seed(0, "test", 0, i), size)
        wall = mask > 0
        ex = explain(seg, image, name=f"test_{i}")
        for maps in ex.attention:
            where = f"stage {maps.stage} ({maps.feature_size[0]}²)"
            for label, values in maps.spatial.items():
                rows.setdefault((where, label, "wall ÷ background"), []).append(wall_ratio(values, wall))
            stride = max(1, ex.tile // max(1, maps.feature_size[0]))
            for label, per_point in maps.points.items():
                for p, (y0, x0, y1, x1), values in zip(ex.points, ex.boxes, per_point, strict=True):
                    lift, distance = point_stats(values, wall[y0:y1, x0:x1], p.y - y0, p.x - x0)
                    rows.setdefault((where, f"{label}, {p.kind} points", "wall lift"), []).append(lift)
                    rows.setdefault((where, f"{label}, {p.kind} points", "distance px"), []).append(distance)
                    rows.setdefault((where, f"{label}, {p.kind} points", "cells"), []).append(cells(values, stride))
                rows.setdefault((where, f"{label}, every two points", "overlap"), []).extend(overlaps(per_point))
            if maps.gamma is not None:
                rows.setdefault((where, "γ", "value"), []).append(maps.gamma)
    return [
        {
            "model": name,
            "stage": where,
            "map": label,
            "measure": what,
            "median": float(np.median(v)),
            "min": float(np.min(v)),
            "max": float(np.max(v)),
            "n": len(v),
        }
        for (where, label, what), v in rows.items()
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ckpts", nargs="*", help="NAME=PATH of trained checkpoints")
    p.add_argument("--train", default="", help="attentions to train first, comma-separated (e.g. cbam,scse)")
    p.add_argument("--epochs", type=int, default=6, help="training epochs (50 steps each)")
    p.add_argument("--runs", type=Path, default=Path("runs/explain_walls"), help="where --train puts its runs")
    p.add_argument("--images", type=int, default=16, help="held-out plans explained")
    p.add_argument("--size", type=int, default=256, help="side of the plans")
    p.add_argument("--out", default="explain_walls", help="results JSON (a bare name goes to bench/results/)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    ckpts = dict(c.split("=", 1) for c in args.ckpts)
    for name in filter(None, args.train.split(",")):
        ckpts[name] = str(train(name, args.runs, args.epochs))
    rows = [r for name, path in ckpts.items() for r in measure(name, Path(path), args.images, args.size)]
    head = ["model", "stage", "map", "measure", "median", "min", "max", "n"]
    table = [[r[k] if not isinstance(r[k], float) else f"{r[k]:.3f}" for k in head] for r in rows]
    print(_common.format_table(head, table))
    payload = {"benchmark": "explain_walls", "machine": _common.machine_info(), "config": vars(args) | {"ckpts": ckpts}}
    _common.write_json({**payload, "rows": rows}, args.out)
    return payload


if __name__ == "__main__":
    main()
