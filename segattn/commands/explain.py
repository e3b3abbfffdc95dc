"""``segattn explain``: maps of what each decoder attention looks at, for a folder, glob or list of images.

    segattn explain --ckpt_path runs/x/best.ckpt --input plans/ --out explain/
    segattn explain --ckpt_path best.ckpt --input plan.png --out explain/ --points "120,40;300,210"

Writes ``explain/maps/`` (.npy, float16), ``explain/figures/`` (PNG overlays), ``explain/explain.json`` and a
self-contained ``explain/explain.html`` (:mod:`segattn.explain.gallery`). Images are preprocessed and tiled as
``segattn predict`` does. A model without attention is a usage error (exit 2) before any image is read; an
image that cannot be read or explained is listed as failed and the run goes on (exit 1).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jsonargparse import ActionYesNo

from segattn.data.io import DEFAULT_MAX_PIXELS

from .errors import run_command
from .parsers import CommandParser, parse
from .predict import check_tiling


def parser() -> CommandParser:
    p = CommandParser(
        "segattn explain",
        "Maps of what each decoder attention computes (spatial gates, channel gates, self-attention and PSA at query "
        "points) for every image, as .npy files, PNG overlays and one self-contained explain.html.",
    )
    p.add_argument("--ckpt_path", "--ckpt", type=str, required=True, help="checkpoint written by `segattn fit`")
    p.add_argument("--input", type=str, required=True, help="folder (recursive), glob 'scans/**/*.jpg', or list.txt")
    p.add_argument("--out", type=Path, required=True, help="output folder: maps/, figures/, explain.html")
    p.add_argument("--points", type=str | None, default=None, help="query points 'x,y;x,y' in image pixels")
    p.add_argument(
        "--auto_points", type=int, default=2, help="points of each kind (foreground, background, uncertain) per image"
    )
    g = p.add_argument_group("sliding window")
    g.add_argument("--tile", type=int | None, default=None, help="tile side in pixels (default: the training crop)")
    g.add_argument("--overlap", type=float, default=0.25, help="fraction of a tile shared with its neighbour")
    g.add_argument("--sigma", type=float, default=0.125, help="Gaussian blending sigma, fraction of the tile")
    g.add_argument("--batch_size", type=int, default=4, help="tiles per forward pass")
    g.add_argument("--max_pixels", type=int, default=DEFAULT_MAX_PIXELS, help="larger images fail alone")
    p.add_argument("--overwrite", action=ActionYesNo, default=False, help="replace a gallery already in --out")
    p.add_argument("--trust_checkpoint", action=ActionYesNo, default=False, help="allow full unpickling (trusted)")
    return p


def _check(ns) -> None:
    check_tiling(ns)
    if ns.auto_points < 0:
        raise ValueError(f"--auto_points must be >= 0, got {ns.auto_points}")


def main(argv: list[str] | None = None) -> int:
    ns = parse(parser(), argv)
    return run_command("segattn explain", lambda: run(ns))


def run(ns) -> int:
    _check(ns)
    from segattn.explain import check_attention, explain, parse_points  # torch imports once the arguments are valid
    from segattn.explain.gallery import Gallery
    from segattn.predict import Segmenter
    from segattn.predict.inputs import collect_inputs

    points = parse_points(ns.points)
    seg = Segmenter.from_checkpoint(ns.ckpt_path, trust=ns.trust_checkpoint)
    seg.config = dataclasses.replace(seg.config, max_pixels=ns.max_pixels)
    check_attention(seg.net)
    images = collect_inputs(ns.input, exclude=ns.out)
    spec = Path(ns.input)
    gallery = Gallery(
        ns.out,
        overwrite=ns.overwrite,
        reads={"--input": spec if spec.is_dir() else None},
        source={"checkpoint": str(Path(ns.ckpt_path).resolve()), "input": ns.input},
    )
    for im in images:
        try:
            ex = explain(
                seg,
                im.path,
                name=im.rel.as_posix(),
                points=points,
                auto_points=ns.auto_points,
                tile=ns.tile,
                overlap=ns.overlap,
                sigma=ns.sigma,
                batch_size=ns.batch_size,
            )
        except (ValueError, OSError) as err:  # an unreadable image, a point outside it: that image fails, not the run
            gallery.fail(im.rel.as_posix(), str(err))
            print(f"failed: {im.rel}: {err}")
            continue
        gallery.add(ex)
    page = gallery.finish()
    done = len(gallery.records)
    print(f"{done} images explained, {len(gallery.failed)} failed -> {page}")
    return 1 if gallery.failed else 0
