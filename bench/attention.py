"""Cost of every registered attention module at typical UNet decoder shapes, relative to the block's own 3x3 conv.

For each (C, H, W) in ``--shapes`` (default: the five-stage decoder of a 256x256 input without its last stage,
(256,16,16) (128,32,32) (64,64,64) (32,128,128)) and every name in the attention registry:

- parameters, and forward FLOPs from ``torch.utils.flop_counter.FlopCounterMode``. That counter only knows
  matmul / conv / attention-like ops: pooling, sigmoid, element-wise products and softmax count as 0, so the
  figure for gates like SE or CBAM is a floor, not the real work. On CPU it also does not know the CPU
  flash-attention kernel (``aten._scaled_dot_product_flash_attention_for_cpu``) and would count fused
  self-attention as 0: ``segattn.models.flops.count_flops`` adds that op with torch's own SDPA formula.
- forward time (``eval()``, ``no_grad``) and forward+backward time (``train()``, gradients for the input and
  every parameter) as ratios to ``nn.Conv2d(C, C, 3, padding=1, bias=False)`` at the same shape. Each shape's
  candidates (the conv and every attention) are timed round-robin in one loop (A B C ... A B C ...), the
  order reversed every other round, so machine noise hits all of them alike; a figure is the median over
  rounds of (attention time / conv time) within the round.
- extra peak memory: the peak of memory allocated during one forward+backward above what was allocated
  before it (input, parameters). CUDA: ``torch.cuda.max_memory_allocated``. CPU: the allocations and frees
  the CPU allocator reports to ``torch.profiler`` (``profile_memory=True``) replayed in time order. Both count
  tensor memory only (no allocator cache, no RSS).
- saved for backward: the bytes autograd keeps between forward and backward (``saved_tensors_hooks``, the
  input and the parameters excluded), in units of one (B, C, H, W) feature map.

Run: ``python bench/attention.py`` (table on stdout, JSON in ``bench/results/attention.json``).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common  # noqa: E402
from segattn.attention import ATTENTION_NAMES, create_attention  # noqa: E402
from segattn.models.flops import count_flops as count_forward_flops  # noqa: E402

DEFAULT_SHAPES = ((256, 16, 16), (128, 32, 32), (64, 64, 64), (32, 128, 128))
QUICK_SHAPES = ((16, 8, 8),)


def saved_for_backward_bytes(module: nn.Module, x: Tensor) -> int:
    """Bytes of the distinct tensors autograd saves in one forward, excluding the input and the parameters."""
    excluded = {x.untyped_storage().data_ptr()} | {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in excluded:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = module(x)
    del out
    return sum(seen.values())


def _train_step_fn(module: nn.Module, x: Tensor, grad: Tensor) -> Callable[[], None]:
    def step() -> None:
        module.zero_grad(set_to_none=True)
        x.grad = None
        module(x).backward(grad)

    return step


def _forward_fn(module: nn.Module, x: Tensor) -> Callable[[], None]:
    def forward() -> None:
        with torch.no_grad():
            module(x)

    return forward


def _timed_rounds(fns: dict[str, Callable[[], None]], args: argparse.Namespace) -> dict[str, list[float]]:
    """``_common.interleaved_times`` in seconds per call, each sample looping a fast call often enough to last
    ``--min-sample-ms`` (a 50 us gate timed once per sample is mostly timer and scheduler noise)."""
    device = torch.device(args.device)
    numbers = {}
    for key, fn in fns.items():  # warmup=1: the first call pays one-off costs (oneDNN primitive creation)
        once = _common.interleaved_times({key: fn}, repeats=1, warmup=1, device=device)[key][0]
        numbers[key] = max(1, math.ceil(args.min_sample_ms / 1e3 / once))
    looped = {key: _looped(fn, numbers[key]) for key, fn in fns.items()}
    times = _common.interleaved_times(looped, repeats=args.repeats, warmup=args.warmup, device=device)
    return {key: [t / numbers[key] for t in samples] for key, samples in times.items()}


def _looped(fn: Callable[[], None], number: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(number):
            fn()

    return run


def bench_shape(names: list[str], shape: tuple[int, int, int], args: argparse.Namespace) -> tuple[list[dict], dict]:
    """Every figure for every attention at one (C, H, W), the conv baseline timed in the same rounds."""
    channels, height, width = shape
    device = torch.device(args.device)
    x = torch.randn(args.batch_size, channels, height, width, device=device)  # (B, C, H, W)
    x_train = x.clone().requires_grad_(True)
    grad = torch.randn_like(x)
    modules = {"conv3x3": nn.Conv2d(channels, channels, 3, padding=1, bias=False)}
    modules |= {name: create_attention(name, channels) for name in names}
    forward, train = {}, {}
    for key, module in modules.items():
        module.to(device)
        forward[key] = _forward_fn(module.eval(), x)
        train[key] = _train_step_fn(module, x_train, grad)

    # Forward is timed with every module in eval(), forward+backward with every module in train().
    fwd_times = _timed_rounds(forward, args)
    for module in modules.values():
        module.train()
    train_times = _timed_rounds(train, args)

    def peak(key: str) -> int:  # gradients of earlier calls freed first: only this call's memory counts
        modules[key].zero_grad(set_to_none=True)
        x_train.grad = None
        return _common.peak_memory_bytes(train[key], device)

    feature_bytes = x.numel() * x.element_size()
    rows = []
    conv_peak = peak("conv3x3")
    conv_params = sum(p.numel() for p in modules["conv3x3"].parameters())
    conv_flops = count_forward_flops(modules["conv3x3"], x)
    for key, module in modules.items():
        if key == "conv3x3":
            continue
        params = sum(p.numel() for p in module.parameters())
        flops = count_forward_flops(module, x)
        extra_peak = peak(key)
        rows.append(
            {
                "attention": key,
                "shape": {"batch": args.batch_size, "channels": channels, "height": height, "width": width},
                "params": params,
                "params_vs_conv": params / conv_params,
                "forward_flops": flops,
                "forward_flops_vs_conv": flops / conv_flops,
                "forward_ms": 1e3 * _common.median(fwd_times[key]),
                "forward_vs_conv": _common.median_ratio(fwd_times[key], fwd_times["conv3x3"]),
                "train_ms": 1e3 * _common.median(train_times[key]),
                "train_vs_conv": _common.median_ratio(train_times[key], train_times["conv3x3"]),
                "extra_peak_mib": extra_peak / 2**20,
                "extra_peak_vs_conv": extra_peak / conv_peak if conv_peak else math.nan,
                "saved_for_backward_maps": saved_for_backward_bytes(module, x_train) / feature_bytes,
            }
        )
    baseline = {
        "shape": [channels, height, width],
        "params": conv_params,
        "forward_flops": conv_flops,
        "forward_ms": 1e3 * _common.median(fwd_times["conv3x3"]),
        "train_ms": 1e3 * _common.median(train_times["conv3x3"]),
        "extra_peak_mib": conv_peak / 2**20,
    }
    return rows, baseline


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timing rounds per shape")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--min-sample-ms", type=float, default=20.0, help="fast calls are looped to last this long")
    parser.add_argument("--names", nargs="+", default=None, help="attention names (default: all registered)")
    parser.add_argument("--out", type=Path, default=_common.RESULTS_DIR / "attention.json")
    parser.add_argument("--quick", action="store_true", help="one tiny shape, 2 rounds: a smoke test, not data")
    args = parser.parse_args(argv)
    args.shapes = QUICK_SHAPES if args.quick else DEFAULT_SHAPES
    if args.quick:
        args.repeats, args.warmup, args.batch_size = 2, 1, 2
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(0)
    names = args.names or list(ATTENTION_NAMES)
    rows, baselines = [], []
    for shape in args.shapes:
        shape_rows, baseline = bench_shape(names, shape, args)
        rows += shape_rows
        baselines.append(baseline)
        print_shape(shape_rows, baseline)
    result = {
        "benchmark": "attention",
        "machine": _common.machine_info(args.device),
        "method": __doc__,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "conv3x3": baselines,
        "rows": rows,
    }
    _common.write_json(result, args.out)
    return result


def print_shape(rows: list[dict], base: dict) -> None:
    c, h, w = base["shape"]
    print(
        f"\n(C, H, W) = ({c}, {h}, {w}), batch {rows[0]['shape']['batch'] if rows else '?'}; conv3x3: "
        f"{base['params']} params, {base['forward_flops'] / 1e6:.1f} MFLOP, fwd {base['forward_ms']:.2f} ms, "
        f"fwd+bwd {base['train_ms']:.2f} ms, extra peak {base['extra_peak_mib']:.1f} MiB"
    )
    header = ["attention", "params", "MFLOP", "fwd x conv", "fwd+bwd x conv", "peak MiB", "peak x conv", "saved maps"]
    table = [
        [
            row["attention"],
            row["params"],
            f"{row['forward_flops'] / 1e6:.2f}",
            f"{row['forward_vs_conv']:.2f}",
            f"{row['train_vs_conv']:.2f}",
            f"{row['extra_peak_mib']:.1f}",
            f"{row['extra_peak_vs_conv']:.2f}",
            f"{row['saved_for_backward_maps']:.2f}",
        ]
        for row in rows
    ]
    print(_common.format_table(header, table))


if __name__ == "__main__":
    main()
