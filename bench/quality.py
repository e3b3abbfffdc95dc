"""Do segattn's defaults win on real data? segattn's default recipe against a hand-written smp loop (issue 15).

On every real set in ``../shared/datasets`` (skipped when absent), at equal optimizer steps (``short`` = 132,
``long`` = 770 steps of batch 8 on 256² crops, the budgets of the issue), over seeds:

- ``segattn``: ``segattn fit --config unet`` with the resnet18 encoder of the reference (the only override besides
  the data, the steps and the seed; ``--segattn-args`` adds more, to measure one change at a time), its default
  validation (every epoch; every k-th on cvc_fp since ``ValidationCadence``) and the best checkpoint by
  ``val/dice``, then ``segattn predict`` (tiled) on the test images;
- ``segattn_last``: the same fit predicted with its ``last.ckpt`` (the end of training, as the reference): what
  segattn tests and predicts with by default since the best-``val/dice`` pick trailed it (bench/README.md);
- ``reference``: ``bench/reference_loop.py`` (no segattn code: smp.Unet resnet18, AdamW 1e-3 cosine, BCE + soft
  Dice, flips / rot90 only), whole-image prediction;

all scored by ``segattn evaluate`` on the same test images, compared per image with ``segattn compare``'s
statistics (mean over seeds per image, paired difference segattn - reference, 95% bootstrap CI, Wilcoxon).

Splits are fixed: the sorted stems permuted with seed 0, then test / val / train (``SPLITS``); the reference trains
on the train split only, segattn also picks its checkpoint on the val split (its default). ``cvc_fp`` (A4 scans at
300 dpi) is downscaled by 0.5 (area averaging; masks nearest) to keep a run on 2 cores in minutes.

    python bench/quality.py --sets crackforest --budgets short --seeds 0,1,2
    python bench/quality.py --segattn-args "--data.train_transforms ..." --tag light_aug

Equal wall time (budget ``wall``): the reference's ``short`` runs against segattn trained for the steps that take it
the reference's train seconds. The seconds per step of the two come from runs of the same seed made side by side
(``--side-by-side``: both methods at once, one core each, so the machine's load hits both alike) at the budget
``--wall-from`` (default ``long``; ``wall_steps``). segattn's seconds are its whole ``fit`` (start-up, validation every
epoch, checkpoints: what it costs a user), the reference's its training loop. Side by side, a core that ends its job
takes the next (method, seed) job, so both stay busy until the last job, which runs alone.

    python bench/quality.py --sets crackforest --budgets long --side-by-side
    python bench/quality.py --sets crackforest --budgets wall --methods segattn

Results: ``bench/results/quality[_<tag>].json`` (sets and budgets of earlier invocations with the same tag kept)
and a table on stdout. Each finished run's scores (``summary.json``, ``per_image.csv``) and ``info.json`` are also
kept in the repository, ``bench/results/quality[_<tag>]_runs/<set>/<budget>/<method>/seed<N>/`` (``keep``): a run
takes an hour, a machine's ``/tmp`` does not outlive a session, and the paired statistics need every seed's
per-image scores. A kept run of the same steps and arguments is read back, not redone, and a budget's comparison
covers every kept seed, so ``--seeds 2`` adds a third seed to runs of seeds 0 and 1 measured another day.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common  # noqa: E402

REPO = _common.REPO_ROOT
SHARED = REPO.parent / "shared" / "datasets"
SPLITS = {"cvc_fp": (42, 8), "crackforest": (36, 12), "isbi2012_membranes": (9, 3)}  # (test, val); rest: train
DOWNSCALE = {"cvc_fp": 0.5}
BUDGETS = {"short": 132, "long": 770}
LAST = "segattn_last"  # segattn's fit scored with last.ckpt: made with every segattn run, after it
KEPT_FILES = ("summary.json", "per_image.csv")  # what `segattn compare` reads of a report (segattn.reports.writer)


def prepare(name: str, cache: Path) -> Path:
    """``cache/<name>``: the set in segattn's folder layout with its fixed splits (made once)."""
    root = cache / name
    if (root / "splits" / "test.txt").is_file():
        return root
    src = SHARED / name
    keys = sorted(p.stem for p in (src / "images").iterdir())
    order = [keys[i] for i in np.random.default_rng(0).permutation(len(keys))]
    n_test, n_val = SPLITS[name]
    splits = {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}
    factor = DOWNSCALE.get(name, 1.0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for key in keys:
        image = cv2.imread(str(next((src / "images").glob(f"{key}.*"))), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(next((src / "masks").glob(f"{key}.*"))), cv2.IMREAD_UNCHANGED)
        if factor != 1.0:
            image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(root / "images" / f"{key}.png"), image)
        cv2.imwrite(str(root / "masks" / f"{key}.png"), mask)
    (root / "splits").mkdir(exist_ok=True)
    for split, ks in splits.items():
        (root / "splits" / f"{split}.txt").write_text("\n".join(ks) + "\n")
    return root


def _run(cmd: list[str], log: Path, threads: int | None = None) -> float:
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    with open(log, "w") as f:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}); see {log}")
    return time.perf_counter() - start


def segattn(*args: str) -> list[str]:
    return [sys.executable, "-m", "segattn", *args]


def test_split(root: Path, sub: str) -> Path:
    """A folder of links to the test split's files under ``root/sub`` (images or masks), for predict / evaluate."""
    folder = root / f"test_{sub}"
    if not folder.is_dir():
        folder.mkdir()
        for key in (root / "splits" / "test.txt").read_text().split():
            (folder / f"{key}.png").symlink_to(root / sub / f"{key}.png")
    return folder


def run_segattn(root: Path, steps: int, seed: int, out: Path, extra: list[str], threads: int | None = None) -> dict:
    fit = segattn(
        "fit",
        "--config",
        "unet",
        "--data.root",
        str(root),
        "--data.eval_batch_size",  # whole images are validated; 8 half-size CVC-FP plans at once took 20 GB
        "1",
        "--model.net.init_args.encoder_name",
        "resnet18",
        "--trainer.max_steps",
        str(steps),
        "--trainer.max_epochs",
        "-1",
        "--seed_everything",
        str(seed),
        "--trainer.default_root_dir",
        str(out),
        "--checkpoint.dirpath",
        str(out / "ckpt"),
        "--trainer.enable_progress_bar",
        "false",
        *extra,
    )
    seconds = _run(fit, out / "fit.log", threads)
    ckpts = [p for p in (out / "ckpt").glob("best*.ckpt")]
    ckpt = ckpts[0] if ckpts else out / "ckpt" / "last.ckpt"
    predict = segattn(
        "predict",
        "--ckpt_path",
        str(ckpt),
        "--input",
        str(test_split(root, "images")),
        "--output",
        str(out / "pred"),
        "--no_progress",
    )
    _run(predict, out / "predict.log", threads)
    return {"train_seconds": seconds, "checkpoint": ckpt.name, "steps": steps}


def run_reference(root: Path, steps: int, seed: int, out: Path, extra: list[str], threads: int | None = None) -> dict:
    cmd = [
        sys.executable,
        str(REPO / "bench" / "reference_loop.py"),
        "--root",
        str(root),
        "--steps",
        str(steps),
        "--seed",
        str(seed),
        "--out",
        str(out / "pred"),
    ]
    _run(cmd, out / "reference.log", threads)
    return {"train_seconds": json.loads((out / "pred" / "run.json").read_text())["train_seconds"], "steps": steps}


def score(root: Path, out: Path) -> None:
    _run(
        segattn(
            "evaluate",
            "--pred",
            str(out / "pred" / "masks"),
            "--gt",
            str(test_split(root, "masks")),
            "--out",
            str(out / "report"),
            "--examples",
            "0",
        ),
        out / "evaluate.log",
    )


def merge_earlier(results: dict, target: Path) -> dict:
    """``results`` with the sets and budgets of ``target`` (an earlier invocation) it does not measure itself.

    One results file per tag is filled set by set (one invocation per set or per added seed); what this invocation
    measured replaces the same set and budget, nothing else is dropped.

    An earlier entry made before runs were kept (no ``kept`` key) cannot be added to, only replaced; it stays as
    ``<budget>_before_kept``, since bench/README.md cites its figures.
    """
    if not target.is_file():
        return results
    sets = json.loads(target.read_text()).get("sets", {})
    for name, budgets in results["sets"].items():
        old = sets.setdefault(name, {})
        for budget, entry in budgets.items():
            if budget in old and "kept" not in old[budget]:
                old[f"{budget}_before_kept"] = old[budget]
            old[budget] = entry
    return {**results, "sets": sets}


def wall_steps(entry: dict, steps: int) -> tuple[int, float]:
    """segattn's steps in the reference's train seconds at ``steps``, and the ratio they come from.

    The ratio is the median over seeds of segattn's train seconds per reference train second, each seed's two runs
    from ``entry`` (a budget measured ``--side-by-side``, at equal steps), so the machine's load is the same in both.
    """
    runs = entry["runs"]
    seeds = sorted({key.split("/")[1] for key in runs if key.startswith("segattn/") and f"reference/{key[8:]}" in runs})
    ratios = [runs[f"segattn/{s}"]["train_seconds"] / runs[f"reference/{s}"]["train_seconds"] for s in seeds]
    if not ratios:
        raise ValueError("no seed has both a segattn and a reference run to take the seconds per step from")
    ratio = statistics.median(ratios)
    return max(1, round(steps / ratio)), ratio


def run_segattn_last(
    root: Path, steps: int, seed: int, out: Path, extra: list[str], threads: int | None = None
) -> dict:
    """segattn's fit of the same seed (``../../segattn/seed<N>``) predicted with ``last.ckpt``, the end of training.

    The same trained run scored at its end rather than at its best ``val/dice`` epoch: with a handful of validation
    images the best epoch can be an early, lucky one (bench/README.md). A ``last.ckpt`` of another step than the
    budget's (written before ``LastCheckpoint``, under Lightning 2.6's ``save_last``) is refused, not scored.
    """
    import torch

    fit = out.parent.parent / "segattn" / out.name
    ckpt = fit / "ckpt" / "last.ckpt"
    step = torch.load(ckpt, map_location="cpu", weights_only=False, mmap=True)["global_step"]
    if step != steps:
        raise RuntimeError(f"{ckpt} holds step {step}, not the budget's {steps}; delete {fit} and fit it again")
    predict = segattn("predict", "--ckpt_path", str(ckpt), "--input", str(test_split(root, "images")))
    _run([*predict, "--output", str(out / "pred"), "--no_progress"], out / "predict.log", threads)
    train_seconds = json.loads((fit / "info.json").read_text())["train_seconds"]
    return {"train_seconds": train_seconds, "checkpoint": "last.ckpt", "steps": steps, "fit": str(fit)}


RUNS = {"segattn": run_segattn, LAST: run_segattn_last, "reference": run_reference}


def kept_dir(tag: str) -> Path:
    """The folder in the repository that keeps the scores of every finished run of ``tag``."""
    return _common.RESULTS_DIR / (f"quality_{tag}_runs" if tag else "quality_runs")


def _finished(folder: Path, steps: int, extra: list[str]) -> dict | None:
    """``folder``'s ``info.json`` when it holds a scored run of ``steps`` steps and these segattn arguments.

    A run of other steps (the wall budget's steps follow the measured seconds per step, which move when a seed is
    added) or other arguments is not this run: it is redone, never read back as if it were.
    """
    info_file = folder / "info.json"
    if not (info_file.is_file() and all((folder / name).is_file() for name in KEPT_FILES)):
        return None
    info = json.loads(info_file.read_text())
    return info if info.get("steps") == steps and info.get("segattn_args", []) == extra else None


def _finished_work(out: Path, steps: int, extra: list[str]) -> dict | None:
    """``_finished`` for a work folder, whose scores are in ``report/``."""
    if not (out / "info.json").is_file() or not (out / "report" / "summary.json").is_file():
        return None
    info = json.loads((out / "info.json").read_text())
    return info if info.get("steps") == steps and info.get("segattn_args", []) == extra else None


def keep(out: Path, kept: Path, info: dict) -> None:
    """Copy a finished run's scores and ``info.json`` from ``out`` (its work folder) to ``kept`` (the repository)."""
    if kept.exists():
        shutil.rmtree(kept)
    kept.mkdir(parents=True)
    for name in KEPT_FILES:
        shutil.copy2(out / "report" / name, kept / name)
    (kept / "info.json").write_text(json.dumps(info, indent=1) + "\n")


def _measure(
    method: str,
    root: Path,
    steps: int,
    seed: int,
    out: Path,
    kept: Path,
    extra: list[str],
    threads: int | None,
    redo: bool = False,
) -> dict:
    """One run of ``method`` (fit or train, predict, score) in ``out``, kept in ``kept``.

    A run already kept, or finished in ``out`` (then kept), with the same steps and arguments is read back, not
    redone, unless ``redo``.
    """
    if not redo and (info := _finished(kept, steps, extra)) is not None:
        return info
    if not redo and (info := _finished_work(out, steps, extra)) is not None:
        keep(out, kept, info)
        return info
    if out.exists():  # a killed run's leftovers: a stale best-*.ckpt beside the new one would make the pick ambiguous
        shutil.rmtree(out)
    out.mkdir(parents=True)
    run = RUNS[method]
    info = {**run(root, steps, seed, out, extra, threads), "threads": threads, "segattn_args": extra}
    # runs of one budget may come from different sessions' machines: each run says which CPU it ran on
    machine = _common.machine_info()
    info["machine"] = {k: machine[k] for k in ("cpu", "torch_cpu_capability", "date_utc")}
    score(root, out)
    (out / "info.json").write_text(json.dumps(info))
    keep(out, kept, info)
    return info


def _job(
    method: str, seed: int, root: Path, steps: int, base: Path, kept: Path, extra: list[str], threads: int | None
) -> dict:
    """One (method, seed) of a budget: a segattn fit is also scored with its ``last.ckpt`` right after it.

    The two come as a pair: when the ``last.ckpt`` score is missing and the fit's checkpoint is gone (another
    machine's ``/tmp``), the fit is redone rather than paired with a ``last.ckpt`` of another training run.
    """
    run = f"seed{seed}"
    redo = False
    if method == "segattn":
        last_done = _finished(kept / LAST / run, steps, extra) or _finished_work(base / LAST / run, steps, extra)
        redo = last_done is None and not (base / method / run / "ckpt" / "last.ckpt").is_file()
    infos = {
        method: _measure(method, root, steps, seed, base / method / run, kept / method / run, extra, threads, redo)
    }
    if method == "segattn":
        infos[LAST] = _measure(LAST, root, steps, seed, base / LAST / run, kept / LAST / run, extra, threads, redo)
    return infos


def kept_seeds(folder: Path, steps: int, extra: list[str]) -> list[int]:
    """The seeds kept under ``folder`` (one method of one budget) for these steps and arguments."""
    if not folder.is_dir():
        return []
    found = [int(p.name[4:]) for p in folder.glob("seed*") if _finished(p, steps, extra) is not None]
    return sorted(found)


def _compare(work: Path, runs: list[tuple[str, Path, list[int]]]) -> list[dict]:
    """``compare_runs`` on the kept reports of ``runs`` ((label, kept method folder, seeds)), first the baseline.

    Through copies in ``work/runs/<label>/seed<N>`` (a few kB each), so that exactly these seeds of each run are
    compared.
    """
    from segattn.reports.compare import compare_runs

    if work.exists():
        shutil.rmtree(work)
    for label, folder, seeds in runs:
        for seed in seeds:
            shutil.copytree(folder / f"seed{seed}", work / "runs" / label / f"seed{seed}")
    result = compare_runs([work / "runs" / label for label, _, _ in runs], work / "compare", overwrite=True)
    return [row["difference"] for row in result["runs"][1:]]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default=",".join(SPLITS))
    p.add_argument("--budgets", default="short,long")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--methods", default="segattn,reference")
    p.add_argument("--segattn-args", default="", help="extra arguments for segattn fit (one change at a time)")
    p.add_argument("--tag", default="", help="names the results file and the run folders")
    p.add_argument("--work", type=Path, default=Path("/tmp/segattn-quality"))
    p.add_argument("--side-by-side", action="store_true", help="run the methods of a seed at once, one core each")
    p.add_argument("--wall-from", default="long", help="the side-by-side budget the wall budget's timing comes from")
    a = p.parse_args(argv)
    extra = shlex.split(a.segattn_args)
    methods = a.methods.split(",")
    seeds = [int(s) for s in a.seeds.split(",")]
    threads = max(1, (os.cpu_count() or 1) // len(methods)) if a.side_by_side else None
    results: dict = {"machine": _common.machine_info(), "method": __doc__, "args": vars(a), "sets": {}}
    target = _common.RESULTS_DIR / (f"quality_{a.tag}.json" if a.tag else "quality.json")
    earlier = json.loads(target.read_text())["sets"] if target.is_file() else {}
    kept_root = kept_dir(a.tag)

    for name in a.sets.split(","):
        if not (SHARED / name).is_dir():
            print(f"{name}: {SHARED / name} is absent, skipped")
            continue
        root = prepare(name, a.work / "data")
        for budget in a.budgets.split(","):
            base = a.work / "runs" / (a.tag or "default") / name / budget
            kept = kept_root / name / budget
            entry: dict = {"segattn_args": a.segattn_args, "side_by_side": a.side_by_side, "runs": {}}
            entry["kept"] = str(kept.relative_to(REPO)) if kept.is_relative_to(REPO) else str(kept)
            if budget == "wall":  # the reference's short runs against segattn in the same seconds
                if a.wall_from not in earlier.get(name, {}) or "short" not in earlier[name]:
                    p.error(f"--budgets wall: {target} has no {name} {a.wall_from} and short budgets; run them first")
                steps, ratio = wall_steps(earlier[name][a.wall_from], BUDGETS["short"])
                entry.update(steps=steps, reference_steps=BUDGETS["short"], segattn_seconds_per_reference_second=ratio)
                entry["timing_from"] = a.wall_from
                methods_here = ["segattn"]
                reference = (kept_root / name / "short" / "reference", BUDGETS["short"])
            else:
                steps, methods_here = BUDGETS[budget], methods
                entry["steps"] = steps
                reference = (kept / "reference", steps)
            # --side-by-side: one worker per method, fed (method, seed) jobs longest first (segattn's fit and two
            # predictions outlast the reference), so a core that finishes early takes the next seed's job
            jobs = [(m, seed) for seed in seeds for m in sorted(methods_here, key=lambda m: m != "segattn")]
            job = partial(_job, root=root, steps=steps, base=base, kept=kept, extra=extra, threads=threads)
            with ThreadPoolExecutor(len(methods_here) if a.side_by_side else 1) as pool:
                list(pool.map(job, *zip(*jobs, strict=True)))
            # every kept seed of this budget, this invocation's and earlier ones'
            found = {m: kept_seeds(kept / m, steps, extra) for m in ("segattn", LAST, "reference")}
            if budget == "wall":
                found["reference"] = []  # the reference's runs of this comparison are its short ones
            for method, method_seeds in found.items():
                for seed in method_seeds:
                    folder = kept / method / f"seed{seed}"
                    summary = json.loads((folder / "summary.json").read_text())
                    row = {
                        **json.loads((folder / "info.json").read_text()),
                        "dice_pooled": summary["foreground"]["dice_dataset"],
                        "dice_mean_per_image": summary["per_image_foreground"]["dice_mean"],
                    }
                    entry["runs"][f"{method}/seed{seed}"] = row
                    print(f"{name} {budget} {method} seed {seed}: pooled Dice {row['dice_pooled']:.4f}", flush=True)
            ours = sorted(set(found["segattn"]) & set(found[LAST]))
            ref_seeds = kept_seeds(reference[0], reference[1], extra)
            if budget != "wall":
                ours = ref_seeds = sorted(set(ours) & set(ref_seeds))
            entry["seeds"] = ",".join(map(str, ours))
            if ours and ref_seeds:
                entry["reference_seeds"] = ",".join(map(str, ref_seeds))
                vs_reference = _compare(
                    base / "compare",
                    [
                        ("reference", reference[0], ref_seeds),
                        ("segattn", kept / "segattn", ours),
                        (LAST, kept / LAST, ours),
                    ],
                )
                (between,) = _compare(
                    base / "compare_last", [("segattn", kept / "segattn", ours), (LAST, kept / LAST, ours)]
                )
                differences = {
                    "segattn_minus_reference": vs_reference[0],
                    f"{LAST}_minus_reference": vs_reference[1],
                    f"{LAST}_minus_segattn": between,
                }
                for key, diff in differences.items():
                    entry[key] = diff
                    ci = f"[{diff['low']:+.4f}, {diff['high']:+.4f}]"
                    print(f"{name} {budget}: {key.replace('_minus_', ' - ')} per image {diff['mean']:+.4f} {ci}")
            results["sets"].setdefault(name, {})[budget] = entry
    _common.write_json(merge_earlier(results, target), target)


if __name__ == "__main__":
    main()
