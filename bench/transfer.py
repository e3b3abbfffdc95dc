"""The packaged wall model on real floor plans (issue 16): zero-shot on CVC-FP, and fine-tuning from it.

``zeroshot``: ``segattn predict --ckpt_path walls`` on every CVC-FP plan at its native size, with ``--scale auto``
(probe predictions measure the walls the model finds and bring them to the training masks' thickness) and at
fixed scales; each scored by ``segattn evaluate`` against the wall masks: pooled Dice, mean per plan, the chosen
factors, and the 10 worst plans by name.

``finetune``: on the fixed CVC-FP split of ``bench/quality.py`` (plans downscaled by 0.5; 72 train, 8 val, 42
test), ``segattn fit --config walls`` with the data swapped for the folder, for each step budget and seed, starting
from the packaged model (``model.init_from: walls``, decoder included) and from random initialisation (the same
network; ImageNet weights are tried when ``--inits`` names them, and skipped with the reason when timm's cache has
none). Validation about five times per run, the best checkpoint by ``val/dice``, ``segattn predict`` on the 42 test
plans and ``segattn evaluate``; per budget, ``segattn compare``'s paired difference per plan (mean over seeds,
95 % bootstrap CI, Wilcoxon) of each start against random initialisation.

    python bench/transfer.py zeroshot --scales auto 0.5 0.25
    python bench/transfer.py finetune --budgets 50 200 1000 --seeds 0 1 2

Results: ``bench/results/transfer_<command>.json`` and a table on stdout. Without CVC-FP: says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common  # noqa: E402
from bench.quality import SHARED, _run, prepare, segattn, test_split  # noqa: E402

CVC = SHARED / "cvc_fp"
WORK = Path("/tmp/segattn-transfer")
VAL_RUNS = 5  # validations per fine-tuning run


def _report(pred: Path, gt: Path, out: Path, *, subset: bool = False) -> dict:
    """``segattn evaluate`` of ``pred`` against ``gt`` into ``out``: pooled and per-plan wall Dice."""
    cmd = segattn("evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(out), "--examples", "0")
    _run([*cmd, "--overwrite", *(["--only_predicted"] if subset else [])], out.parent / f"{out.name}.log")
    summary = json.loads((out / "summary.json").read_text())
    with open(out / "per_image.csv", newline="") as fh:
        per_plan = {row["name"]: float(row["dice"]) for row in csv.DictReader(fh) if row["class"] == "1"}
    return {
        "dice_pooled": summary["foreground"]["dice_dataset"],
        "dice_mean_per_plan": summary["per_image_foreground"]["dice_mean"],
        "per_plan": per_plan,
    }


def zeroshot(args: argparse.Namespace) -> dict:
    images = CVC / "images"
    if args.limit:  # a subset by name, for smoke runs
        images = args.work / "zeroshot_images"
        images.mkdir(parents=True, exist_ok=True)
        for path in sorted((CVC / "images").glob("*.png"))[: args.limit]:
            if not (images / path.name).exists():
                (images / path.name).symlink_to(path)
    rows: dict[str, dict] = {}
    for scale in args.scales:
        out = args.work / "zeroshot" / f"scale_{scale}"
        out.mkdir(parents=True, exist_ok=True)
        seconds = None  # --keep: an earlier run's masks are scored again, its time is in its log
        if not (args.keep and (out / "pred" / "manifest.csv").is_file()):
            seconds = _run(
                [
                    *segattn("predict", "--ckpt_path", args.ckpt, "--input", str(images)),
                    *("--output", str(out / "pred"), "--scale", scale, "--no_progress", "--overwrite"),
                ],
                out.parent / f"scale_{scale}.predict.log",
            )
        row = _report(out / "pred" / "masks", CVC / "masks", out / "report", subset=bool(args.limit))
        with open(out / "pred" / "manifest.csv", newline="") as fh:
            factors = [float(r["scale"]) for r in csv.DictReader(fh) if r.get("scale")]
        row["predict_seconds"] = None if seconds is None else round(seconds, 1)
        row["factors"] = _spread(factors)
        row["worst_10"] = sorted(row["per_plan"].items(), key=lambda kv: kv[1])[:10]
        rows[scale] = row
        print(
            f"scale {scale}: pooled Dice {row['dice_pooled']:.4f}, mean per plan {row['dice_mean_per_plan']:.4f}, "
            f"factors {row['factors']}, {'kept' if seconds is None else f'{seconds:.0f} s'}; worst: "
            + ", ".join(f"{name} {dice:.2f}" for name, dice in row["worst_10"]),
            flush=True,
        )
    return {"plans": len(list(images.glob("*.png"))), "scales": rows}


def _spread(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    return {"min": ordered[0], "median": ordered[len(ordered) // 2], "max": ordered[-1]}


def finetune_config(root: Path, steps: int, init: str, out: Path) -> Path:
    """The walls config with the CVC-FP folder as data, ``steps`` optimizer steps and the start ``init``."""
    config = yaml.safe_load((_common.REPO_ROOT / "segattn" / "configs" / "walls.yaml").read_text())
    train = len((root / "splits" / "train.txt").read_text().split())
    epochs = math.ceil(steps / math.ceil(train / config["data"]["init_args"]["batch_size"]))
    config["trainer"].update(
        max_steps=steps,
        max_epochs=-1,
        default_root_dir=str(out),
        enable_progress_bar=False,
        check_val_every_n_epoch=max(1, epochs // VAL_RUNS),
    )
    config["checkpoint"]["dirpath"] = str(out / "ckpt")
    config["data"] = {
        "class_path": "segattn.data.FolderData",
        # whole plans of about 1240 x 1750 are validated one at a time: 8 at once took 20 GB and the OOM killer
        "init_args": {"root": str(root), "crop_size": 256, "batch_size": 8, "eval_batch_size": 1, "num_workers": 1},
    }
    config["model"]["init_from"] = {"walls": "walls", "random": None}.get(init)
    if init == "imagenet":
        config["model"]["net"]["init_args"]["encoder_weights"] = "imagenet"
    path = out / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def finetune(args: argparse.Namespace) -> dict:
    from segattn.reports.compare import compare_runs

    root = prepare("cvc_fp", args.work / "data")
    result: dict = {
        "split": {s: len((root / "splits" / f"{s}.txt").read_text().split()) for s in ("train", "val", "test")}
    }
    for steps in args.budgets:
        base = args.work / "finetune" / f"steps_{steps}"
        entry: dict = {"runs": {}, "skipped": {}}
        for init in args.inits:
            for seed in args.seeds:
                out = base / init / f"seed{seed}"
                if not (out / "report" / "summary.json").is_file():
                    out.mkdir(parents=True, exist_ok=True)
                    fit = segattn("fit", "--config", str(finetune_config(root, steps, init, out)))
                    try:
                        seconds = _run([*fit, "--seed_everything", str(seed)], out / "fit.log")
                    except RuntimeError as err:
                        if init == "imagenet":  # offline without timm's cache: say so and go on
                            entry["skipped"][init] = (out / "fit.log").read_text().strip().splitlines()[-1][:300]
                            print(f"{steps} steps, {init}: skipped ({entry['skipped'][init]})", flush=True)
                            break
                        raise err
                    ckpt = out / "ckpt" / "best.ckpt"
                    images = test_split(root, "images")
                    predict = segattn("predict", "--ckpt_path", str(ckpt), "--input", str(images))
                    _run([*predict, "--output", str(out / "pred"), "--no_progress"], out / "predict.log")
                    (out / "info.json").write_text(json.dumps({"train_seconds": round(seconds, 1)}))
                row = _report(out / "pred" / "masks", test_split(root, "masks"), out / "report")
                entry["runs"][f"{init}/seed{seed}"] = {
                    **json.loads((out / "info.json").read_text()),
                    "dice_pooled": row["dice_pooled"],
                    "dice_mean_per_plan": row["dice_mean_per_plan"],
                }
                print(f"{steps} steps, {init}, seed {seed}: pooled Dice {row['dice_pooled']:.4f}", flush=True)
        starts = [i for i in args.inits if i != "random" and i not in entry["skipped"]]
        if "random" in args.inits and starts:
            cmp = compare_runs([base / "random", *(base / s for s in starts)], base / "compare", overwrite=True)
            for start, run in zip(starts, cmp["runs"][1:], strict=True):
                diff = run["difference"]
                entry[f"{start}_minus_random"] = diff
                print(
                    f"{steps} steps: {start} - random per plan {diff['mean']:+.4f} "
                    f"[{diff['low']:+.4f}, {diff['high']:+.4f}]",
                    flush=True,
                )
        result[str(steps)] = entry
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=WORK, help="predictions, runs and reports go here")
    parser.add_argument("--ckpt", default="walls", help="the model to measure (a name or a checkpoint)")
    parser.add_argument("--device", default="cpu", help="unused; every bench script takes it")
    parser.add_argument("--tag", default="", help="results go to transfer_<command>_<tag>.json")
    sub = parser.add_subparsers(dest="command", required=True)
    z = sub.add_parser("zeroshot")
    z.add_argument("--scales", nargs="+", default=["auto", "0.5"], help="auto and / or factors")
    z.add_argument("--limit", type=int, default=0, help="only the first N plans by name (0: all 122)")
    z.add_argument("--keep", action="store_true", help="score an earlier prediction again instead of redoing it")
    f = sub.add_parser("finetune")
    f.add_argument("--budgets", type=int, nargs="+", default=[50, 200, 1000])
    f.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    f.add_argument("--inits", nargs="+", default=["random", "walls"], choices=["random", "walls", "imagenet"])
    args = parser.parse_args(argv)
    if not CVC.is_dir():
        print(f"{CVC} is absent: nothing to measure")
        return 0
    result = zeroshot(args) if args.command == "zeroshot" else finetune(args)
    result = {
        "machine": _common.machine_info(),
        "method": __doc__,
        "args": {k: str(v) for k, v in vars(args).items()},
        **result,
    }
    _common.write_json(result, f"transfer_{args.command}" + (f"_{args.tag}" if args.tag else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
