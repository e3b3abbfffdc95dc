"""Score predicted masks against reference masks and write a report: pairs of arrays or files, or two folders.

:func:`evaluate_pairs` takes :class:`MaskPair` items whose masks (and images) are arrays or files;
:func:`evaluate_folders` pairs two folders by path relative to the folder without the extension (``a/001.png``
pairs with ``a/001.tif``), which is also the image name used in the report. A file without a partner is an error
that lists the missing names — a report silently scored on a subset would answer a different question. Every
unreadable or invalid mask is listed in one error before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm import tqdm

from segattn.data.io import IMAGE_EXTENSIONS, BadFileError, MaskEncoding, Palette, decode_mask, read_image, read_mask
from segattn.reports.examples import ExampleKeeper, make_panels
from segattn.reports.writer import check_out_dir, prepare_out_dir, write_report
from segattn.scoring.counts import EMPTY_RULES, EmptyRule
from segattn.scoring.table import ScoreTable, foreground_dice, score_pair


@dataclass(frozen=True)
class MaskPair:
    """One image to score: its name in the report, the predicted and reference masks, and (for drawing) the image.

    Masks are files or (H, W) integer arrays of class indices; an image is a file or an (H, W, 3) array.
    """

    name: str  # e.g. the relative path without extension, "/"-separated
    pred: Path | np.ndarray
    gt: Path | np.ndarray
    image: Path | np.ndarray | None = None


def image_key(relative: str | Path) -> str:
    """The name an image has in a report: its relative path without extension, with "/" separators."""
    return str(PurePosixPath(Path(relative).as_posix()).with_suffix(""))


def index_folder(folder: Path, flag: str) -> dict[str, Path]:
    """Map image key -> file for every image file below ``folder`` (hidden files and folders skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{flag} folder {folder} does not exist or is not a folder")
    found: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if not p.is_file() or p.suffix.lower() not in IMAGE_EXTENSIONS or any(s.startswith(".") for s in rel.parts):
            continue
        key = image_key(rel)
        if key in found:
            raise ValueError(
                f"{flag} folder {folder}: {found[key].name} and {p.name} are the same image {key!r} "
                "with two extensions; keep one"
            )
        found[key] = p
    if not found:
        raise ValueError(f"{flag} folder {folder} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
    return found


def _listing(keys: list[str], limit: int = 20) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")


def pair_folders(
    pred_dir: Path, gt_dir: Path, images_dir: Path | None = None, *, only_predicted: bool = False
) -> list[MaskPair]:
    """Pair predictions, references (and images) by name; any file without a partner raises ``ValueError``.

    ``only_predicted``: references without a prediction are left out (the predictions cover a split of the
    reference folder, e.g. the test split); a prediction without a reference is still an error.
    """
    pred, gt = index_folder(pred_dir, "--pred"), index_folder(gt_dir, "--gt")
    images = index_folder(images_dir, "--images") if images_dir is not None else None
    if only_predicted:
        gt = {k: v for k, v in gt.items() if k in pred}
    problems = []
    if missing := sorted(gt.keys() - pred.keys()):
        hint = " (if the predictions cover a split on purpose, pass --only_predicted)"
        problems.append(f"no prediction in {pred_dir} for {len(missing)} reference masks: {_listing(missing)}{hint}")
    if missing := sorted(pred.keys() - gt.keys()):
        problems.append(f"no reference mask in {gt_dir} for {len(missing)} predictions: {_listing(missing)}")
    if images is not None and (missing := sorted(gt.keys() - images.keys())):
        problems.append(f"no image in {images_dir} for {len(missing)} masks: {_listing(missing)}")
    if problems:
        raise ValueError("the folders do not hold the same images:\n  " + "\n  ".join(problems))
    return [MaskPair(k, pred[k], gt[k], images[k] if images is not None else None) for k in sorted(gt)]


def evaluate_folders(
    pred_dir: Path,
    gt_dir: Path,
    out: Path,
    *,
    images_dir: Path | None = None,
    only_predicted: bool = False,
    **options,
) -> dict[str, object]:
    """Pair two folders (see :func:`pair_folders`) and score them with :func:`evaluate_pairs`."""
    pairs = pair_folders(pred_dir, gt_dir, images_dir, only_predicted=only_predicted)
    source = {"predictions": str(Path(pred_dir).resolve()), "references": str(Path(gt_dir).resolve())}
    if only_predicted:
        source["references_scored"] = "only those with a prediction (--only_predicted)"
    if images_dir is not None:
        source["images"] = str(Path(images_dir).resolve())
    reads = {"--pred": pred_dir, "--gt": gt_dir, "--images": images_dir}
    return evaluate_pairs(pairs, out, source=source, reads=reads, **options)


def evaluate_pairs(
    pairs: list[MaskPair],
    out: Path,
    *,
    num_classes: int = 2,
    class_names: list[str] | None = None,
    empty: EmptyRule = "exclude",
    tolerance: float = 2.0,
    pred_encoding: MaskEncoding = "auto",
    gt_encoding: MaskEncoding = "auto",
    palette: Palette | None = None,
    n_examples: int = 3,
    overwrite: bool = False,
    source: dict[str, object] | None = None,
    reads: dict[str, Path | None] | None = None,
) -> dict[str, object]:
    """Score every pair and write the report into ``out``; returns the summary.

    ``reads``: folders the report must not be written into (flag -> folder, for the message). Nothing is written
    before every pair has been read and scored.
    """
    if empty not in EMPTY_RULES:
        raise ValueError(f"unknown empty-mask rule {empty!r}; choose from {list(EMPTY_RULES)}")
    if num_classes < 2:
        raise ValueError(
            f"--num_classes {num_classes}: it counts background too and must be >= 2 (a binary task has 2)"
        )
    names = class_names or (["background", "foreground"] if num_classes == 2 else [str(k) for k in range(num_classes)])
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names given for {num_classes} classes: {names}")
    if not pairs:
        raise ValueError("nothing to score: no pair of prediction and reference")
    reads = reads or {}
    check_out_dir(out, reads=reads, overwrite=overwrite)  # refuse before scoring, not after

    counts, bounds, problems = [], [], []
    keeper = ExampleKeeper(n_examples)
    for pair in tqdm(pairs, desc="scoring", unit="image", disable=None):
        try:
            pred = _mask(pair.pred, pred_encoding, palette, num_classes)
            gt = _mask(pair.gt, gt_encoding, palette, num_classes)
            if pred.shape != gt.shape:
                raise BadFileError(
                    _where(pair.pred, pair.name),
                    f"is {pred.shape[1]}x{pred.shape[0]} (WxH) but its reference {_where(pair.gt, pair.name)} is "
                    f"{gt.shape[1]}x{gt.shape[0]}; predictions must be at the reference's size",
                )
        except BadFileError as err:
            problems.append(str(err))
            continue
        c, b = score_pair(pred, gt, num_classes, tolerance=tolerance)
        counts.append(c)
        bounds.append(b)
        score = float(foreground_dice(c, empty))
        keeper.offer(pair.name, score, lambda p=pred, g=gt, pair=pair: make_panels(p, g, _image(pair, g.shape)))
    if problems:
        shown = "\n  ".join(problems[:50]) + (f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else "")
        raise ValueError(f"{len(problems)} of {len(pairs)} mask pairs cannot be scored:\n  {shown}")

    out = prepare_out_dir(out, reads=reads, overwrite=overwrite)
    table = ScoreTable([p.name for p in pairs], np.stack(counts), np.stack(bounds), names)
    return write_report(out, table, empty=empty, tolerance=tolerance, source=source or {}, examples=keeper)


def _where(item: Path | np.ndarray, name: str) -> str:
    return str(item) if isinstance(item, (str, Path)) else f"{name} (array)"


def _mask(item: Path | np.ndarray, encoding: MaskEncoding, palette: Palette | None, num_classes: int) -> np.ndarray:
    if isinstance(item, (str, Path)):
        return read_mask(item, encoding, palette, num_classes)
    array = np.asarray(item)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
        raise BadFileError("<array>", f"a mask array must be (H, W) integers, got {array.dtype} {array.shape}")
    return decode_mask(array, encoding, palette, num_classes)


def _image(pair: MaskPair, shape: tuple[int, int]) -> np.ndarray | None:
    if pair.image is None:
        return None
    img = read_image(pair.image, 3) if isinstance(pair.image, (str, Path)) else np.asarray(pair.image)
    if img.shape[:2] != shape:
        raise ValueError(
            f"image {_where(pair.image, pair.name)} is {img.shape[1]}x{img.shape[0]} (WxH) but its mask is "
            f"{shape[1]}x{shape[0]}"
        )
    return img
