"""``segattn-predict`` (also ``python predict.py`` and ``segattn predict``): checkpoint + images -> masks.

    segattn-predict --ckpt runs/x/best.ckpt --input plans/ --output masks/
    segattn-predict --ckpt best.ckpt --input "scans/**/*.jpg" --output out/ --tta flip --save-probs --overlay
    segattn-predict --ckpt best.ckpt --input list.txt --output out/ --devices 2 --batch-size 8

Everything about the images' preprocessing (channels, normalisation, classes) comes from the checkpoint.
Exit status: 0 when every image was written or already done, 1 when any image failed (see the manifest),
2 for a usage error (bad checkpoint, no inputs, bad option).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from segattn.data.io import DEFAULT_MAX_PIXELS

from .assemble import PROBS_FORMATS
from .tta import TTA_MODES

USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError)


def build_parser(prog: str = "segattn-predict") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Predict masks for a folder, glob or list of images of any size with a segattn checkpoint.",
    )
    p.add_argument("--ckpt", type=Path, required=True, help="Lightning checkpoint written by `segattn fit`")
    p.add_argument("--input", required=True, help="folder (recursive), glob such as 'scans/**/*.jpg', or list.txt")
    p.add_argument("--output", type=Path, required=True, help="output folder; mirrors the input tree")
    g = p.add_argument_group("sliding window")
    g.add_argument("--tile", type=int, default=None, help="tile side in pixels (default: the training crop)")
    g.add_argument("--overlap", type=float, default=0.25, help="fraction of a tile shared with its neighbour (0.25)")
    g.add_argument("--sigma", type=float, default=0.125, help="Gaussian blending sigma, fraction of the tile (0.125)")
    g.add_argument("--batch-size", type=int, default=4, help="tiles per forward pass, across images (4)")
    g.add_argument("--tta", choices=TTA_MODES, default="none", help="test-time augmentation: none, flip (4) or d4 (8)")
    g.add_argument("--threshold", type=float, default=None, help="binary models: foreground above (default 0.5)")
    g.add_argument(
        "--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
        help=f"larger images fail before they are decoded, about 17 bytes per pixel ({DEFAULT_MAX_PIXELS:,})",
    )  # fmt: skip
    o = p.add_argument_group("outputs")
    o.add_argument("--save-probs", action="store_true", help="also write probability maps")
    o.add_argument("--probs-format", choices=PROBS_FORMATS, default="png8", help="png8, png16 or npy (png8)")
    o.add_argument("--overlay", action="store_true", help="also write <name>_overlay.jpg (mask over the image)")
    o.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    o.add_argument("--gt", type=Path, default=None, help="folder of reference masks: also write a Dice report")
    r = p.add_argument_group("hardware")
    r.add_argument("--devices", type=int, default=1, help="processes / devices (DDP when > 1) (1)")
    r.add_argument("--accelerator", default="auto", help="auto, cpu, gpu, mps ... (auto)")
    r.add_argument("--precision", default="32-true", help="Lightning precision, e.g. bf16-mixed on GPUs (32-true)")
    r.add_argument("--num-workers", type=int, default=0, help="DataLoader processes reading images (0)")
    p.add_argument("--trust-checkpoint", action="store_true", help="allow full unpickling of a trusted checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _check(p: argparse.ArgumentParser, ns: argparse.Namespace) -> None:
    if ns.tile is not None and ns.tile < 1:
        p.error(f"--tile must be >= 1, got {ns.tile}")
    if not 0 <= ns.overlap < 1:
        p.error(f"--overlap must be in [0, 1), got {ns.overlap}")
    if ns.sigma <= 0:
        p.error(f"--sigma must be > 0, got {ns.sigma}")
    for name in ("batch_size", "devices", "max_pixels"):
        if getattr(ns, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(ns, name)}")
    if ns.num_workers < 0:
        p.error(f"--num-workers must be >= 0, got {ns.num_workers}")


def main(argv: list[str] | None = None, *, prog: str = "segattn-predict") -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser(prog)
    ns = parser.parse_args(argv)
    _check(parser, ns)
    from segattn.runtime import keep_freed_memory

    keep_freed_memory()  # 1.4x faster forward passes on CPU, see segattn.runtime
    from .segmenter import Segmenter  # torch / Lightning imports only once the arguments are valid

    try:
        seg = Segmenter.from_checkpoint(ns.ckpt, trust=ns.trust_checkpoint)
        seg.config = dataclasses.replace(seg.config, max_pixels=ns.max_pixels)
        if ns.gt is not None and not ns.gt.is_dir():
            raise NotADirectoryError(f"--gt {ns.gt} is not a folder of reference masks")
        tile = ns.tile or seg.config.tile
        result = seg.predict_folder(
            ns.input, ns.output, probs=ns.probs_format if ns.save_probs else None, overlay=ns.overlay,
            overwrite=ns.overwrite, threshold=ns.threshold, tile=tile, overlap=ns.overlap, sigma=ns.sigma,
            batch_size=ns.batch_size, tta=ns.tta, devices=ns.devices, accelerator=ns.accelerator,
            precision=ns.precision, num_workers=ns.num_workers, progress=not ns.no_progress,
        )  # fmt: skip
    except USER_ERRORS as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    images, outputs, run, cfg = result.images, result.outputs, result.run, seg.config
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():  # left to interpreter exit, gloo threads may abort the process
        dist.destroy_process_group()
    if not result.is_global_zero:  # other DDP processes: rank 0 reports
        return 1 if result.failed else 0
    rate = (result.ok + result.failed) / result.seconds if result.seconds > 0 else 0.0
    print(
        f"{len(images)} images: {result.ok} written, {result.skipped} already done, {result.failed} failed "
        f"in {result.seconds:.1f} s ({rate:.2f} img/s, tile {tile}); manifest {result.manifest}"
        + (f"; removed {result.stale_removed} temporary files of killed runs" if result.stale_removed else "")
        + (f" — FAILED: see rows with status=failed in {result.manifest}" if result.failed else "")
    )
    if ns.gt is not None:
        from .scoring import score_predictions

        try:
            score_predictions(images, outputs, ns.gt, ns.output, cfg=cfg, run=run)
        except USER_ERRORS as err:
            print(f"{parser.prog}: error: scoring against {ns.gt} failed: {err}", file=sys.stderr)
            return 1
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
