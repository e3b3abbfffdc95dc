"""``segattn compare``: did a variant beat the baseline, or is the difference noise? (see segattn.reports.compare)

segattn compare runs/unet runs/cbam runs/self_attention --baseline runs/unet --out cmp/
"""

from __future__ import annotations

from pathlib import Path

from jsonargparse import ActionYesNo

from segattn.scoring.counts import EmptyRule

from .errors import run_command
from .parsers import CommandParser, parse


def parser() -> CommandParser:
    p = CommandParser(
        "segattn compare",
        "Compare runs (folders holding reports written by `segattn test` / `segattn evaluate`) against a baseline: "
        "mean Dice with 95% bootstrap CI, paired difference with CI and Wilcoxon p, costs.",
    )
    p.add_argument("runs", nargs="+", type=Path, help="run folders (a report folder, or a folder of seed reports)")
    p.add_argument("--baseline", type=Path | None, default=None, help="baseline run folder (default: the first)")
    p.add_argument("--out", type=Path, required=True, help="output folder for compare.{json,md,html}")
    p.add_argument("--intersect", action=ActionYesNo, default=False, help="compare only images every run scored")
    p.add_argument("--empty", type=EmptyRule | None, default=None, help="re-score under this empty-mask rule")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--overwrite", action=ActionYesNo, default=False, help="replace a comparison already in --out")
    return p


def main(argv: list[str] | None = None) -> int:
    ns = parse(parser(), argv)

    def run() -> None:
        from segattn.reports.compare import compare_runs

        compare_runs(
            ns.runs,
            ns.out,
            baseline=ns.baseline,
            intersect=ns.intersect,
            empty=ns.empty,
            seed=ns.seed,
            overwrite=ns.overwrite,
        )
        print((Path(ns.out) / "compare.md").read_text())

    return run_command("segattn compare", run)
