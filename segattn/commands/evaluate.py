"""``segattn evaluate``: score a folder of predicted masks against reference masks and write the Dice report.

    segattn evaluate --pred out/masks --gt data/walls/masks --out report/ [--images data/walls/images]
    segattn evaluate --config evaluate.yaml          # the same options as a YAML file

The report (``per_image.csv``, ``summary.json``, ``report.md``, ``report.html``) is the one ``segattn test`` and
``segattn predict --gt`` write (:mod:`segattn.reports`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from jsonargparse import ActionYesNo

from segattn.scoring.counts import EmptyRule

from .errors import run_command
from .parsers import CommandParser, parse

Encoding = Literal["auto", "index", "binary"]


def add_scoring_options(p: CommandParser) -> None:
    """The scoring options ``evaluate`` shares with ``predict --gt``."""
    p.add_argument("--num_classes", type=int, default=2, help="classes incl. background (binary: 2)")
    p.add_argument("--class_names", type=list[str] | None, default=None, help="one per class (default: 0, 1, ...)")
    rule = "a class empty in both reference and prediction: exclude (nnU-Net), one or zero"
    p.add_argument("--empty", type=EmptyRule, default="exclude", help=rule)
    p.add_argument("--tolerance", type=float, default=2.0, help="boundary F1 tolerance in pixels")
    p.add_argument("--examples", type=int, default=3, help="best and worst images drawn in the report")


def parser() -> CommandParser:
    p = CommandParser(
        "segattn evaluate",
        "Score a folder of predicted masks against reference masks; write per-image CSV, summary JSON, Markdown and "
        "HTML reports. Files pair by relative path without extension.",
    )
    p.add_argument("--pred", type=Path, required=True, help="folder of predicted masks (read only)")
    p.add_argument("--gt", type=Path, required=True, help="folder of reference masks (read only)")
    p.add_argument("--out", type=Path, required=True, help="report folder (created; outside --pred / --gt)")
    p.add_argument("--images", type=Path | None, default=None, help="folder of the images, drawn under the overlays")
    subset = "score only references that have a prediction (predictions of one split, e.g. test)"
    p.add_argument("--only_predicted", action=ActionYesNo, default=False, help=subset)
    p.add_argument("--pred_encoding", type=Encoding, default="auto", help="mask encoding of --pred")
    p.add_argument("--gt_encoding", type=Encoding, default="auto", help="mask encoding of --gt")
    add_scoring_options(p)
    p.add_argument("--overwrite", action=ActionYesNo, default=False, help="replace a report already in --out")
    return p


def main(argv: list[str] | None = None) -> int:
    ns = parse(parser(), argv)

    def run() -> None:
        from segattn.reports.evaluate import evaluate_folders  # torch-heavy imports only when running

        summary = evaluate_folders(
            ns.pred,
            ns.gt,
            ns.out,
            images_dir=ns.images,
            only_predicted=ns.only_predicted,
            num_classes=ns.num_classes,
            class_names=ns.class_names,
            empty=ns.empty,
            tolerance=ns.tolerance,
            pred_encoding=ns.pred_encoding,
            gt_encoding=ns.gt_encoding,
            n_examples=ns.examples,
            overwrite=ns.overwrite,
        )
        print(summary_line(summary, Path(ns.out)))

    return run_command("segattn evaluate", run)


def summary_line(summary: dict, out: Path) -> str:
    pf = summary["per_image_foreground"]
    return (
        f"{summary['n_images']} images; foreground Dice mean per image {_num(pf['dice_mean'])} "
        f"[{_num(pf['ci95_low'])}, {_num(pf['ci95_high'])}], dataset {_num(summary['foreground']['dice_dataset'])} "
        f"(empty rule: {summary['empty_rule']['name']}) -> {out / 'report.html'}"
    )


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"
