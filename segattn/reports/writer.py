"""Write a report folder: ``per_image.csv``, ``summary.json``, ``report.md``, ``report.html``, ``figures/``.

Nothing a user gave us is overwritten silently: a folder that already holds a report is refused unless
``overwrite=True``, and then only the files the previous report listed in its ``summary.json`` are replaced. A
report is never written into (or below) a folder it reads from.
"""

from __future__ import annotations

import json
from pathlib import Path

from segattn.reports.examples import ExampleKeeper
from segattn.reports.render import example_strip, png_bytes, render_html, render_markdown
from segattn.reports.summary import build_summary
from segattn.reports.svg import histogram_svg
from segattn.scoring.counts import EmptyRule
from segattn.scoring.table import ScoreTable, write_table

SUMMARY = "summary.json"
PER_IMAGE = "per_image.csv"
RUN_INFO = "run.json"
REPORT_MARKERS = (SUMMARY, PER_IMAGE, "report.md", "report.html")  # the JSON listing the files comes first


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def prepare_out_dir(
    out: Path, *, reads: dict[str, Path | None], overwrite: bool, markers: tuple[str, ...] = REPORT_MARKERS
) -> Path:
    """Make ``out`` ready for a report, before any scoring work; returns it resolved.

    Refuses a folder inside one the report reads (``reads`` maps a flag such as ``"--gt"`` to its folder, for the
    message) and a folder already holding a report unless ``overwrite``, in which case the previous report's
    files are deleted (only those it listed).
    """
    out = check_out_dir(out, reads=reads, overwrite=overwrite, markers=markers)
    if refuse_existing(out, overwrite=overwrite, markers=markers):
        _remove_previous(out, markers)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    return out


def check_out_dir(
    out: Path, *, reads: dict[str, Path | None], overwrite: bool, markers: tuple[str, ...] = REPORT_MARKERS
) -> Path:
    """:func:`prepare_out_dir`'s refusals alone, writing nothing; returns ``out`` resolved."""
    out = Path(out).resolve()
    for flag, folder in reads.items():
        if folder is not None and _inside(out, Path(folder).resolve()):
            raise ValueError(
                f"refusing to write the report into {out}: it is inside the {flag} folder {folder}; "
                "choose an --out folder outside the inputs"
            )
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"report folder {out} exists and is not a folder; choose another --out")
    refuse_existing(out, overwrite=overwrite, markers=markers)
    return out


def refuse_existing(out: Path, *, overwrite: bool, markers: tuple[str, ...] = REPORT_MARKERS) -> list[str]:
    """The report files already in ``out``; ``FileExistsError`` if there are any and not ``overwrite``."""
    existing = [m for m in markers if (Path(out) / m).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{out} already holds a report ({', '.join(existing)}); pass --overwrite to replace "
            "it or choose another folder"
        )
    return existing


def _remove_previous(out: Path, markers: tuple[str, ...]) -> None:
    """Delete the files an earlier report listed in its JSON (the first marker) and the markers, nothing else."""
    try:
        files = json.loads((out / markers[0]).read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        files = []
    for rel in [*files, *markers]:
        p = (out / rel).resolve()
        if _inside(p, out) and p.is_file():
            p.unlink()


def write_report(
    out: Path,
    table: ScoreTable,
    *,
    empty: EmptyRule,
    tolerance: float,
    source: dict[str, object],
    examples: ExampleKeeper | None = None,
    extra_files: list[str] | None = None,
    links: list[tuple[str, str]] | None = None,
) -> dict[str, object]:
    """Write every report file into ``out`` (made ready by ``prepare_out_dir``); returns the summary as written.

    ``extra_files``: files the caller wrote into ``out`` itself (e.g. predictions), listed so that a later
    ``overwrite`` removes them too. ``links``: (relative path, text) of pages among them the report points to.
    """
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)

    summary = build_summary(table, empty=empty, tolerance=tolerance, source=source)
    fg = table.foreground_dice(empty)
    hist = histogram_svg(fg, title="Foreground Dice per image")
    figures = {"histogram": "figures/dice_histogram.svg"}
    (out / figures["histogram"]).write_text(hist)
    lists = {"best": examples.best, "worst": examples.worst} if examples is not None else {}
    for title, exs in lists.items():
        for rank, ex in enumerate(exs, start=1):
            rel = f"figures/{title}_{rank}.png"
            (out / rel).write_bytes(png_bytes(example_strip(ex)))
            figures[f"{title}/{ex.name}"] = rel

    write_table(out / PER_IMAGE, table, empty=empty)
    (out / "report.md").write_text(render_markdown(summary, table.names, fg, figures, lists, links=links))
    (out / "report.html").write_text(render_html(summary, table.names, fg, hist, lists, links=links))
    summary["files"] = [*REPORT_MARKERS, *dict.fromkeys(figures.values()), *(extra_files or [])]
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return summary
