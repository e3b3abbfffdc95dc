"""Validation of large images: one forward pass per image against tiles (``model.eval_max_pixels``), side by side.

Both modes run ``segattn validate`` (the command's own code, in-process in a fresh Python started with
``_common.ISOLATED_ENV``) on the same config, data and checkpoint, one after the other, and report the process's
resident-set high-water mark (``VmHWM``), the seconds of ``validate`` and its scores:

- ``whole``: ``--model.eval_max_pixels null``, every image in one forward pass (what segattn did before);
- ``tiled``: the default, at most ``eval_max_pixels`` pixels per forward pass, larger images in ``eval_tile`` tiles
  blended as ``segattn predict`` blends them.

Printed: each mode's figures and tiled / whole ratios of peak memory and time, and tiled − whole of ``val/dice``.
The modes run in alternating order over ``--rounds`` so load from other jobs falls on both alike.

Run: ``python bench/eval_tiles.py --config <run's config.yaml> --ckpt <last.ckpt> [-- extra validate arguments]``
-> ``bench/results/eval_tiles.json``. ``--quick``: the quickstart config (synthetic plans, random weights), tiles
forced small, in this process: a smoke test, not data.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

MIB = 2**20
MODES = {"whole": ["--model.eval_max_pixels", "null"], "tiled": []}


def validate_argv(args: argparse.Namespace, mode: str, root_dir: str) -> list[str]:
    argv = ["validate", "--config", args.config, *args.extra, *MODES[mode]]
    argv += ["--trainer.logger", "false", "--trainer.enable_progress_bar", "false"]
    argv += ["--trainer.default_root_dir", root_dir, "--data.init_args.num_workers", "0"]
    return argv + (["--ckpt_path", str(args.ckpt)] if args.ckpt else [])


def run_validate(argv: list[str]) -> dict:
    """``segattn validate`` in this process: seconds, the resident-set high-water mark so far, the scores."""
    from segattn.commands.train import lightning_cli

    start = time.perf_counter()
    cli = lightning_cli(argv)
    seconds = time.perf_counter() - start
    scores = {k: float(v) for k, v in cli.trainer.callback_metrics.items() if k.startswith("val/")}
    return {"seconds": seconds, "rss_peak_bytes": _common.proc_status_bytes("VmHWM"), "scores": scores}


def measure(args: argparse.Namespace, mode: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="segattn_bench_eval_") as tmp:
        argv = validate_argv(args, mode, tmp)
        if args.quick:  # in this process: exercises the code, measures nothing meaningful
            return {**run_validate(argv), "isolated": False}
        return {**_common.run_isolated([str(Path(__file__).resolve()), "--child", json.dumps(argv)]), "isolated": True}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="unet", help="a config name or file (a run's config.yaml)")
    parser.add_argument("--ckpt", type=Path, default=None, help="weights to validate (default: random init)")
    parser.add_argument("--rounds", type=int, default=1, help="whole, tiled, then tiled, whole, ...")
    parser.add_argument("--device", default="cpu", help="recorded only: validate runs where the config says")
    parser.add_argument("--out", type=Path, default=_common.RESULTS_DIR / "eval_tiles.json")
    parser.add_argument("--quick", action="store_true", help="quickstart config, tiny tiles: a smoke test, not data")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # subprocess mode (JSON argv)
    args = parser.parse_args(argv)
    args.extra = extra
    if args.quick:
        args.config, args.ckpt, args.rounds = "quickstart", None, 1
        args.extra = [
            "--data.init_args.val_samples",
            "2",
            "--model.eval_tile",
            "64",
            "--model.eval_max_pixels",
            str(2 * 64 * 64),
            *extra,
        ]
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    if args.child is not None:
        print(json.dumps(run_validate(json.loads(args.child))))
        return {}
    machine = _common.machine_info(args.device)
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for round_index in range(args.rounds):
        for mode in list(MODES) if round_index % 2 == 0 else list(MODES)[::-1]:
            row = measure(args, mode)
            runs[mode].append(row)
            print(
                f"{mode}: peak {row['rss_peak_bytes'] / MIB:.0f} MiB, {row['seconds']:.1f} s, "
                f"val/dice {row['scores'].get('val/dice', float('nan')):.4f}",
                flush=True,
            )
    whole, tiled = runs["whole"], runs["tiled"]
    summary = {
        "peak_tiled_vs_whole": _common.median(
            [t["rss_peak_bytes"] / w["rss_peak_bytes"] for t, w in zip(tiled, whole, strict=True)]
        ),
        "seconds_tiled_vs_whole": _common.median_ratio([t["seconds"] for t in tiled], [w["seconds"] for w in whole]),
        "dice_tiled_minus_whole": tiled[0]["scores"]["val/dice"] - whole[0]["scores"]["val/dice"],
    }
    result = {
        "benchmark": "eval_tiles",
        "machine": machine,
        "load_average_1_5_15_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "method": __doc__,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "runs": runs,
        "summary": summary,
    }
    print(
        f"tiled / whole: peak memory {summary['peak_tiled_vs_whole']:.3f}, "
        f"time {summary['seconds_tiled_vs_whole']:.3f}; val/dice tiled − whole {summary['dice_tiled_minus_whole']:+.4f}"
    )
    _common.write_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
