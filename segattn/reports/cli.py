"""Command lines of ``segattn evaluate``, ``segattn compare`` and ``segattn ablate``.

Each ``*_main(argv)`` parses ``argv`` (without the subcommand name), runs, and exits with status 2 and a one-line
message for any problem a user can cause (missing folders, mismatched files, an existing report, ...).
Multi-word options accept both spellings: ``--num_classes`` / ``--num-classes``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segattn.scoring.counts import EMPTY_RULES

USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError)


def _opt(name: str) -> list[str]:
    return [f"--{name}", f"--{name.replace('_', '-')}"] if "_" in name else [f"--{name}"]


def _run(parser: argparse.ArgumentParser, fn, args: argparse.Namespace) -> None:
    try:
        fn(args)
    except USER_ERRORS as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")


def _add_scoring_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(*_opt("num_classes"), type=int, default=2, help="classes incl. background (binary: 2)")
    p.add_argument(*_opt("class_names"), default=None, help="comma-separated, one per class (default: 0,1,...)")
    rule = "a class empty in both reference and prediction: exclude (nnU-Net, default), one or zero"
    p.add_argument("--empty", choices=EMPTY_RULES, default="exclude", help=rule)
    p.add_argument("--tolerance", type=float, default=2.0, help="boundary F1 tolerance in pixels (default 2)")
    p.add_argument("--examples", type=int, default=3, help="best and worst images drawn in the report (default 3)")
    p.add_argument("--overwrite", action="store_true", help="replace a report already in --out")


def evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="segattn evaluate",
        description="Score a folder of predicted masks against reference masks; write per-image CSV, summary JSON, "
        "Markdown and HTML reports. Files pair by relative path without extension.",
    )
    p.add_argument("--pred", type=Path, required=True, help="folder of predicted masks (read only)")
    p.add_argument("--gt", type=Path, required=True, help="folder of reference masks (read only)")
    p.add_argument("--out", type=Path, required=True, help="report folder (created; outside --pred/--gt)")
    p.add_argument("--images", type=Path, default=None, help="folder of the images, drawn under the overlays")
    subset = "score only references that have a prediction (predictions of one split, e.g. test)"
    p.add_argument(*_opt("only_predicted"), action="store_true", help=subset)
    enc = ("auto", "index", "binary")
    p.add_argument(*_opt("pred_encoding"), choices=enc, default="auto", help="mask encoding of --pred (auto)")
    p.add_argument(*_opt("gt_encoding"), choices=enc, default="auto", help="mask encoding of --gt (auto)")
    _add_scoring_options(p)
    return p


def _evaluate(args: argparse.Namespace) -> None:
    from segattn.reports.evaluate import evaluate_folders  # torch-heavy imports only when running

    summary = evaluate_folders(
        args.pred, args.gt, args.out, images_dir=args.images, num_classes=args.num_classes,
        class_names=args.class_names.split(",") if args.class_names else None, empty=args.empty,
        tolerance=args.tolerance, pred_encoding=args.pred_encoding, gt_encoding=args.gt_encoding,
        n_examples=args.examples, only_predicted=args.only_predicted, overwrite=args.overwrite,
    )  # fmt: skip
    pf = summary["per_image_foreground"]
    print(
        f"{summary['n_images']} images; foreground Dice mean per image {_num(pf['dice_mean'])} "
        f"[{_num(pf['ci95_low'])}, {_num(pf['ci95_high'])}], dataset {_num(summary['foreground']['dice_dataset'])} "
        f"(empty rule: {summary['empty_rule']['name']}) -> {Path(args.out) / 'report.html'}"
    )


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def evaluate_main(argv: list[str] | None = None) -> None:
    """``segattn evaluate --pred DIR --gt DIR --out DIR [--images DIR] ...``"""
    parser = evaluate_parser()
    _run(parser, _evaluate, parser.parse_args(sys.argv[1:] if argv is None else argv))


def compare_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="segattn compare",
        description="Compare runs (folders holding reports written by `segattn test` / `segattn evaluate`) against "
        "a baseline: mean Dice with 95%% bootstrap CI, paired difference with CI and Wilcoxon p, costs.",
    )
    p.add_argument("runs", nargs="+", type=Path, help="run folders (a report folder, or a folder of seed reports)")
    p.add_argument("--baseline", type=Path, default=None, help="baseline run folder (default: the first run)")
    p.add_argument("--out", type=Path, required=True, help="output folder for compare.{json,md,html}")
    p.add_argument("--intersect", action="store_true", help="compare only the images every run scored")
    p.add_argument("--empty", choices=EMPTY_RULES, default=None, help="re-score under this empty-mask rule")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace a comparison already in --out")
    return p


def _compare(args: argparse.Namespace) -> None:
    from segattn.reports.compare import compare_runs

    compare_runs(
        args.runs, args.out, baseline=args.baseline, intersect=args.intersect, empty=args.empty, seed=args.seed,
        overwrite=args.overwrite,
    )  # fmt: skip
    print(Path(args.out / "compare.md").read_text())


def compare_main(argv: list[str] | None = None) -> None:
    """``segattn compare RUN [RUN ...] [--baseline RUN] --out DIR [--intersect]``"""
    parser = compare_parser()
    _run(parser, _compare, parser.parse_args(sys.argv[1:] if argv is None else argv))


def ablate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="segattn ablate",
        description="Train and test each attention variant with one config and the same seeds, then compare. "
        "Arguments after `--` are passed to every fit and test (e.g. -- --trainer.max_epochs 20).",
    )
    p.add_argument("--config", type=Path, required=True, help="the training config (YAML) shared by every run")
    p.add_argument("--attention", required=True, help="comma-separated variants, baseline first: none,se,cbam")
    p.add_argument("--stages", default=None, help="decoder stages (deepest first) with the attention: 0,1; default all")
    p.add_argument("--seeds", default="3", help="a count (3 -> seeds 0,1,2) or a list (0,5,7); default 3")
    p.add_argument("--out", type=Path, required=True, help="ablation folder: OUT/<attention>/seed<S>, OUT/compare")
    p.add_argument(*_opt("dry_run"), action="store_true", help="print the commands instead of running them")
    return p


def _ablate(args: argparse.Namespace, extra: list[str]) -> None:
    from segattn.reports.ablate import ablate, parse_attention, parse_seeds, parse_stages

    ablate(args.config, parse_attention(args.attention), parse_seeds(args.seeds), args.out, extra=extra,
           stages=parse_stages(args.stages), dry_run=args.dry_run)  # fmt: skip


def ablate_main(argv: list[str] | None = None) -> None:
    """``segattn ablate --config CFG --attention none,se,cbam --seeds 3 --out DIR [--dry-run] [-- overrides]``"""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    parser = ablate_parser()
    args = parser.parse_args(argv[:cut])
    _run(parser, lambda a: _ablate(a, argv[cut + 1 :]), args)
