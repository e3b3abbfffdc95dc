"""Does the HTML report read well in a real browser? Sample report, compare and explain pages in headless Chromium.

Builds, in a temporary folder, the report of ``--images`` synthetic scanned floor plans of ``--size``² (image and
wall mask from ``segattn.data.floorplans``; the prediction is the mask with its edges moved by a pixel, some wall
pieces dropped and some stray marks added, more of each on every further image, so Dice spreads) with
``--examples`` best and worst examples, a second report of the same plans with other perturbations, and the
comparison of the two, and the attention gallery (``explain.html``) of ``--explain-images`` further plans, explained
with ``--explain-ckpt`` (a model trained with attention) or, without one, an untrained resnet18 UNet with
self-attention, PSA, CBAM and scSE on its four decoder stages (tile 256, so the plans are tiled). Then
``report_browser.js`` (beside this file; node with ``puppeteer-core`` and ``@sparticuz/chromium``) opens the
pages through ``file://`` at every ``--widths`` and checks, per page and width:

- ``page fits``: ``document.documentElement.scrollWidth <= window.innerWidth`` (no sideways page scroll);
- ``viewport meta``: ``<meta name="viewport">`` present;
- ``images``: every ``<img>`` decoded (``naturalWidth > 0``) and drawn no wider than the viewport, inside it;
- ``svg``: every inline chart drawn inside the viewport;
- ``tables``: every ``<table>`` in a wrapper that scrolls sideways (``overflow-x`` auto or scroll) and is itself
  inside the viewport;
- ``no empty th``: no ``<th>`` without text;
- ``nothing empty``: every ``<figure>`` shows a picture or text, every panel grid and ``<section>`` a picture, and
  no heading is followed directly by the next one;
- ``legend`` (report and explain): colour swatches, each with a background colour, a size and a name.

``--mobile`` emulates a phone instead of a desktop window of that width. Full-page screenshots go to ``--shots``
(default: the temporary folder, deleted). Prints one row per page and width and the page sizes, writes
``bench/results/report_browser.json`` (``--out``), exits 1 when a check fails.
Without node or the npm packages it prints one line saying so and exits 0: install them outside the repository,
``npm install @sparticuz/chromium puppeteer-core`` in ``DIR``, and pass ``--node-modules DIR/node_modules`` (or set
``NODE_PATH``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common  # noqa: E402
from segattn.data.floorplans import generate_floorplan  # noqa: E402
from segattn.data.preprocess import EvalPreprocess  # noqa: E402
from segattn.explain import explain  # noqa: E402
from segattn.explain.gallery import Gallery  # noqa: E402
from segattn.models import AttentionUnet  # noqa: E402
from segattn.predict import PredictConfig, Segmenter  # noqa: E402
from segattn.reports.compare import compare_runs  # noqa: E402
from segattn.reports.examples import ExampleKeeper, make_panels  # noqa: E402
from segattn.reports.writer import prepare_out_dir, write_report  # noqa: E402
from segattn.scoring.table import ScoreTable, foreground_dice, score_pair  # noqa: E402

JS = Path(__file__).resolve().with_name("report_browser.js")
NPM_PACKAGES = ("puppeteer-core", "@sparticuz/chromium")
CHECKS = ("page fits", "viewport meta", "images", "svg", "tables", "no empty th", "nothing empty", "legend")
UNTRAINED_ATTENTION = ["self_attention", "psa", "cbam", "scse"]


def perturb(mask: np.ndarray, rng: np.random.Generator, strength: int) -> np.ndarray:
    """A plausible wrong prediction of a ``(H, W)`` 0/1 mask: edges moved, ``strength`` pieces lost and added."""
    kernel = np.ones((3, 3), np.uint8)
    pred = cv2.dilate(mask, kernel) if rng.random() < 0.5 else cv2.erode(mask, kernel)
    h, w = mask.shape
    side = max(8, min(h, w) // 12)
    for _ in range(strength):
        r, c = rng.integers(0, h - side), rng.integers(0, w - side)
        pred[r : r + side, c : c + side] = 0  # a missed wall piece
        r, c = rng.integers(0, h - side // 3), rng.integers(0, w - side)
        pred[r : r + side // 3, c : c + side] = 1  # a stray mark taken for a wall
    return pred


def sample_report(out: Path, plans: list[tuple[np.ndarray, np.ndarray]], *, seed: int, n_examples: int) -> Path:
    """Score perturbed predictions of ``plans`` (image, mask) and write their report into ``out``."""
    rng = np.random.default_rng(seed)
    out = prepare_out_dir(out, reads={}, overwrite=False)
    keeper = ExampleKeeper(n_examples)
    counts, bounds, names = [], [], []
    for i, (image, mask) in enumerate(plans):
        pred = perturb(mask, rng, strength=i)
        c, b = score_pair(pred, mask, 2, tolerance=2.0)
        name = f"plan_{i:02d}"
        keeper.offer(name, float(foreground_dice(c, "exclude")), lambda p=pred, g=mask, x=image: make_panels(p, g, x))
        counts.append(c)
        bounds.append(b)
        names.append(name)
    table = ScoreTable(names, np.stack(counts), np.stack(bounds), ["background", "wall"])
    write_report(
        out, table, empty="exclude", tolerance=2.0, source={"sample": "bench/report_browser.py"}, examples=keeper
    )
    return out


def untrained_segmenter(tile: int = 256) -> Segmenter:
    """A resnet18 UNet with attention on every decoder stage, random weights (the page's layout is what is checked)."""
    torch.manual_seed(0)
    net = AttentionUnet("resnet18", encoder_depth=4, decoder_channels=(64, 32, 16, 16), attention=UNTRAINED_ATTENTION)
    prep = EvalPreprocess(3, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    return Segmenter(net, PredictConfig(2, 3, tile, 0.5, "binary", None, prep, None))


def sample_explain(out: Path, seeds: range, size: int, ckpt: Path | None) -> Path:
    """The attention gallery of the plans ``seeds`` (``size``²) under ``out``."""
    seg = Segmenter.from_checkpoint(ckpt) if ckpt else untrained_segmenter()
    gallery = Gallery(out, source={"sample": "bench/report_browser.py", "model": str(ckpt or UNTRAINED_ATTENTION)})
    for seed in seeds:
        image, _ = generate_floorplan(seed, size)
        gallery.add(explain(seg, image, name=f"plan_{seed:02d}.png"))
    return gallery.finish()


def build_sample(
    folder: Path,
    *,
    size: int = 1024,
    n_images: int = 8,
    n_examples: int = 3,
    explain_images: int = 10,
    explain_ckpt: Path | None = None,
) -> dict[str, Path]:
    """``report.html`` (with examples), ``compare.html`` (two runs of the same plans) and ``explain.html`` under
    ``folder``."""
    plans = [generate_floorplan(seed, size) for seed in range(n_images)]
    run_a = sample_report(folder / "unet", plans, seed=0, n_examples=n_examples)
    run_b = sample_report(folder / "cbam", plans, seed=1, n_examples=0)
    compare_runs([run_a, run_b], folder / "compare", seed=0)
    pages = {"report": run_a / "report.html", "compare": folder / "compare" / "compare.html"}
    if explain_images:
        seeds = range(n_images, n_images + explain_images)
        pages["explain"] = sample_explain(folder / "explain", seeds, size, explain_ckpt)
    return pages


def npm_missing(node_modules: str | None) -> str | None:
    """Why the browser cannot run here (node or a package missing), or None when it can."""
    node = shutil.which("node")
    if node is None:
        return "node is not installed"
    script = "".join(f"require.resolve({json.dumps(p)});" for p in NPM_PACKAGES)
    found = subprocess.run([node, "-e", script], env=_node_env(node_modules), capture_output=True, cwd=JS.parent)
    if found.returncode != 0:
        return f"the npm packages {' and '.join(NPM_PACKAGES)} are not found (pass --node-modules or set NODE_PATH)"
    return None


def _node_env(node_modules: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if node_modules:
        env["NODE_PATH"] = str(Path(node_modules).resolve())
    return env


def run_browser(
    pages: dict[str, Path], widths: list[int], shots: Path, node_modules: str | None, *, mobile: bool = False
) -> list[dict]:
    """One result per (page, width) from ``report_browser.js``: the checks, each with a pass flag and details."""
    job = {
        "pages": [{"name": k, "url": p.resolve().as_uri(), "legend": k != "compare"} for k, p in pages.items()],
        "widths": widths,
        "mobile": mobile,
        "shots": str(shots.resolve()),
    }
    done = subprocess.run(
        ["node", str(JS), json.dumps(job)], env=_node_env(node_modules), capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"report_browser.js failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=1024, help="side of the sample plans in pixels")
    p.add_argument("--images", type=int, default=8, help="plans in the sample report")
    p.add_argument("--examples", type=int, default=3, help="best and worst examples shown (each)")
    p.add_argument("--explain-images", type=int, default=10, help="plans in the sample explain.html (0: none)")
    p.add_argument("--explain-ckpt", type=Path, default=None, help="model for it (default: untrained, random)")
    p.add_argument("--widths", default="1200,420", help="viewport widths in CSS pixels, comma-separated")
    p.add_argument("--mobile", action="store_true", help="emulate a phone (2x pixels, touch, viewport meta obeyed)")
    p.add_argument("--shots", type=Path, default=None, help="keep the sample pages and screenshots in this folder")
    p.add_argument("--node-modules", default=os.environ.get("NODE_PATH"), help="folder holding the npm packages")
    p.add_argument("--no-browser", action="store_true", help="only build the sample and print the page sizes")
    p.add_argument("--out", default="report_browser", help="results JSON (a bare name goes to bench/results/)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    missing = None if args.no_browser else npm_missing(args.node_modules)
    if missing is not None:
        print(f"report_browser: skipped, {missing}")
        return 0
    with tempfile.TemporaryDirectory(prefix="report_browser_") as tmp:
        folder = args.shots or Path(tmp)
        if folder.exists() and any(folder.iterdir()):
            raise SystemExit(f"--shots {folder} is not empty; choose a new folder")
        pages = build_sample(
            folder / "sample",
            size=args.size,
            n_images=args.images,
            n_examples=args.examples,
            explain_images=args.explain_images,
            explain_ckpt=args.explain_ckpt,
        )
        sizes = {k: p.stat().st_size for k, p in pages.items()}
        print(_common.format_table(["page", "bytes"], [[k, f"{v:,}"] for k, v in sizes.items()]))
        results = (
            []
            if args.no_browser
            else run_browser(pages, widths, folder / "shots", args.node_modules, mobile=args.mobile)
        )
    head = ["page", "width", *CHECKS]
    rows = [[r["page"], r["width"], *(_mark(r["checks"].get(c)) for c in CHECKS)] for r in results]
    if rows:
        print(_common.format_table(head, rows))
    failed = [
        f"{r['page']} @ {r['width']}px, {name}: {check['detail']}"
        for r in results
        for name, check in r["checks"].items()
        if not check["ok"]
    ]
    for line in failed:
        print("FAILED", line)
    config = {**vars(args), "shots": str(args.shots), "widths": widths}
    payload = {"benchmark": "report_browser", "machine": _common.machine_info(), "config": config}
    _common.write_json({**payload, "page_bytes": sizes, "results": results, "failed": failed}, args.out)
    return 1 if failed else 0


def _mark(check: dict | None) -> str:
    return "–" if check is None else "ok" if check["ok"] else "FAIL"


if __name__ == "__main__":
    sys.exit(main())
