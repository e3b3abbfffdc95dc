"""``--gt DIR``: score the predicted masks with the Dice report of :mod:`segattn.reports`.

Predictions and references pair by their path relative to their folder without the extension, the
rule of ``segattn evaluate``. The report is written to ``<output>/dice_report`` (or
``dice_report-<run>`` when that already holds one: an earlier report is never replaced). Images that
failed, and references without an image in this run, are left out and listed — the report states on
which images it was computed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .checkpoint import PredictConfig
from .inputs import InputImage, OutputPaths


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(src.resolve(), dst)
    except OSError:  # no symlinks (some Windows setups): masks are small, copy them
        shutil.copyfile(src, dst)


def report_dir(output: Path, run: str) -> Path:
    """``output/dice_report``, or ``output/dice_report-<run>`` if the first already holds a report."""
    first = output / "dice_report"
    return first if not (first / "summary.json").exists() else output / f"dice_report-{run}"


def score_predictions(
    images: list[InputImage], outputs: list[OutputPaths], gt_dir: Path, output: Path, *, cfg: PredictConfig, run: str
) -> Path:
    """Write the Dice report for every image that has both a mask on disk and a reference; returns its folder."""
    from segattn.reports.evaluate import evaluate_folders, image_key, index_folder

    refs = index_folder(gt_dir, "--gt")
    done = {image_key(im.rel): (im, out.mask) for im, out in zip(images, outputs, strict=True) if out.mask.exists()}
    keys = sorted(done.keys() & refs.keys())
    if not keys:
        raise ValueError(
            f"none of the {len(done)} predicted masks has a reference in {gt_dir} (pairs by relative path without "
            f"extension, e.g. {next(iter(done), '<none>')!r})"
        )
    for label, missing in (
        (f"predictions without a reference in {gt_dir}", sorted(done.keys() - refs.keys())),
        ("references without a prediction from this run", sorted(refs.keys() - done.keys())),
    ):
        if missing:
            shown = ", ".join(missing[:10]) + (f", ... ({len(missing)} in all)" if len(missing) > 10 else "")
            print(f"scoring: left out {len(missing)} {label}: {shown}")
    out = report_dir(output, run)
    with tempfile.TemporaryDirectory(prefix="segattn-score-") as tmp:
        pred, gt, img = Path(tmp, "pred"), Path(tmp, "gt"), Path(tmp, "images")
        for key in keys:
            image, mask = done[key]
            _link(mask, pred / f"{key}{mask.suffix}")
            _link(refs[key], gt / f"{key}{refs[key].suffix}")
            _link(image.path, img / f"{key}{image.path.suffix}")
        summary = evaluate_folders(
            pred, gt, out, images_dir=img, num_classes=cfg.num_classes,
            pred_encoding="binary" if cfg.num_classes == 2 else "index",
            gt_encoding=cfg.mask_encoding, palette=cfg.palette,
        )  # fmt: skip
    fg = summary["foreground"]
    per_image = summary["per_image_foreground"]
    print(
        f"Dice on {len(keys)} images: mean per image {_num(per_image['dice_mean'])}, dataset "
        f"{_num(fg['dice_dataset'])} (empty rule: {summary['empty_rule']['name']}) -> {out / 'report.html'}"
    )
    return out


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"
