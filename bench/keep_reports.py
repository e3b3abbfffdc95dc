"""Keep the small files of finished runs in the repository, and put them back into a new work folder.

A real-data ablation takes more core-hours than one session has, and a machine's ``/tmp`` does not outlive the
session. What ``segattn compare`` reads of a run (``summary.json`` + ``per_image.csv`` of each report, ``run.json``)
and what a resume checks (``ablation.json``) are a few kB a run, against tens of MB of checkpoints: they are copied
to ``bench/results`` after a session, and back into a fresh ``--out`` before the next, where ``segattn ablate`` skips
every run whose report is there and compares all of them at the end.

    python bench/keep_reports.py /tmp/segattn-ablate/cvc_all bench/results/ablate_cvc_runs/all  # keep
    python bench/keep_reports.py bench/results/ablate_cvc_runs/all /tmp/segattn-ablate/cvc_all  # put back

(``quality.py`` keeps its runs itself.)
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

REPORT = ("summary.json", "per_image.csv")  # a report is complete when both are there (segattn.reports.writer)
KEPT = (*REPORT, "run.json")
RECORDS = ("ablation.json",)


def copy_small(src: Path, dst: Path) -> list[Path]:
    """Copy every complete report's ``KEPT`` files and the ``RECORDS`` under ``src`` to the same places under ``dst``.

    A report without both ``REPORT`` files (a test killed while writing) is left out: copied, it would look
    finished and be skipped. ``compare/`` outputs are left out too: the next ablation writes them again.
    """
    copied = []
    reports = sorted({p.parent for p in src.rglob(REPORT[0]) if all((p.parent / n).is_file() for n in REPORT)})
    files = [r / n for r in reports for n in KEPT if (r / n).is_file()]
    files += [p for name in RECORDS for p in src.rglob(name)]
    for path in files:
        rel = path.relative_to(src)
        if rel.parts[0] == "compare":
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dst / rel)
        copied.append(dst / rel)
    return copied


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    a = p.parse_args(argv)
    if not a.src.is_dir():
        p.error(f"{a.src} is not a folder")
    copied = copy_small(a.src, a.dst)
    print(f"copied {len(copied)} files from {a.src} to {a.dst}")


if __name__ == "__main__":
    main()
