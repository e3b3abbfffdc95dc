"""``segattn predict`` (also ``python predict.py``): checkpoint + images of any size -> masks.

    segattn predict --ckpt_path runs/x/best.ckpt --input plans/ --output out/
    segattn predict --ckpt_path best.ckpt --input "scans/**/*.jpg" --output out/ --tta flip --save_probs --overlay
    segattn predict --ckpt_path best.ckpt --input list.txt --output out/ --devices 2 --gt data/walls/masks
    segattn predict --config predict.yaml              # the same options as a YAML file: a job is a file
    segattn predict --model walls.onnx --input plans/ --output out/   # a `segattn export` file, ONNX Runtime

Everything about the images' preprocessing (channels, normalisation, classes) comes from the checkpoint, or from
the metadata of an exported file (``--model``: ONNX files run in ONNX Runtime, TorchScript files in PyTorch). Outputs
go to ``OUT/masks`` (only masks: ``segattn evaluate --pred OUT/masks`` works as it is), ``OUT/probs``,
``OUT/overlays``, ``OUT/manifest.csv``, and with ``--gt`` the Dice report ``OUT/dice_report``. Exit status: 0 when
every image was written or already done, 1 when any image failed (see the manifest), 2 for a usage error.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from jsonargparse import ActionYesNo

from segattn.data.io import DEFAULT_MAX_PIXELS
from segattn.files import write_bytes

from .errors import USER_ERRORS, run_command
from .parsers import CommandParser, parse

TTA = Literal["none", "flip", "d4"]
ProbsFormat = Literal["png8", "png16", "npy"]


def parser() -> CommandParser:
    p = CommandParser(
        "segattn predict",
        "Predict masks for a folder, glob or list of images of any size with a segattn checkpoint.",
    )
    p.add_argument("--ckpt_path", "--ckpt", type=str | None, default=None, help="checkpoint written by `segattn fit`")
    p.add_argument(
        "--model", type=str | None, default=None, help="instead: a file from `segattn export` (.onnx: ONNX Runtime)"
    )
    p.add_argument("--input", type=str, required=True, help="folder (recursive), glob 'scans/**/*.jpg', or list.txt")
    p.add_argument("--output", type=Path, required=True, help="output folder: masks/, probs/, overlays/, manifest")
    g = p.add_argument_group("sliding window")
    g.add_argument("--tile", type=int | None, default=None, help="tile side in pixels (default: the training crop)")
    g.add_argument("--overlap", type=float, default=0.25, help="fraction of a tile shared with its neighbour")
    g.add_argument("--sigma", type=float, default=0.125, help="Gaussian blending sigma, fraction of the tile")
    g.add_argument("--batch_size", type=int, default=4, help="tiles per forward pass, across images")
    g.add_argument("--tta", type=TTA, default="none", help="test-time augmentation: none, flip (4) or d4 (8)")
    g.add_argument("--threshold", type=float | None, default=None, help="binary models: foreground above (0.5)")
    g.add_argument(
        "--scale",
        type=str,
        default="1",
        help="resize each image by this before tiling (masks come back at its size); 'auto': predict once at a "
        "probe size, then resize so the structures found have the training masks' thickness, per image (the "
        "factor goes in the manifest)",
    )
    g.add_argument(
        "--max_pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="larger images fail alone, before they are decoded (about 17 bytes per pixel)",
    )
    o = p.add_argument_group("outputs")
    o.add_argument("--save_probs", action=ActionYesNo, default=False, help="also write probability maps (probs/)")
    o.add_argument("--probs_format", type=ProbsFormat, default="png8", help="png8, png16 or npy")
    o.add_argument("--overlay", action=ActionYesNo, default=False, help="also write overlays/<name>.jpg")
    o.add_argument("--overwrite", action=ActionYesNo, default=False, help="replace existing outputs (else skip)")
    o.add_argument("--gt", type=Path | None, default=None, help="folder of reference masks: also a Dice report")
    r = p.add_argument_group("hardware")
    r.add_argument("--devices", type=int, default=1, help="processes / devices (DDP when > 1)")
    r.add_argument("--accelerator", type=str, default="auto", help="auto, cpu, gpu, mps ...")
    r.add_argument("--precision", type=str, default="32-true", help="Lightning precision, e.g. bf16-mixed on GPUs")
    r.add_argument("--num_workers", type=int, default=0, help="DataLoader processes reading images")
    p.add_argument("--trust_checkpoint", action=ActionYesNo, default=False, help="allow full unpickling (trusted)")
    p.add_argument("--progress", action=ActionYesNo, default=True, help="a progress bar (--no_progress: none)")
    return p


def _check(ns) -> None:
    if (ns.ckpt_path is None) == (ns.model is None):
        raise ValueError("give either --ckpt_path (a checkpoint) or --model (a file from `segattn export`)")
    if ns.ckpt_path is not None and Path(ns.ckpt_path).suffix.lower() == ".onnx":
        raise ValueError(f"--ckpt_path {ns.ckpt_path} is an ONNX model; pass it with --model (runs ONNX Runtime)")
    if ns.model is not None and Path(ns.model).suffix.lower() == ".ckpt":
        raise ValueError(f"--model {ns.model} is a training checkpoint; pass it with --ckpt_path")
    check_tiling(ns, counts=("batch_size", "devices", "max_pixels"))
    if ns.num_workers < 0:
        raise ValueError(f"--num_workers must be >= 0, got {ns.num_workers}")
    ns.scale = parse_scale(ns.scale)
    if ns.gt is not None and not ns.gt.is_dir():
        raise NotADirectoryError(f"--gt {ns.gt} is not a folder of reference masks")
    out = Path(ns.output)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--output {out} exists and is not a folder; choose a folder")


def check_tiling(ns, *, counts: tuple[str, ...] = ("batch_size", "max_pixels")) -> None:
    """The tiling flags that ``predict`` and ``explain`` share (``--tile``, ``--overlap``, ``--sigma``) and the
    flags in ``counts``, which must be >= 1: a ``ValueError`` naming the flag."""
    if ns.tile is not None and ns.tile < 1:
        raise ValueError(f"--tile must be >= 1, got {ns.tile}")
    if not 0 <= ns.overlap < 1:
        raise ValueError(f"--overlap must be in [0, 1), got {ns.overlap}")
    if ns.sigma <= 0:
        raise ValueError(f"--sigma must be > 0, got {ns.sigma}")
    for name in counts:
        if getattr(ns, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(ns, name)}")


def parse_scale(text: str | float) -> float | str:
    """``--scale``: ``"auto"`` or a factor > 0."""
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--scale takes a factor (0.5, 2) or auto, got {text!r}") from None
    if not 0 < value <= 16:
        raise ValueError(f"--scale must be in (0, 16], got {value}")
    return value


def _check_writable(out: Path) -> None:
    """Before any image is read: a folder we cannot write into fails now, in one line."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_bytes(out / ".segattn-write-test", b"", overwrite=True)
        (out / ".segattn-write-test").unlink()
    except OSError as err:
        raise PermissionError(f"--output {out} is not writable ({err.strerror or err}); choose another folder") from err


def main(argv: list[str] | None = None) -> int:
    ns = parse(parser(), argv)
    from segattn.export import MissingExtraError  # after parsing: imports torch

    return run_command("segattn predict", lambda: run(ns), user_errors=(*USER_ERRORS, MissingExtraError))


def load(ns):
    """The :class:`~segattn.predict.Segmenter` of ``--ckpt_path`` (PyTorch) or ``--model`` (an exported file)."""
    if ns.model is not None:
        from segattn.export import load_model

        return load_model(ns.model)
    from segattn.predict import Segmenter  # torch / Lightning imports only once the arguments are valid

    return Segmenter.from_checkpoint(ns.ckpt_path, trust=ns.trust_checkpoint)


def run(ns) -> int:
    _check(ns)
    seg = load(ns)
    seg.config = dataclasses.replace(seg.config, max_pixels=ns.max_pixels, scale=ns.scale)
    if ns.scale == "auto" and seg.config.structure_px is None:
        from segattn.predict.checkpoint import AUTO_NEEDS_REFERENCE

        raise ValueError(f"{ns.ckpt_path or ns.model}: {AUTO_NEEDS_REFERENCE}")
    _check_writable(Path(ns.output))
    result = seg.predict_folder(
        ns.input,
        ns.output,
        probs=ns.probs_format if ns.save_probs else None,
        overlay=ns.overlay,
        overwrite=ns.overwrite,
        threshold=ns.threshold,
        tile=ns.tile,
        overlap=ns.overlap,
        sigma=ns.sigma,
        batch_size=ns.batch_size,
        tta=ns.tta,
        devices=ns.devices,
        accelerator=ns.accelerator,
        precision=ns.precision,
        num_workers=ns.num_workers,
        progress=ns.progress,
    )
    if not result.is_global_zero:  # other DDP processes: rank 0 reports
        return 1 if result.failed else 0
    rate = (result.ok + result.failed) / result.seconds if result.seconds > 0 else 0.0
    print(
        f"{len(result.images)} images: {result.ok} written, {result.skipped} already done, {result.failed} failed "
        f"in {result.seconds:.1f} s ({rate:.2f} img/s, tile {ns.tile or seg.config.tile}); masks in "
        f"{Path(ns.output) / 'masks'}, manifest {result.manifest}"
        + (f"; removed {result.stale_removed} temporary files of killed runs" if result.stale_removed else "")
        + (f" — FAILED: see rows with status=failed in {result.manifest}" if result.failed else "")
    )
    if ns.gt is not None:
        score(result, ns.gt, Path(ns.output), seg.config)
    return 1 if result.failed else 0


def report_dir(output: Path, run: str) -> Path:
    """``output/dice_report``, or ``output/dice_report-<run>`` if the first already holds a report."""
    first = output / "dice_report"
    return first if not (first / "summary.json").exists() else output / f"dice_report-{run}"


def score(result, gt_dir: Path, output: Path, cfg) -> Path:
    """The Dice report of every image that has a mask on disk and a reference in ``gt_dir`` (paired by relative
    path without extension, the rule of ``segattn evaluate``); those left out are listed."""
    from segattn.reports.evaluate import MaskPair, evaluate_pairs, image_key, index_folder

    refs = index_folder(gt_dir, "--gt")
    done = {
        image_key(im.rel): (im, out.mask)
        for im, out in zip(result.images, result.outputs, strict=True)
        if out.mask.exists()
    }
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
    out = report_dir(output, result.run)
    pairs = [MaskPair(k, done[k][1], refs[k], done[k][0].path) for k in keys]
    source = {"predictions": str((output / "masks").resolve()), "references": str(Path(gt_dir).resolve())}
    summary = evaluate_pairs(
        pairs,
        out,
        num_classes=cfg.num_classes,
        pred_encoding="binary" if cfg.num_classes == 2 else "index",
        gt_encoding=cfg.mask_encoding,
        palette=cfg.palette,
        source=source,
        reads={"--gt": gt_dir},
    )
    fg, per_image = summary["foreground"], summary["per_image_foreground"]
    print(
        f"Dice on {len(keys)} images: mean per image {_num(per_image['dice_mean'])}, dataset "
        f"{_num(fg['dice_dataset'])} (empty rule: {summary['empty_rule']['name']}) -> {out / 'report.html'}"
    )
    return out


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"
