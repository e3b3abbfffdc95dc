"""Do the synthetic plans look like real ones? Generation time, wall thickness, and zero-shot Dice on CVC-FP.

Four subcommands, each writing ``bench/results/plan_styles_<command>.json``:

- ``timing``: milliseconds per plan of ``generate_floorplan`` at 256² and 512², this tree against the floor-plan
  package of an older commit (``--ref``, loaded side by side in the same process from ``git archive``), in
  interleaved rounds; every round draws one plan per candidate from the same seed.
- ``thickness``: wall thickness in pixels on the CVC-FP masks (at ``--scale`` and at their own resolution) and on
  the generator's masks, measured alike: at every pixel of the mask's ridge (the local maxima of its distance
  transform, i.e. the skeleton) the shorter of the horizontal and the vertical run of wall through it (exact for
  axis-aligned walls; ``2 x distance`` is reported beside it).
- ``subset``: a fixed subset of CVC-FP (every ``--every``-th plan by name) shrunk by ``--scale``, images with
  ``cv2.INTER_AREA`` and masks with ``INTER_NEAREST``, written as ``images/`` + ``masks/``.
- ``zeroshot``: for each ``--ckpt name=path``, ``predict.py --tile 512`` on the subset and ``segattn evaluate``;
  a table of pooled Dice and Dice per plan, checkpoints side by side.

CVC-FP (``../shared/datasets/cvc_fp`` beside the repository, or ``--cvc``) is the measuring stick, never training
data; without it ``thickness``, ``subset`` and ``zeroshot`` say so and exit 0.

Run: ``python bench/plan_styles.py timing --ref <commit>`` and so on; ``--quick`` is a smoke test, not data.
"""

from __future__ import annotations

import argparse
import csv
import functools
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common  # noqa: E402
from segattn.data.floorplans import generate_floorplan  # noqa: E402

CVC_DEFAULT = _common.REPO_ROOT.parent / "shared" / "datasets" / "cvc_fp"
PACKAGE = "segattn/data/floorplans"


# --- timing ------------------------------------------------------------------------------------------------------


def load_floorplans_at(ref: str, tmp: Path) -> Callable:
    """``generate_floorplan`` of the floor-plan package as of git ``ref``, imported under a private name."""
    archive = subprocess.run(
        ["git", "archive", ref, PACKAGE], cwd=_common.REPO_ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
    folder = tmp / PACKAGE
    name = f"_floorplans_{ref.replace('~', '_').replace('^', '_').replace('/', '_')}"
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.generate_floorplan


def timing(args: argparse.Namespace) -> dict:
    candidates = {"this tree": generate_floorplan}
    with tempfile.TemporaryDirectory(prefix="segattn_plan_styles_") as tmp:
        if args.ref:
            candidates = {args.ref: load_floorplans_at(args.ref, Path(tmp)), **candidates}
        rows = []
        for size in args.sizes:
            times: dict[str, list[float]] = {name: [] for name in candidates}
            for seed in range(args.plans + 1):  # round 0 is an untimed warm-up
                fns = {name: functools.partial(fn, seed, size) for name, fn in candidates.items()}
                order = 1 if seed % 2 == 0 else -1  # the order reversed every other round, as in _common
                for name, t in _common.interleaved_times(dict(list(fns.items())[::order]), repeats=1, warmup=0).items():
                    times[name] += t
            times = {name: t[1:] for name, t in times.items()}
            row = {"size": size, **{f"{name} ms": 1000 * _common.median(t) for name, t in times.items()}}
            if args.ref:
                row["ratio"] = _common.median_ratio(times["this tree"], times[args.ref])
            rows.append(row)
    return {"rows": rows}


# --- thickness ---------------------------------------------------------------------------------------------------


def _runs(mask: np.ndarray) -> np.ndarray:
    """(H, W) int32: the length of the horizontal run of ones each pixel lies in (0 off the mask)."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)  # (H, W + 1): +1 where a run starts, -1 one past its end
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # row-major like the starts, so the k-th end closes the k-th run
    first = np.zeros((h, w), np.int32)
    first[rows, starts] = np.arange(1, len(starts) + 1)
    run = np.maximum.accumulate(first.ravel()).reshape(h, w)  # the latest run started at or before each pixel
    lengths = np.concatenate([[0], ends - starts]).astype(np.int32)
    return np.where(mask > 0, lengths[run], 0)


def wall_thickness(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thickness in pixels at every ridge pixel of a {0, 1} mask: (shorter of the horizontal and vertical run,
    2 x distance to the background)."""
    mask = (mask > 0).astype(np.uint8)
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    ridge = (dist > 0) & (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8)) - 1e-6)
    runs = np.minimum(_runs(mask), _runs(mask.T).T)
    return runs[ridge].astype(np.float32), 2 * dist[ridge]


PERCENTILES = (5, 10, 25, 50, 75, 90, 95)


def _summary(per_plan: list[np.ndarray]) -> dict:
    pooled = np.concatenate(per_plan)
    medians = [float(np.median(t)) for t in per_plan]

    def table(values: np.ndarray | list[float]) -> dict[str, float]:
        return {f"p{q}": float(v) for q, v in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True)}

    return {"plans": len(per_plan), "pooled": table(pooled), "per_plan_median": table(medians)}


def thickness(args: argparse.Namespace) -> dict:
    result: dict = {}
    masks = sorted((args.cvc / "masks").glob("*.png"))[:: 30 if args.quick else 1]
    for label, scale in (("cvc_fp native", 1.0), (f"cvc_fp x{args.scale}", args.scale)):
        runs, dists = [], []
        for path in masks:
            mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if scale != 1.0:
                mask = cv2.resize(mask, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            r, d = wall_thickness(mask)
            runs.append(r)
            dists.append(d)
        result[label] = {"run": _summary(runs), "2x_distance": _summary(dists)}
    for size in args.sizes:
        for label, options in (("default mix", {}), ("real-scale pages", {"real_scale": 1.0})):
            masks = [generate_floorplan(seed, size, 0.0, **options)[1] for seed in range(args.plans)]
            result[f"generator {size} {label}"] = {"run": _summary([wall_thickness(m)[0] for m in masks])}
    return result


# --- subset and zero-shot ----------------------------------------------------------------------------------------


def subset(args: argparse.Namespace) -> dict:
    stems = sorted(p.stem for p in (args.cvc / "masks").glob("*.png"))[:: args.every]
    if args.quick:
        stems = stems[:2]
    for sub in ("images", "masks"):
        (args.dest / sub).mkdir(parents=True, exist_ok=True)
    for stem in stems:
        image = cv2.imread(str(args.cvc / "images" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(args.cvc / "masks" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
        image = cv2.resize(image, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(args.dest / "images" / f"{stem}.png"), image)
        cv2.imwrite(str(args.dest / "masks" / f"{stem}.png"), mask)
    return {"stems": stems, "dest": str(args.dest)}


def _run(cmd: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_common.REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, cwd=_common.REPO_ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def zeroshot(args: argparse.Namespace) -> dict:
    per_plan: dict[str, dict[str, float]] = {}
    pooled: dict[str, float] = {}
    for spec in args.ckpt:
        name, _, ckpt = spec.partition("=")
        out = args.dest / name
        pred, report = out / "pred", out / "report"
        predict = [
            sys.executable,
            "-m",
            "segattn",
            "predict",
            "--ckpt_path",
            ckpt,
            "--input",
            str(args.subset / "images"),
        ]
        _run([*predict, "--output", str(pred), "--tile", str(args.tile), "--no_progress", "--overwrite"])
        evaluate = [sys.executable, "-m", "segattn", "evaluate", "--pred", str(pred / "masks"), "--gt"]
        _run([*evaluate, str(args.subset / "masks"), "--out", str(report), "--overwrite"])
        summary = json.loads((report / "summary.json").read_text())
        pooled[name] = summary["foreground"]["dice_dataset"]
        with open(report / "per_image.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                if row["class"] == "1":  # wall
                    scores = {key: float(row[key]) for key in ("dice", "precision", "recall")}
                    per_plan.setdefault(row["name"], {})[name] = scores
    return {"pooled_dice": pooled, "per_plan": per_plan}


# --- command line ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cvc", type=Path, default=CVC_DEFAULT, help="CVC-FP folder (images/ + masks/)")
    parser.add_argument("--quick", action="store_true", help="a smoke test, not data")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default results/plan_styles_<cmd>.json)")
    parser.add_argument("--device", default="cpu", help="unused; every bench script takes it")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("timing", help="ms per plan, this tree vs --ref")
    p.add_argument("--ref", default=None, help="git commit to compare with (its segattn/data/floorplans)")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--plans", type=int, default=30, help="timed plans per size and candidate (>= 20)")
    p = sub.add_parser("thickness", help="wall thickness on CVC-FP and on the generator's masks")
    p.add_argument("--scale", type=float, default=0.5)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--plans", type=int, default=200, help="generated plans per size")
    p = sub.add_parser("subset", help="write a fixed shrunk subset of CVC-FP")
    p.add_argument("--dest", type=Path, required=True)
    p.add_argument("--scale", type=float, default=0.5)
    p.add_argument("--every", type=int, default=6, help="every n-th plan by name (6: 21 of 122)")
    p = sub.add_parser("zeroshot", help="predict + evaluate checkpoints on a subset")
    p.add_argument("--subset", type=Path, required=True, help="a folder written by the subset command")
    p.add_argument("--ckpt", action="append", required=True, help="name=path, repeatable")
    p.add_argument("--dest", type=Path, required=True, help="predictions and reports go to <dest>/<name>")
    p.add_argument("--tile", type=int, default=512)
    args = parser.parse_args(argv)
    if args.quick and args.command == "timing":
        args.sizes, args.plans = [96], 2
    if args.quick and args.command == "thickness":
        args.sizes, args.plans = [96], 2
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    needs_cvc = args.command in ("thickness", "subset") and not (args.cvc / "masks").is_dir()
    if needs_cvc:
        print(f"CVC-FP not found at {args.cvc}: nothing to measure (see /work/shared/datasets/README.md)")
        measured: dict = {"skipped": f"no CVC-FP at {args.cvc}"}
    else:
        measured = {"timing": timing, "thickness": thickness, "subset": subset, "zeroshot": zeroshot}[args.command](
            args
        )
    result = {
        "benchmark": f"plan_styles_{args.command}",
        "machine": _common.machine_info("cpu"),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        **measured,
    }
    print(json.dumps(measured, indent=1))
    _common.write_json(result, args.out or f"plan_styles_{args.command}")
    return result


if __name__ == "__main__":
    main()
