"""Leaving PyTorch, measured: per attention variant, ONNX Runtime vs PyTorch eager vs ``torch.compile`` throughput.

Per variant, one AttentionUnet (default: resnet18 encoder, decoder (64, 32, 16, 16, 16), one output class, random
weights with every zero-initialised residual scale set to 0.5 and BatchNorm statistics away from (0, 1), so the
attention does something) is exported with :func:`segattn.export.export_onnx` (dynamic batch / height / width,
default opset; the time includes the parity check on a 2 x 512² batch and a 1 x 257 x 643 image) and compiled with
``torch.compile`` (default inductor backend, the batch dimension marked dynamic so one compilation serves batch 1
and 8, dynamo's cache reset per variant; its first calls are reported apart). Then the three backends run forward
passes on 512² tiles, batch 1 and batch 8, all six calls once per round, the order reversed every other round
(``_common.interleaved_times``), so load from other processes hits them alike. Reported per variant: tiles/s of
each backend at each batch size, the ratios ONNX Runtime / eager and compile / eager (medians of per-round
ratios), the export time, the ONNX file size, the parity check's largest |Δ probability| and compile's largest
|Δ| to eager. Every variant puts its attention at every decoder stage except ``self_attention@2`` (the two
deepest stages, as ``configs/unet_self_attention.yaml``).

Threads: ``--threads`` for PyTorch (``torch.set_num_threads``, before compiling: inductor's kernels take it then) and
ONNX Runtime's intra-op pool alike, default 1. On a shared machine under load, two OpenMP threads that wait on
each other made eager PyTorch 5x slower than one thread (3.8 s against 0.7 s for one 512² tile, load average 12),
while ONNX Runtime's pool suffered less: a comparison at two threads there measures the scheduler, not the
backends. ONNX Runtime runs on the CPU (``--device`` moves only PyTorch: eager and compile).

Run: ``python bench/export.py`` -> ``bench/results/export.json`` (``--quick``: a tiny smoke test, not data).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common, train_step  # noqa: E402
from segattn.data.preprocess import EvalPreprocess  # noqa: E402
from segattn.export import export_onnx, load_onnx  # noqa: E402
from segattn.models import AttentionUnet  # noqa: E402
from segattn.predict import PredictConfig, Segmenter  # noqa: E402

# the attention variants of train_step.py (one table of them), without its smp baseline, which has no segattn export
VARIANTS: dict[str, object] = {name: spec for name, spec in train_step.VARIANTS.items() if name != "smp_unet"}
BACKENDS = ("eager", "compile", "onnxruntime")


def build(variant: str, args: argparse.Namespace) -> Segmenter:
    """The variant's network, its weights made to matter (see the module docstring), with a tile-``args.tile``
    binary prediction config."""
    torch.manual_seed(0)
    attention = VARIANTS[variant]
    if isinstance(attention, list):
        attention = attention[: len(args.decoder_channels)]
    net = AttentionUnet(
        args.encoder,
        encoder_depth=len(args.decoder_channels),
        decoder_channels=args.decoder_channels,
        attention=attention,
    )
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(getattr(module, "gamma", None), nn.Parameter):
                module.gamma.fill_(0.5)
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2, generator=generator)
                module.running_var.uniform_(0.5, 1.5, generator=generator)
    config = PredictConfig(
        num_classes=2,
        in_channels=3,
        tile=args.tile,
        threshold=0.5,
        mask_encoding="binary",
        palette=None,
        preprocess=EvalPreprocess(3, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        eval_transforms=None,
    )
    return Segmenter(net.eval().to(args.device), config)


def measure(variant: str, args: argparse.Namespace, folder: Path) -> dict:
    seg = build(variant, args)
    net = seg.net
    start = time.perf_counter()
    result = export_onnx(seg, folder / f"{variant}.onnx")
    export_s = time.perf_counter() - start
    ort_net = load_onnx(result.path, threads=args.threads).net

    generator = torch.Generator().manual_seed(1)
    batches = {b: torch.randn((b, 3, args.tile, args.tile), generator=generator).to(args.device) for b in args.batch}
    compiled, compile_s, compile_delta = None, None, None
    if not args.no_compile:
        # A fresh dynamo cache per variant: every AttentionUnet shares one forward code object, so without the
        # reset the recompilation limit ends compilation after a few variants and the rest silently run eager.
        torch._dynamo.reset()
        compiled = torch.compile(net)
        first = batches[min(args.batch)].clone()
        torch._dynamo.mark_dynamic(first, 0)  # one graph for every batch size
        start = time.perf_counter()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled(first)
            for b in args.batch:
                compiled(batches[b])
        compile_s = time.perf_counter() - start
        with torch.no_grad():
            x = batches[max(args.batch)]
            compile_delta = (compiled(x).sigmoid() - net(x).sigmoid()).abs().max().item()
    runners = {"eager": net, "compile": compiled, "onnxruntime": ort_net}
    calls = {}
    for backend, runner in runners.items():
        if runner is None:
            continue
        for b in args.batch:
            calls[f"{backend}|{b}"] = lambda r=runner, x=batches[b]: _forward(r, x)
    times = _common.interleaved_times(calls, repeats=args.repeats, warmup=args.warmup, device=args.device)
    row: dict = {
        "variant": variant,
        "attention": VARIANTS[variant],
        "export_s": export_s,
        "onnx_bytes": result.size_bytes,
        "parity_max_delta": result.parity.max_delta,
        "parity": str(result.parity),
        "compile_first_calls_s": compile_s,
        "compile_max_delta": compile_delta,
        "times_s": times,
    }
    for b in args.batch:
        for backend in BACKENDS:
            key = f"{backend}|{b}"
            if key in times:
                row[f"{backend}_b{b}_tiles_per_s"] = b / _common.median(times[key])
                if backend != "eager":
                    row[f"{backend}_b{b}_vs_eager"] = _common.median_ratio(times[f"eager|{b}"], times[key])
    return row


@torch.no_grad()
def _forward(runner: nn.Module, x: torch.Tensor) -> None:
    runner(x).sum().item()  # .item(): the result is computed, not just queued


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--encoder", default="resnet18")
    parser.add_argument("--decoder-channels", type=int, nargs="+", default=[64, 32, 16, 16, 16])
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=1, help="PyTorch and ONNX Runtime threads")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--out", type=Path, default=_common.RESULTS_DIR / "export.json")
    parser.add_argument("--quick", action="store_true", help="tiny network and tiles: a smoke test, not data")
    args = parser.parse_args(argv)
    if args.quick:
        args.decoder_channels, args.tile, args.batch, args.repeats, args.warmup = [8, 8], 64, [1, 2], 1, 0
        args.variants, args.no_compile = ["psa"], True
    return args


def print_rows(rows: list[dict], batches: list[int], tile: int) -> None:
    header = ["variant"]
    for b in batches:
        header += [f"eager b{b}", f"compile b{b}", f"ORT b{b}", f"ORT÷eager b{b}", f"compile÷eager b{b}"]
    header += ["export s", "ONNX MiB", "parity Δ"]
    table = []
    for row in rows:
        cells = [row["variant"]]
        for b in batches:
            cells += [_num(row.get(f"{k}_b{b}_tiles_per_s")) for k in BACKENDS]
            cells += [_num(row.get(f"onnxruntime_b{b}_vs_eager"), 2), _num(row.get(f"compile_b{b}_vs_eager"), 2)]
        cells += [f"{row['export_s']:.1f}", f"{row['onnx_bytes'] / 2**20:.1f}", f"{row['parity_max_delta']:.1e}"]
        table.append(cells)
    print(f"tiles/s on {tile}² tiles (higher is better); ratios are speed-ups over eager in the same rounds")
    print(_common.format_table(header, table))


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="segattn-bench-export-") as folder:
        for variant in args.variants:
            rows.append(measure(variant, args, Path(folder)))
            rows[-1]["load_average_1min_after"] = os.getloadavg()[0]
            print(f"{variant}: done after {time.perf_counter() - started:.0f} s", flush=True)
    print_rows(rows, args.batch, args.tile)
    versions = {name: _version(name) for name in ("onnx", "onnxscript", "onnxruntime")}
    result = {
        "benchmark": "export",
        "machine": {**_common.machine_info(args.device), "export_versions": versions},
        "method": __doc__,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "run_s": time.perf_counter() - started,
        "rows": rows,
    }
    _common.write_json(result, args.out)
    return result


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
