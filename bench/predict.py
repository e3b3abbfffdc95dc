"""Batch prediction at scale: the whole ``segattn-predict`` command against the bare network, and its peak memory.

The checkpoint is written by ``Trainer.fit`` (one step, ``encoder_weights=None``: nothing is downloaded) in a
temporary folder, with the training crop as the command's default tile. Input images are synthetic scanned floor
plans (``segattn.data.floorplans``) written as PNG. Default model: the quickstart's (``tu-mobilenetv3_small_100``,
decoder 64-48-32-16-16, binary), tile 512, overlap 0.25 and batch 4 (the command's defaults).

- **Throughput.** Two candidates timed round after round in this process (``_common.interleaved_times``):
  ``command``: ``segattn.commands.predict.main`` on a folder of ``--images`` plans of ``--size``² into a fresh output
  folder (checkpoint loading, Trainer, reading, tiling, batching, forward, blending, mask PNGs, manifest);
  ``forward``: the same network (loaded once from the same checkpoint) on exactly the tiles the command runs, in
  the same batches (taken from the command's own ``TileStream``, held in memory), under ``inference_mode``.
  The figure is the median over rounds of forward time / command time. Both run the same tiles, so the pixels
  the overlap adds are left out of the ratio. Target: >= 0.85. Python and library start-up are not part of the
  command's time. Before the rounds, one instrumented command run (the warm-up) times the command's parts by
  wrapping the functions that do them: checkpoint loading, the tile stream, the network's forward, the writer
  (blending and files), and the rest; its forward share is the same figure measured within one run, so it does
  not move when other processes take the CPU between runs (the per-round ratios do: rerun on a quiet machine).
- **Peak memory.** For each ``--memory-sizes`` side, a fresh process (``_common.run_isolated``) predicts one plan
  of that size after a warm-up prediction of one small image; recorded: the resident-set high-water mark of the
  process during the big prediction (``/proc/self/status`` VmHWM after a reset), and that mark above the resident
  set before it. Target: <= 3 GB at 8192², roughly flat as the image grows.

Run: ``python bench/predict.py`` -> ``bench/results/predict.json`` (``--quick``: a tiny smoke test, not data).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import itertools
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common  # noqa: E402
from segattn.commands import predict as predict_command  # noqa: E402
from segattn.predict.checkpoint import PredictConfig  # noqa: E402
from segattn.predict.stream import TileStream  # noqa: E402

TARGET_RATIO = 0.85
TARGET_PEAK_BYTES = 3 * 10**9  # 3 GB
MIB = 1024**2
QUICKSTART = {"encoder": "tu-mobilenetv3_small_100", "decoder_channels": [64, 48, 32, 16, 16]}


def make_checkpoint(path: Path, *, encoder: str, decoder_channels: list[int], tile: int) -> Path:
    """A binary AttentionUnet checkpoint trained for one step on floor plans, training crop ``tile``."""
    import lightning as L

    from segattn.data import FloorplanData
    from segattn.models import AttentionUnet
    from segattn.module import SegmentationModule

    L.seed_everything(0, verbose=False)
    dm = FloorplanData(
        image_size=max(tile, 64),
        crop_size=tile,
        train_samples=1,
        val_samples=1,
        test_samples=1,
        batch_size=1,
    )
    net = AttentionUnet(
        encoder,
        encoder_depth=len(decoder_channels),
        encoder_weights=None,
        decoder_channels=decoder_channels,
        classes=1,
    )
    trainer = L.Trainer(
        max_steps=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few workers, tiny dataset: on purpose
        trainer.fit(SegmentationModule(net, num_classes=2), datamodule=dm)
    trainer.save_checkpoint(path)
    return path


def write_plans(folder: Path, n: int, size: int, *, seed: int = 0) -> list[Path]:
    """``n`` synthetic scanned floor plans of ``size``², written as PNG."""
    from segattn.data.floorplans import generate_floorplan

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        image, _ = generate_floorplan((seed, size, i), size)  # (H, W, 3) uint8 RGB
        path = folder / f"plan_{size}_{i:03d}.png"
        if not cv2.imwrite(str(path), image[:, :, ::-1]):
            raise OSError(f"could not write {path}")
        paths.append(path)
    return paths


def command_argv(ckpt: Path, inputs: Path, output: Path, args: argparse.Namespace) -> list[str]:
    accelerator = "gpu" if torch.device(args.device).type == "cuda" else "cpu"
    return [
        "--ckpt_path",
        str(ckpt),
        "--input",
        str(inputs),
        "--output",
        str(output),
        "--batch_size",
        str(args.batch_size),
        "--overlap",
        str(args.overlap),
        "--accelerator",
        accelerator,
        "--no_progress",
    ]


def run_command(argv: list[str]) -> None:
    """``segattn-predict argv`` in this process, its summary line swallowed; raises unless it exits with 0."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = predict_command.main(argv)
    if code != 0:
        raise RuntimeError(f"segattn-predict {' '.join(argv)} exited with {code}: {out.getvalue()}")


def command_stream(
    ckpt: Path, inputs: Path, output: Path, args: argparse.Namespace
) -> tuple[nn.Module, PredictConfig, TileStream]:
    """The command's own ``TileStream`` for these inputs (same preprocessing, tile, stride and batches)."""
    from segattn.models.tiling import stride_for
    from segattn.predict.assemble import OutputSpec
    from segattn.predict.checkpoint import load_checkpoint
    from segattn.predict.inputs import collect_inputs, output_paths

    net, cfg = load_checkpoint(ckpt)
    images = collect_inputs(str(inputs), exclude=output)
    outputs = output_paths(images, output, probs=None, num_prob_channels=OutputSpec(cfg.num_classes).channels)
    stream = TileStream(
        images,
        outputs,
        cfg,
        tile=cfg.tile,
        stride=stride_for(cfg.tile, args.overlap),
        batch_size=args.batch_size,
        channels_last=bool(getattr(net, "channels_last", False)),  # as predict_folder builds it
    )
    return net, cfg, stream


@contextlib.contextmanager
def stopwatches() -> Iterator[dict[str, float]]:
    """Seconds spent in the command's parts while inside the block, by wrapping the functions that do them.

    ``load_checkpoint`` (file -> network and preprocessing), ``stream`` (each ``next`` of the ``TileStream``:
    read, tile, normalise, batch), ``forward`` (``AttentionUnet.forward``, the network) and ``writer``
    (``MaskWriter.write_on_batch_end``: blending, mask rows, encoding and writing files, manifest rows).
    """
    from segattn.models import AttentionUnet
    from segattn.predict import engine, segmenter, stream

    spent = dict.fromkeys(("load_checkpoint", "stream", "forward", "writer"), 0.0)

    def timed(name: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start

        return wrapper

    def timed_iter(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(self: TileStream) -> Iterator[dict]:
            items = fn(self)
            while True:
                start = time.perf_counter()
                item = next(items, None)
                spent["stream"] += time.perf_counter() - start
                if item is None:
                    return
                yield item

        return wrapper

    patches = [
        (segmenter, "load_checkpoint", timed("load_checkpoint", segmenter.load_checkpoint)),
        (AttentionUnet, "forward", timed("forward", AttentionUnet.forward)),
        (engine.MaskWriter, "write_on_batch_end", timed("writer", engine.MaskWriter.write_on_batch_end)),
        (stream.TileStream, "__iter__", timed_iter(stream.TileStream.__iter__)),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, fn in patches:
            setattr(owner, name, fn)
        yield spent
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)


def command_breakdown(ckpt: Path, inputs: Path, output: Path, args: argparse.Namespace) -> dict[str, float]:
    """One command run with stopwatches on its parts: seconds per part, ``other`` = the rest (Lightning, Trainer)."""
    start = time.perf_counter()
    with stopwatches() as spent:
        run_command(command_argv(ckpt, inputs, output, args))
    total = time.perf_counter() - start
    return {**spent, "other": total - sum(spent.values()), "total": total}


def throughput(ckpt: Path, root: Path, args: argparse.Namespace) -> dict:
    inputs = root / "throughput_in"
    write_plans(inputs, args.images, args.size)
    device = torch.device(args.device)
    net, cfg, stream = command_stream(ckpt, inputs, root / "unused", args)
    batches = [batch["image"] for batch in stream]  # (n, C, T, T) each, exactly the command's forward inputs
    batches = [b for b in batches if b.shape[0]]
    tiles = sum(b.shape[0] for b in batches)
    net = net.to(device)
    runs = itertools.count()

    def command() -> None:
        out = root / f"throughput_out_{next(runs)}"
        run_command(command_argv(ckpt, inputs, out, args))
        shutil.rmtree(out)

    def forward() -> None:
        with torch.inference_mode():
            for batch in batches:
                net(batch.to(device, non_blocking=True))

    # warm-up (also of the bare forward's kernels and allocations) and the breakdown in one instrumented run
    parts = command_breakdown(ckpt, inputs, root / "throughput_out_parts", args)
    shutil.rmtree(root / "throughput_out_parts")
    with torch.inference_mode():
        net(batches[0].to(device))
    fns = {"command": command, "forward": forward}
    times = _common.interleaved_times(fns, repeats=args.repeats, warmup=args.warmup, device=device)
    ratios = [f / c for f, c in zip(times["forward"], times["command"], strict=True)]
    ratio = _common.median_ratio(times["forward"], times["command"])
    pixels = args.images * args.size**2
    return {
        "images": args.images,
        "image_size": args.size,
        "tile": cfg.tile,
        "tiles": tiles,
        "tile_pixels_per_image_pixel": tiles * cfg.tile**2 / pixels,
        "forward_vs_command": ratio,
        "target": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "per_round_ratio": ratios,
        **{f"{name}_s": _common.median(t) for name, t in times.items()},
        "command_images_per_s": args.images / _common.median(times["command"]),
        "command_megapixels_per_s": pixels / 1e6 / _common.median(times["command"]),
        "forward_tiles_per_s": tiles / _common.median(times["forward"]),
        "times_s": times,
        "instrumented_run_s": parts,
        "instrumented_forward_share": parts["forward"] / parts["total"],
    }


def measure_peak(spec: dict) -> dict:
    """One warm-up prediction of ``spec["warmup"]``, then the RSS high-water mark predicting ``spec["image"]``."""
    args = argparse.Namespace(**spec["args"])
    out = Path(spec["out"])
    if spec["warmup"] is not None:
        run_command(command_argv(Path(spec["ckpt"]), Path(spec["warmup"]), out / "warmup", args))
    argv = command_argv(Path(spec["ckpt"]), Path(spec["image"]), out / "image", args)
    start = time.perf_counter()
    extra = _common.rss_peak_bytes(lambda: run_command(argv))
    seconds = time.perf_counter() - start
    return {"rss_peak_bytes": _common.proc_status_bytes("VmHWM"), "rss_extra_bytes": extra, "seconds": seconds}


def memory(ckpt: Path, root: Path, args: argparse.Namespace) -> list[dict]:
    warmup = None if args.quick else str(write_plans(root / "memory_warmup", 1, max(64, args.tile // 2))[0])
    settings = {"device": args.device, "batch_size": args.batch_size, "overlap": args.overlap}
    rows = []
    for side in args.memory_sizes:
        image = write_plans(root / f"memory_{side}", 1, side)[0]
        spec = {"ckpt": str(ckpt), "warmup": warmup, "image": str(image), "args": settings}
        spec["out"] = str(root / f"memory_out_{side}")
        if args.quick:  # in this process, no warm-up: exercises the code, measures nothing meaningful
            row = {**measure_peak(spec), "isolated": False}
        else:
            row = {**_common.run_isolated([str(Path(__file__).resolve()), "--memory-child", json.dumps(spec)])}
            row["isolated"] = True
        shutil.rmtree(spec["out"])
        image.unlink()
        row.update(
            side=side,
            rss_peak_mib=row["rss_peak_bytes"] / MIB,
            rss_extra_mib=row["rss_extra_bytes"] / MIB,
            float32_rgb_image_mib=side * side * 3 * 4 / MIB,  # one (H, W, 3) float32 copy, for scale
            meets_target=row["rss_peak_bytes"] <= TARGET_PEAK_BYTES,
        )
        rows.append(row)
        print(f"memory {side}²: peak {row['rss_peak_mib']:.0f} MiB in {row['seconds']:.0f} s", flush=True)
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--encoder", default=QUICKSTART["encoder"])
    parser.add_argument("--decoder-channels", type=int, nargs="+", default=QUICKSTART["decoder_channels"])
    parser.add_argument("--tile", type=int, default=512, help="the checkpoint's training crop = the command's tile")
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--size", type=int, default=2048, help="side of the throughput images")
    parser.add_argument("--images", type=int, default=8, help="images in the throughput folder")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds of the throughput candidates")
    parser.add_argument("--warmup", type=int, default=0, help="untimed rounds after the instrumented run")
    parser.add_argument("--memory-sizes", type=int, nargs="*", default=[2048, 4096, 8192])
    parser.add_argument("--out", type=Path, default=_common.RESULTS_DIR / "predict.json")
    parser.add_argument("--quick", action="store_true", help="tiny model and images: a smoke test, not data")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)  # subprocess mode (JSON spec)
    args = parser.parse_args(argv)
    if args.quick:
        args.encoder, args.decoder_channels, args.tile = "tu-test_resnet", [16, 8, 4], 32
        args.size, args.images, args.repeats, args.warmup, args.memory_sizes = 64, 1, 1, 0, [64]
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # "GPU available: ..." on every command
    if args.memory_child is not None:
        print(json.dumps(measure_peak(json.loads(args.memory_child))))
        return {}
    machine = _common.machine_info(args.device)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="segattn_bench_predict_") as tmp:
        root = Path(tmp)
        ckpt = make_checkpoint(
            root / "bench.ckpt", encoder=args.encoder, decoder_channels=args.decoder_channels, tile=args.tile
        )
        speed = throughput(ckpt, root, args)
        peaks = memory(ckpt, root, args)
    result = {
        "benchmark": "predict",
        "machine": machine,
        "load_average_1_5_15_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "method": __doc__,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "throughput": speed,
        "memory": peaks,
        "memory_target_bytes": TARGET_PEAK_BYTES,
        "seconds": time.perf_counter() - start,
    }
    print(_report(result))
    _common.write_json(result, args.out)
    return result


def _report(result: dict) -> str:
    s = result["throughput"]
    parts = s["instrumented_run_s"]
    verdict = "ok" if s["meets_target"] else "MISSED"
    lines = [
        f"throughput: {s['images']} images of {s['image_size']}², {s['tiles']} tiles of {s['tile']}² "
        f"({s['tile_pixels_per_image_pixel']:.2f} tile pixels per image pixel)",
        _common.format_table(
            ["", "s per run", "vs command"],
            [[name, f"{s[f'{name}_s']:.2f}", f"{s[f'{name}_s'] / s['command_s']:.3f}"] for name in s["times_s"]],
        ),
        f"forward / command time: {s['forward_vs_command']:.3f} (target >= {s['target']}: {verdict}); per round: "
        + ", ".join(f"{r:.3f}" for r in s["per_round_ratio"]),
        "",
        "where the command's time goes (one instrumented run):",
        _common.format_table(
            ["part", "s", "share"],
            [[k, f"{v:.2f}", f"{v / parts['total']:.3f}"] for k, v in parts.items()],
        ),
        "",
        "peak memory, one image per fresh process:",
        _common.format_table(
            ["side", "peak RSS MiB", "above start MiB", "float32 RGB image MiB", "seconds", "<= 3 GB"],
            [
                [
                    r["side"],
                    f"{r['rss_peak_mib']:.0f}",
                    f"{r['rss_extra_mib']:.0f}",
                    f"{r['float32_rgb_image_mib']:.0f}",
                    f"{r['seconds']:.1f}",
                    "ok" if r["meets_target"] else "MISSED",
                ]
                for r in result["memory"]
            ],
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
