"""Train-step cost of AttentionUnet with each attention variant, relative to smp's plain Unet in the same run.

A train step is zero_grad -> forward -> BCE-with-logits on a fixed random binary mask -> backward -> AdamW step,
on one fixed batch (default resnet34 encoder, random weights, 256x256, batch 4, one output class). Every variant
puts its attention at every decoder stage, except ``self_attention@2``: the two deepest stages only
(``[self_attention, self_attention, None, None, None]``, deepest first as in ``AttentionUnet``), since
self-attention at the 128x128 and 256x256 stages would cost more than the network.

Timing: all variants (the smp Unet among them) take one step each per round, round-robin, the order reversed
every other round, so load from other processes hits every variant alike; a variant's figure is the median over
rounds of (its step time / the smp Unet's step time in that round). ``none`` is AttentionUnet without attention:
its ratio shows what the builder itself costs (should be 1.00).

``--channels-last``, ``--compile`` and ``--autocast bf16`` apply to every model in the run. ``--compare-flags``
instead times the variants in ``--variants`` under each setting (eager fp32, channels_last, bf16 autocast,
both, torch.compile, compile + channels_last) round-robin, as ratios to eager fp32 of the same variant; the
first call of a compiled model (compilation) is reported separately.

Also per variant: parameters, forward FLOPs (``FlopCounterMode``: matmul/conv/SDPA only) and the extra peak
memory of one step above the parameters and optimizer state (the last step's gradients freed first; CUDA:
``max_memory_allocated``; CPU: the allocator's events in ``torch.profiler``), as ratios to the smp Unet.
``--profile NAME ...`` prints the top ops by self time for those variants and the smp Unet (``torch.profiler``)
and stores them in the JSON.

Run: ``python bench/train_step.py`` -> ``bench/results/train_step.json``;
``python bench/train_step.py --compare-flags`` -> ``bench/results/train_step_flags.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common  # noqa: E402
from segattn.models import AttentionUnet  # noqa: E402
from segattn.models.flops import count_flops as count_forward_flops  # noqa: E402

# name -> AttentionUnet's ``attention`` argument; "smp_unet" is smp.Unet itself, the baseline.
VARIANTS: dict[str, object] = {
    "smp_unet": None,
    "none": None,
    "se": "se",
    "eca": "eca",
    "cbam": "cbam",
    "scse": "scse",
    "ge": "ge",
    "gate": "gate",
    "psa": "psa",
    "self_attention@2": ["self_attention", "self_attention", None, None, None],
}
TARGETS = {"se": 1.05, "eca": 1.05, "cbam": 1.10, "scse": 1.10, "self_attention@2": 1.10}
BASELINE = "smp_unet"
# name -> (channels_last, autocast dtype or None, compile)
FLAG_SETTINGS: dict[str, tuple[bool, str | None, bool]] = {
    "eager_fp32": (False, None, False),
    "channels_last": (True, None, False),
    "bf16_autocast": (False, "bf16", False),
    "channels_last+bf16": (True, "bf16", False),
    "compile": (False, None, True),
    "compile+channels_last": (True, None, True),
}


def build_model(variant: str, args: argparse.Namespace) -> nn.Module:
    """The network for ``variant``: smp.Unet for the baseline, AttentionUnet otherwise (random weights)."""
    if variant == BASELINE:
        return smp.Unet(args.encoder, encoder_weights=None, classes=1)
    return AttentionUnet(args.encoder, classes=1, attention=VARIANTS[variant])


def make_train_step(
    model: nn.Module,
    batch: tuple[Tensor, Tensor],
    *,
    channels_last: bool = False,
    autocast: str | None = None,
    compile: bool = False,
) -> Callable[[], float]:
    """A closure doing one optimisation step on ``batch``; returns the loss (a float, which also syncs)."""
    device = batch[0].device
    image, target = batch  # (B, 3, H, W) float32, (B, 1, H, W) float32 in {0, 1}
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format).train()
    image = image.contiguous(memory_format=memory_format)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    forward = torch.compile(model) if compile else model
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(autocast)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        context = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
        with context:
            logits = forward(image)  # (B, 1, H, W)
        loss = F.binary_cross_entropy_with_logits(logits.float(), target)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def make_batch(args: argparse.Namespace) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch_size, 3, args.image_size, args.image_size)
    image = torch.randn(shape, generator=generator)
    target = (torch.rand((args.batch_size, 1, args.image_size, args.image_size), generator=generator) > 0.5).float()
    return image.to(args.device), target.to(args.device)


def top_ops(step: Callable[[], float], rows: int = 15) -> list[dict]:
    """The ops with the largest self time in one step (``torch.profiler``), largest first."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=activities) as prof:
        step()
    averages = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total + e.self_device_time_total)[::-1]
    return [
        {
            "op": e.key,
            "calls": e.count,
            "self_cpu_ms": e.self_cpu_time_total / 1e3,
            "self_device_ms": e.self_device_time_total / 1e3,
        }
        for e in averages[:rows]
    ]


def compare_variants(args: argparse.Namespace) -> dict:
    batch = make_batch(args)
    models = {name: build_model(name, args) for name in args.variants}
    flags = {"channels_last": args.channels_last, "autocast": args.autocast, "compile": args.compile}
    steps, first_call_s = {}, {}
    for name, model in models.items():
        steps[name] = make_train_step(model, batch, **flags)
        start = time.perf_counter()
        steps[name]()  # first call: compilation (if any) and allocator warm-up, reported separately
        first_call_s[name] = time.perf_counter() - start
    times = _common.interleaved_times(steps, repeats=args.repeats, warmup=args.warmup, device=torch.device(args.device))

    base_model = models[BASELINE]
    base_flops = count_forward_flops(base_model, batch[0])
    base_params = sum(p.numel() for p in base_model.parameters())

    def peak(name: str) -> int:
        # Gradients of the last step are freed first: on CPU the profiler cannot see a free of memory allocated
        # before it started, so without this CPU and CUDA figures would differ by the gradients' size.
        models[name].zero_grad(set_to_none=True)
        return _common.peak_memory_bytes(steps[name], torch.device(args.device))

    base_peak = peak(BASELINE)
    rows = []
    for name, model in models.items():
        extra_peak = base_peak if name == BASELINE else peak(name)
        ratio = _common.median_ratio(times[name], times[BASELINE])
        rows.append(
            {
                "variant": name,
                "attention": VARIANTS[name],
                "step_ms": 1e3 * _common.median(times[name]),
                "step_vs_smp_unet": ratio,
                "target": TARGETS.get(name),
                "meets_target": None if name not in TARGETS else ratio <= TARGETS[name],
                "first_call_s": first_call_s[name],
                "params": sum(p.numel() for p in model.parameters()),
                "params_vs_smp_unet": sum(p.numel() for p in model.parameters()) / base_params,
                "forward_flops_vs_smp_unet": count_forward_flops(model, batch[0]) / base_flops,
                "extra_peak_mib": extra_peak / 2**20,
                "extra_peak_vs_smp_unet": extra_peak / base_peak,
                "step_times_s": times[name],
            }
        )
    profiles = {name: top_ops(steps[name]) for name in ([BASELINE, *args.profile] if args.profile else [])}
    return {"flags": flags, "rows": rows, "profiles": profiles}


def compare_flags(args: argparse.Namespace) -> dict:
    batch = make_batch(args)
    steps, first_call_s = {}, {}
    for variant in args.variants:
        for setting, (channels_last, autocast, compiled) in FLAG_SETTINGS.items():
            if compiled and args.no_compile:
                continue
            key = f"{variant}|{setting}"
            steps[key] = make_train_step(
                build_model(variant, args), batch, channels_last=channels_last, autocast=autocast, compile=compiled
            )
            start = time.perf_counter()
            steps[key]()
            first_call_s[key] = time.perf_counter() - start
    times = _common.interleaved_times(steps, repeats=args.repeats, warmup=args.warmup, device=torch.device(args.device))
    rows = []
    for key in steps:
        variant, setting = key.split("|")
        base = times[f"{variant}|eager_fp32"]
        rows.append(
            {
                "variant": variant,
                "setting": setting,
                "step_ms": 1e3 * _common.median(times[key]),
                "speedup_vs_eager_fp32": _common.median_ratio(base, times[key]),
                "first_call_s": first_call_s[key],
                "step_times_s": times[key],
            }
        )
    return {"rows": rows}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--encoder", default="resnet34")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=10, help="interleaved timing rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--variants", nargs="+", default=None, choices=list(VARIANTS))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--autocast", choices=["bf16", "fp16"], default=None)
    parser.add_argument("--compare-flags", action="store_true", help="time the flag settings instead of variants")
    parser.add_argument("--no-compile", action="store_true", help="with --compare-flags: skip torch.compile")
    parser.add_argument("--profile", nargs="*", default=[], choices=list(VARIANTS), help="top ops of these")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny encoder and images: a smoke test, not data")
    args = parser.parse_args(argv)
    if args.quick:
        args.encoder, args.image_size, args.batch_size, args.repeats, args.warmup = "resnet18", 32, 2, 1, 0
    if args.variants is None:
        args.variants = [BASELINE, "cbam"] if args.compare_flags else list(VARIANTS)
        if args.quick:
            args.variants = [BASELINE] if args.compare_flags else [BASELINE, "none", "self_attention@2"]
    if BASELINE not in args.variants and not args.compare_flags:
        args.variants.insert(0, BASELINE)
    if args.out is None:
        args.out = _common.RESULTS_DIR / ("train_step_flags.json" if args.compare_flags else "train_step.json")
    return args


def print_variants(result: dict) -> None:
    header = ["variant", "step ms", "x smp Unet", "target", "params x", "fwd FLOPs x", "peak x"]
    table = []
    for row in result["rows"]:
        target = "" if row["target"] is None else f"<= {row['target']:.2f} {'ok' if row['meets_target'] else 'MISSED'}"
        table.append(
            [
                row["variant"],
                f"{row['step_ms']:.1f}",
                f"{row['step_vs_smp_unet']:.3f}",
                target,
                f"{row['params_vs_smp_unet']:.3f}",
                f"{row['forward_flops_vs_smp_unet']:.3f}",
                f"{row['extra_peak_vs_smp_unet']:.2f}",
            ]
        )
    print(_common.format_table(header, table))
    for name, ops in result["profiles"].items():
        print(f"\ntop ops by self time in one step, {name}:")
        print(
            _common.format_table(
                ["op", "calls", "self CPU ms"], [[o["op"], o["calls"], f"{o['self_cpu_ms']:.1f}"] for o in ops]
            )
        )


def print_flags(result: dict) -> None:
    header = ["variant", "setting", "step ms", "speed-up x eager fp32", "first call s"]
    table = [
        [
            r["variant"],
            r["setting"],
            f"{r['step_ms']:.1f}",
            f"{r['speedup_vs_eager_fp32']:.3f}",
            f"{r['first_call_s']:.1f}",
        ]
        for r in result["rows"]
    ]
    print(_common.format_table(header, table))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(0)
    result = compare_flags(args) if args.compare_flags else compare_variants(args)
    (print_flags if args.compare_flags else print_variants)(result)
    result = {
        "benchmark": "train_step_flags" if args.compare_flags else "train_step",
        "machine": _common.machine_info(args.device),
        "method": __doc__,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        **result,
    }
    _common.write_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
