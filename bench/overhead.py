"""What Lightning costs: ``SegmentationModule`` under ``Trainer.fit`` vs a hand-written PyTorch loop, same work.

Both sides train the same network object on the same in-memory batches (dicts in the batch contract, from one
``DataLoader`` with ``batch_size=None`` and no workers) with the module's own loss, optimizer factory and
learning-rate schedule; the hand-written loop does, per batch: channels-last input (as the module's forward),
forward, loss, zero_grad, backward, optimizer step, scheduler step. ``Trainer.fit`` runs with Lightning's defaults
(logger, progress bar, checkpointing, model summary) except ``limit_val_batches=0`` (no validation in either
side) and ``default_root_dir`` in a temporary folder.

A run is ``--steps`` batches; its per-step time is taken between the start of batch ``--skip`` and the end of
the last batch (a callback on ``on_train_batch_start`` / ``on_train_batch_end``; the same points in the plain
loop), so start-up (Trainer set-up, model summary, optimizer creation) and tear-down (final checkpoint) are
left out and reported separately. Rounds alternate Lightning / plain / Lightning / plain ...; the figure is the
median over rounds of (Lightning step time / plain step time) within the round. Target: <= 1.03.

Run: ``python bench/overhead.py`` -> ``bench/results/overhead.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common  # noqa: E402
from segattn.models import AttentionUnet  # noqa: E402
from segattn.module import SegmentationModule  # noqa: E402

TARGET = 1.03


def _sync(device: torch.device) -> None:
    """Wait for queued CUDA work, so a clock reading includes it (``_common`` keeps its own version private)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepClock(L.Callback):
    """Wall-clock time at the start and at the end of every training batch."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        _sync(pl_module.device)
        self.starts.append(time.perf_counter())

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        _sync(pl_module.device)
        self.ends.append(time.perf_counter())


def make_batches(args: argparse.Namespace) -> list[dict]:
    """``--steps`` distinct batches following the batch contract (binary masks, no ignored pixels)."""
    generator = torch.Generator().manual_seed(0)
    b, s = args.batch_size, args.image_size
    return [
        {
            "image": torch.randn((b, 3, s, s), generator=generator),
            "mask": (torch.rand((b, s, s), generator=generator) > 0.5).long(),
            "name": [f"bench_{i * b + j:05d}" for j in range(b)],
            "index": torch.arange(i * b, (i + 1) * b),
        }
        for i in range(args.steps)
    ]


def lightning_run(module: SegmentationModule, loader: DataLoader, args: argparse.Namespace) -> dict[str, float]:
    clock = StepClock()
    with tempfile.TemporaryDirectory(prefix="segattn_bench_") as root:
        trainer = L.Trainer(
            accelerator="gpu" if args.device.startswith("cuda") else "cpu",
            devices=1,
            max_steps=args.steps,
            limit_val_batches=0,
            default_root_dir=root,
            callbacks=[clock],
        )
        start = time.perf_counter()
        trainer.fit(module, train_dataloaders=loader)
        end = time.perf_counter()
    return _summarise(clock.starts, clock.ends, start, end, args.skip)


def plain_run(module: SegmentationModule, loader: DataLoader, args: argparse.Namespace) -> dict[str, float]:
    """The loop a user would write by hand around the same network, loss, optimizer and schedule."""
    device = torch.device(args.device)
    start = time.perf_counter()
    net, loss_fn = module.net.to(device).train(), module.loss
    optimizer = module.optimizer_factory(net.parameters())
    scheduler = module.lr_scheduler_factory(optimizer, args.steps) if module.lr_scheduler_factory else None
    memory_format = torch.channels_last if module.channels_last else torch.contiguous_format
    starts, ends = [], []
    for batch in loader:
        image = batch["image"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
        mask = batch["mask"].to(device, non_blocking=True)
        _sync(device)
        starts.append(time.perf_counter())
        loss = loss_fn(net(image), mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        _sync(device)
        ends.append(time.perf_counter())
    return _summarise(starts, ends, start, time.perf_counter(), args.skip)


def _summarise(starts: list[float], ends: list[float], start: float, end: float, skip: int) -> dict[str, float]:
    measured = len(ends) - skip
    if measured < 1:
        raise RuntimeError(f"only {len(ends)} steps ran, fewer than --skip + 1 = {skip + 1}")
    return {
        "step_s": (ends[-1] - starts[skip]) / measured,
        "startup_s": starts[0] - start,
        "teardown_s": end - ends[-1],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--encoder", default="resnet34")
    parser.add_argument("--attention", default=None, help="attention at every decoder stage (default none)")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=12, help="batches per run")
    parser.add_argument("--skip", type=int, default=2, help="first batches of a run left out of the step time")
    parser.add_argument("--repeats", type=int, default=5, help="Lightning / plain pairs of runs")
    parser.add_argument("--out", type=Path, default=_common.RESULTS_DIR / "overhead.json")
    parser.add_argument("--quick", action="store_true", help="tiny encoder and images: a smoke test, not data")
    args = parser.parse_args(argv)
    if args.quick:
        args.encoder, args.image_size, args.batch_size, args.steps, args.skip, args.repeats = "resnet18", 32, 2, 3, 1, 1
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(0)
    module = SegmentationModule(AttentionUnet(args.encoder, attention=args.attention))
    loader = DataLoader(make_batches(args), batch_size=None, shuffle=False, num_workers=0)
    runs: dict[str, list[dict[str, float]]] = {"lightning": [], "plain": []}
    with warnings.catch_warnings():
        # "does not have many workers": on purpose, both sides read the same in-memory batches
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        for r in range(args.repeats):
            order = ("lightning", "plain") if r % 2 == 0 else ("plain", "lightning")
            for side in order:
                runs[side].append((lightning_run if side == "lightning" else plain_run)(module, loader, args))

    ratios = [lit["step_s"] / plain["step_s"] for lit, plain in zip(runs["lightning"], runs["plain"], strict=True)]
    ratio = statistics.median(ratios)
    result = {
        "benchmark": "overhead",
        "machine": _common.machine_info(args.device),
        "method": __doc__,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "lightning_vs_plain_step": ratio,
        "target": TARGET,
        "meets_target": ratio <= TARGET,
        "per_round_ratio": ratios,
        **{
            f"{side}_{key}": statistics.median(run[key] for run in side_runs)
            for side, side_runs in runs.items()
            for key in ("step_s", "startup_s", "teardown_s")
        },
        "runs": runs,
    }
    header = ["", "step ms", "start-up s", "tear-down s"]
    table = [
        [
            side,
            f"{1e3 * result[f'{side}_step_s']:.1f}",
            f"{result[f'{side}_startup_s']:.2f}",
            f"{result[f'{side}_teardown_s']:.2f}",
        ]
        for side in runs
    ]
    print(_common.format_table(header, table))
    verdict = "ok" if result["meets_target"] else "MISSED"
    print(
        f"Lightning / plain step time: {ratio:.3f} (target <= {TARGET}: {verdict}); per round: "
        + ", ".join(f"{r:.3f}" for r in ratios)
    )
    _common.write_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
