"""Self-attention: the SDPA path against the bmm + softmax reference over the map size N = H·W.

For square maps of side 16 ... 256 (N = 256 ... 65536), C = 64, batch 1, modules in ``eval()``, ``no_grad``:

- forward time: ``SelfAttention(fused=True)``, ``SelfAttention(fused=False)`` and, as the yardstick,
  ``nn.Conv2d(C, C, 3, padding=1)`` timed round-robin in the same rounds (``_common.interleaved_times``); the
  speed-up is the median over rounds of reference time / SDPA time.
- extra peak memory of one forward above what was allocated before it (input, weights), two ways:
  ``profiler``: tensor allocations and frees reported to ``torch.profiler`` replayed in time order, in this
  process; ``rss``: the resident-set high-water mark (``/proc/self/status`` VmHWM after a reset through
  ``/proc/self/clear_refs``) above the resident set before the call, in a fresh subprocess per case, after one
  warm-up call, with glibc's mmap threshold fixed low so freed tensors leave the resident set.
- which SDPA kernel ran (``torch.profiler`` op names) and whether the fused path runs with only the flash
  kernel allowed (``sdpa_kernel([FLASH_ATTENTION])`` raises when the shapes need the N x N math kernel).
- layouts (``--layout-sides``): the candidate ways to feed SDPA when q, k have d = C/8 columns and v has C,
  each from x through its projection: ``borrow`` (the module: k zero-padded to C, q takes v's first columns),
  ``pad_both`` (q and k zero-padded to C in their own columns), ``heads`` (v split into C/d heads of width d
  that share q, k), ``unequal`` (q, k at d and v at C as they are: SDPA falls back to the math kernel).

The reference at 256² is skipped: its logits and softmax are two N x N float32 matrices of 17.2 GB each.
Run: ``python bench/self_attention.py`` (table on stdout, JSON in ``bench/results/self_attention.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common  # noqa: E402
from segattn.attention.self_attention import SelfAttention  # noqa: E402

SIDES = (16, 32, 64, 128, 256)
REFERENCE_MAX_SIDE = 128  # 256²: N x N float32 = 65536² · 4 B = 17.2 GB, twice (logits, softmax) > 24 GiB RAM
REPEATS = {16: 15, 32: 15, 64: 9, 128: 5, 256: 3}
MIB = 2**20
_SDPA_DISPATCHER = "aten::scaled_dot_product_attention"  # the public op; the kernel that ran is its child


def build(case: str, channels: int) -> nn.Module:
    torch.manual_seed(0)
    if case == "conv3x3":
        return nn.Conv2d(channels, channels, 3, padding=1).eval()
    module = SelfAttention(channels, fused=case == "sdpa").eval()
    with torch.no_grad():
        module.gamma.fill_(0.5)  # not the identity (the output still needs its buffer either way)
    return module


def forward_fn(module: nn.Module, x: Tensor) -> Callable[[], None]:
    def forward() -> None:
        with torch.no_grad():
            module(x)

    return forward


def cases_for(side: int) -> list[str]:
    return ["sdpa", "reference", "conv3x3"] if side <= REFERENCE_MAX_SIDE else ["sdpa", "conv3x3"]


def sdpa_kernels_used(module: nn.Module, x: Tensor) -> list[str]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof, torch.no_grad():
        module(x)
    return sorted({e.name for e in prof.events() if "scaled_dot_product" in e.name or "_efficient_attention" in e.name})


def op_breakdown(module: nn.Module, x: Tensor, top: int = 6) -> dict[str, float]:
    """Self CPU milliseconds of the costliest ops in one forward (where the time goes)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof, torch.no_grad():
        module(x)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return {e.key: e.self_cpu_time_total / 1e3 for e in ops}


def runs_flash_only(module: nn.Module, x: Tensor) -> bool:
    try:
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]), torch.no_grad():
            module(x)
    except RuntimeError:
        return False
    return True


def one_case_rss(case: str, side: int, channels: int) -> None:
    """Subprocess mode: print {"rss_extra_bytes": ...} for one case."""
    x = torch.randn(1, channels, side, side)
    fn = forward_fn(build(case, channels), x)
    fn()  # warm-up: thread pools, kernel caches
    print(json.dumps({"rss_extra_bytes": _common.rss_peak_bytes(fn)}))


def bench_side(side: int, args: argparse.Namespace) -> dict:
    channels, device = args.channels, torch.device(args.device)
    x = torch.randn(1, channels, side, side, device=device)  # (B, C, H, W)
    cases = cases_for(side)
    modules = {case: build(case, channels).to(device) for case in cases}
    fns = {case: forward_fn(module, x) for case, module in modules.items()}
    repeats = args.repeats or REPEATS.get(side, 3)
    times = _common.interleaved_times(fns, repeats=repeats, warmup=1, device=device)
    row: dict = {"side": side, "N": side * side, "channels": channels, "repeats": repeats}
    for case in cases:
        row[f"{case}_ms"] = 1e3 * _common.median(times[case])
        row[f"{case}_times_s"] = times[case]
        row[f"{case}_profiler_mib"] = _common.peak_memory_bytes(fns[case], device) / MIB
        if args.rss:
            script = str(Path(__file__).resolve())
            out = _common.run_isolated([script, "--one-case", case, str(side), "--channels", str(channels)])
            row[f"{case}_rss_mib"] = out["rss_extra_bytes"] / MIB
    if "reference" in cases:
        row["speedup"] = _common.median_ratio(times["reference"], times["sdpa"])
    else:
        row["reference_skipped"] = f"N x N float32 = {side**4 * 4 / 1e9:.1f} GB per matrix"
    n, d = side * side, modules["sdpa"].qk_channels
    # multiply-adds: projections N·C·(C + 2d); attention N²·(d + C) in the reference, N²·2C through SDPA (q·k
    # runs over all C columns of the padded k: the flash kernel wants one head width)
    row["sdpa_gflop"] = 2 * (n * channels * (channels + 2 * d) + n * n * 2 * channels) / 1e9
    row["reference_gflop"] = 2 * (n * channels * (channels + 2 * d) + n * n * (d + channels)) / 1e9
    if side == args.breakdown_side:
        row["op_ms"] = {case: op_breakdown(modules[case], x) for case in cases if case != "conv3x3"}
    row["sdpa_kernels"] = sdpa_kernels_used(modules["sdpa"], x)
    row["sdpa_flash_only_ok"] = runs_flash_only(modules["sdpa"], x)
    print(f"side {side}: done", flush=True)
    return row


def layout_fns(x: Tensor, d: int) -> dict[str, Callable[[], Tensor]]:
    """Each candidate from x through its projection to the SDPA output (random weights, timing and memory only)."""
    b, c, h, w = x.shape
    n, heads = h * w, c // d
    xt = x.flatten(2).transpose(1, 2)  # (B, N, C)
    wq, wk, wv = torch.randn(d, c), torch.randn(d, c), torch.randn(c, c)
    zeros = torch.zeros(c - d, c)

    def borrow() -> Tensor:
        kqv = F.linear(xt, torch.cat([wk, zeros, wq, wv])).unsqueeze(1)  # (B, 1, N, 2C + d)
        return F.scaled_dot_product_attention(kqv[..., c : 2 * c], kqv[..., :c], kqv[..., c + d :], scale=1.0)

    def pad_both() -> Tensor:
        qkv = F.linear(xt, torch.cat([wq, zeros, wk, zeros, wv])).unsqueeze(1)  # (B, 1, N, 3C)
        q, k, v = qkv.split(c, dim=-1)  # (B, 1, N, C) each
        return F.scaled_dot_product_attention(q, k, v, scale=1.0)

    def split_heads() -> Tensor:
        qkv = F.linear(xt, torch.cat([wq, wk, wv]))  # (B, N, 2d + C)
        q, k = (t.unsqueeze(1).expand(b, heads, n, d) for t in (qkv[..., :d], qkv[..., d : 2 * d]))  # (B, h, N, d)
        v = qkv[..., 2 * d :].unflatten(-1, (heads, d)).transpose(1, 2)  # (B, h, N, d)
        return F.scaled_dot_product_attention(q, k, v, scale=1.0)  # (B, h, N, d)

    def unequal() -> Tensor:
        qkv = F.linear(xt, torch.cat([wq, wk, wv])).unsqueeze(1)  # (B, 1, N, 2d + C)
        return F.scaled_dot_product_attention(qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :], scale=1.0)

    return {"borrow": borrow, "pad_both": pad_both, "heads": split_heads, "unequal": unequal}


def bench_layouts(side: int, args: argparse.Namespace) -> dict:
    x = torch.randn(1, args.channels, side, side)
    fns = {name: _no_grad(fn) for name, fn in layout_fns(x, SelfAttention(args.channels).qk_channels).items()}
    times = _common.interleaved_times(fns, repeats=args.layout_repeats, warmup=1)
    row: dict = {"side": side, "N": side * side}
    for name, fn in fns.items():
        row[f"{name}_ms"] = 1e3 * _common.median(times[name])
        row[f"{name}_vs_borrow"] = _common.median_ratio(times[name], times["borrow"])
        row[f"{name}_profiler_mib"] = _common.peak_memory_bytes(fn) / MIB
    print(f"layouts at side {side}: done", flush=True)
    return row


def _no_grad(fn: Callable[[], Tensor]) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            fn()

    return run


def print_tables(rows: list[dict], layout_rows: list[dict]) -> None:
    def fmt(row: dict, key: str, spec: str = ".1f") -> str:
        return format(row[key], spec) if key in row else "skipped"

    table = []
    for r in rows:
        conv = r["conv3x3_profiler_mib"]
        table.append(
            [
                f"{r['side']}²",
                r["N"],
                fmt(r, "sdpa_ms"),
                fmt(r, "reference_ms"),
                fmt(r, "speedup", ".2f"),
                fmt(r, "conv3x3_ms"),
                fmt(r, "sdpa_profiler_mib"),
                fmt(r, "reference_profiler_mib"),
                f"{conv:.1f}",
                f"{r['sdpa_profiler_mib'] / conv:.2f}",
                fmt(r, "sdpa_rss_mib"),
                fmt(r, "reference_rss_mib"),
                fmt(r, "conv3x3_rss_mib"),
                ",".join(k.removeprefix("aten::") for k in r["sdpa_kernels"] if k != _SDPA_DISPATCHER),
            ]
        )
    header = [
        "map",
        "N",
        "sdpa ms",
        "ref ms",
        "speedup",
        "conv ms",
        "sdpa MiB",
        "ref MiB",
        "conv MiB",
        "sdpa/conv mem",
        "sdpa rss",
        "ref rss",
        "conv rss",
        "SDPA kernel",
    ]
    print("\nforward, C=64, batch 1 (extra peak memory: profiler = tensor allocations; rss = fresh process)")
    print(_common.format_table(header, table))
    work = [
        [
            f"{r['side']}²",
            f"{r['sdpa_gflop']:.2f}",
            f"{r['reference_gflop']:.2f}",
            f"{r['sdpa_gflop'] / r['sdpa_ms'] * 1e3:.0f}",
            f"{r['reference_gflop'] / r['reference_ms'] * 1e3:.0f}" if "reference_ms" in r else "skipped",
        ]
        for r in rows
    ]
    print("\nwork (2 x multiply-adds) and achieved rate")
    print(_common.format_table(["map", "sdpa GFLOP", "ref GFLOP", "sdpa GFLOP/s", "ref GFLOP/s"], work))
    for r in rows:
        for case, ops in r.get("op_ms", {}).items():
            listing = ", ".join(f"{k.removeprefix('aten::')} {v:.0f}" for k, v in ops.items())
            print(f"\n{case} at {r['side']}², self CPU ms per op: {listing}")
    if layout_rows:
        names = ["borrow", "pad_both", "heads", "unequal"]
        header = ["map", *[f"{n} ms" for n in names], *[f"{n} MiB" for n in names]]
        table = [
            [f"{r['side']}²", *[fmt(r, f"{n}_ms") for n in names], *[fmt(r, f"{n}_profiler_mib") for n in names]]
            for r in layout_rows
        ]
        print("\nSDPA input layouts (projection + SDPA, C=64, d=8)")
        print(_common.format_table(header, table))


def check_targets(rows: list[dict]) -> dict:
    by_side = {r["side"]: r for r in rows}
    targets = {}
    if 256 in by_side:
        r = by_side[256]
        ratio = r["sdpa_profiler_mib"] / r["conv3x3_profiler_mib"]
        targets["memory_256"] = {"sdpa_vs_conv3x3": ratio, "target": "<= 2", "met": ratio <= 2}
        if "sdpa_rss_mib" in r:
            targets["memory_256"]["sdpa_vs_conv3x3_rss"] = r["sdpa_rss_mib"] / r["conv3x3_rss_mib"]
    if 128 in by_side:
        speedup = by_side[128]["speedup"]
        targets["speed_128"] = {"speedup": speedup, "target": ">= 5", "met": speedup >= 5}
    print("\ntargets:", json.dumps(targets))
    return targets


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", type=int, nargs="+", default=list(SIDES))
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=None, help="timing rounds (default: 15 at 16² ... 3 at 256²)")
    parser.add_argument("--breakdown-side", type=int, default=128, help="profile the ops at this side")
    parser.add_argument("--layout-sides", type=int, nargs="*", default=[64, 128])
    parser.add_argument("--layout-repeats", type=int, default=5)
    parser.add_argument("--no-rss", dest="rss", action="store_false", help="skip the fresh-process RSS figures")
    parser.add_argument("--out", type=Path, default=_common.RESULTS_DIR / "self_attention.json")
    parser.add_argument("--one-case", nargs=2, metavar=("CASE", "SIDE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.rss = args.rss and Path("/proc/self/clear_refs").exists() and args.device == "cpu"
    return args


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    if args.one_case:
        one_case_rss(args.one_case[0], int(args.one_case[1]), args.channels)
        return None
    machine = _common.machine_info(args.device)  # before the runs: the load average says how busy the machine was
    rows = [bench_side(side, args) for side in args.sides]
    layout_rows = [bench_layouts(side, args) for side in args.layout_sides] if args.device == "cpu" else []
    print_tables(rows, layout_rows)
    result = {
        "benchmark": "self_attention",
        "machine": machine,
        "load_average_after": list(os.getloadavg()),
        "method": __doc__,
        "rows": rows,
        "layouts": layout_rows,
        "targets": check_targets(rows),
    }
    _common.write_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
