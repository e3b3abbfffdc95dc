"""Can the data keep up? the data sources' train loader in images/s against what a train step consumes.

Two sources, ``FloorplanData`` and ``FolderData``, with their defaults (batch size, crop, augmentation and, unless
``--num-workers`` is given, its default number of workers): ``floorplans`` (synthetic plans drawn on the fly)
and ``folder``: plans written to a temporary folder by ``segattn.data.write_floorplans`` (``--folder-images``
PNG pairs at ``--folder-size``), then read, augmented and cropped like any user dataset.

The train step is the default network (``AttentionUnet``, resnet34, no attention) inside the default
``SegmentationModule`` (its loss, optimizer, channels-last setting), stepped by hand on the DataModule's batches.

Each round, in turn, reversed every other round:
- ``load``: ``--batches`` batches fetched from each loader's running iterator (with workers, the batches already
  prefetched while something else ran are drained first, untimed, so their head start does not count);
- ``step``: ``--steps`` train steps on one batch held in memory (the demand: batch size / step time);
- ``fed``: ``--steps`` train steps, each on the next batch from the loader (what training actually gets).
Figures are medians over rounds of per-round values: loader images/s, demand images/s, supply / demand
(> 1: the loader alone is faster than the step needs) and fed / in-memory throughput (1.0: loading costs
training nothing; with 0 workers loading runs in the training process, so this is below 1 by construction).

Run: ``python bench/data.py`` -> ``bench/results/data.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common  # noqa: E402
from segattn.data import FloorplanData, FolderData, SegData, write_floorplans  # noqa: E402
from segattn.models import AttentionUnet  # noqa: E402
from segattn.module import SegmentationModule  # noqa: E402


def _sync(device: torch.device) -> None:
    """Wait for queued CUDA work, so a clock reading includes it (``_common`` keeps its own version private)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def endless(loader: torch.utils.data.DataLoader) -> Iterator[dict]:
    """Batches from ``loader``, epoch after epoch."""
    while True:
        yield from loader


def make_step(args: argparse.Namespace) -> Callable[[dict], None]:
    """One optimisation step of the default SegmentationModule's network, loss and optimizer on a batch."""
    device = torch.device(args.device)
    module = SegmentationModule(AttentionUnet(args.encoder))
    net, loss_fn = module.net.to(device).train(), module.loss
    optimizer = module.optimizer_factory(net.parameters())
    memory_format = torch.channels_last if module.channels_last else torch.contiguous_format

    def step(batch: dict) -> None:
        image = batch["image"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
        loss = loss_fn(net(image), batch["mask"].to(device, non_blocking=True))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(device)

    return step


def build_datamodules(args: argparse.Namespace, folder_root: Path) -> dict[str, SegData]:
    common = {} if args.num_workers is None else {"num_workers": args.num_workers}
    if args.quick:
        common |= {"batch_size": 2, "crop_size": 32}
    write_floorplans(folder_root, args.folder_images, seed=0, size=args.folder_size)
    floorplans = {"image_size": args.folder_size, "train_samples": 64} if args.quick else {}
    modules = {
        "floorplans": FloorplanData(**floorplans, **common),
        "folder": FolderData(root=str(folder_root), **common),
    }
    for module in modules.values():
        module.setup("fit")
    return modules


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(args: argparse.Namespace, folder_root: Path) -> dict:
    modules = build_datamodules(args, folder_root)
    loaders = {name: m.train_dataloader() for name, m in modules.items()}
    batch_size = next(iter(loaders.values())).batch_size
    start = {}
    iterators = {}
    for name, loader in loaders.items():  # start-up: worker processes and the first batch, reported apart
        t0 = time.perf_counter()
        iterators[name] = endless(loader)
        next(iterators[name])
        start[name] = time.perf_counter() - t0
    held = next(iterators["floorplans"])
    step = make_step(args)
    step(held)  # warm-up (allocator, oneDNN primitives)
    ahead = {name: loader.num_workers * (loader.prefetch_factor or 0) for name, loader in loaders.items()}

    def load(name: str) -> Callable[[], None]:
        def run() -> None:
            for _ in range(args.batches):
                next(iterators[name])

        return run

    def fed(name: str) -> Callable[[], None]:
        def run() -> None:
            for _ in range(args.steps):
                step(next(iterators[name]))

        return run

    def in_memory() -> None:
        for _ in range(args.steps):
            step(held)

    phases: dict[str, Callable[[], None]] = {f"load/{n}": load(n) for n in loaders}
    phases["step/in_memory"] = in_memory
    phases |= {f"fed/{n}": fed(n) for n in loaders}
    times: dict[str, list[float]] = {key: [] for key in phases}
    for r in range(args.repeats):
        for key in list(phases) if r % 2 == 0 else list(phases)[::-1]:
            if key.startswith("load/"):  # drain what the workers prefetched meanwhile
                for _ in range(ahead[key.split("/")[1]]):
                    next(iterators[key.split("/")[1]])
            times[key].append(timed(phases[key]))

    demand = [args.steps * batch_size / t for t in times["step/in_memory"]]
    rows = []
    for name in loaders:
        supply = [args.batches * batch_size / t for t in times[f"load/{name}"]]
        fed_rate = [args.steps * batch_size / t for t in times[f"fed/{name}"]]
        rows.append(
            {
                "dataset": name,
                "num_workers": loaders[name].num_workers,
                "batch_size": batch_size,
                "loader_images_per_s": statistics.median(supply),
                "step_demand_images_per_s": statistics.median(demand),
                "supply_vs_demand": statistics.median(s / d for s, d in zip(supply, demand, strict=True)),
                "fed_images_per_s": statistics.median(fed_rate),
                "fed_vs_in_memory": statistics.median(f / d for f, d in zip(fed_rate, demand, strict=True)),
                "loader_startup_s": start[name],
            }
        )
    return {"rows": rows, "phase_times_s": times}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--encoder", default="resnet34")
    parser.add_argument("--num-workers", type=int, default=None, help="default: the data source's default")
    parser.add_argument("--folder-images", type=int, default=160, help="plans written for the folder dataset")
    parser.add_argument("--folder-size", type=int, default=512, help="side of the written plans")
    parser.add_argument("--batches", type=int, default=4, help="batches per load phase")
    parser.add_argument("--steps", type=int, default=2, help="train steps per step / fed phase")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--out", type=Path, default=_common.RESULTS_DIR / "data.json")
    parser.add_argument("--quick", action="store_true", help="tiny images and encoder: a smoke test, not data")
    args = parser.parse_args(argv)
    if args.quick:
        args.encoder, args.folder_images, args.folder_size = "resnet18", 10, 64
        args.batches, args.steps, args.repeats = 1, 1, 1
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="segattn_bench_data_") as tmp:
        measured = measure(args, Path(tmp) / "plans")
    result = {
        "benchmark": "data",
        "machine": _common.machine_info(args.device),
        "method": __doc__,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        **measured,
    }
    header = [
        "dataset",
        "workers",
        "loader img/s",
        "step img/s",
        "supply/demand",
        "fed img/s",
        "fed/in-memory",
        "start-up s",
    ]
    table = [
        [
            row["dataset"],
            row["num_workers"],
            f"{row['loader_images_per_s']:.1f}",
            f"{row['step_demand_images_per_s']:.2f}",
            f"{row['supply_vs_demand']:.1f}",
            f"{row['fed_images_per_s']:.2f}",
            f"{row['fed_vs_in_memory']:.3f}",
            f"{row['loader_startup_s']:.2f}",
        ]
        for row in result["rows"]
    ]
    print(_common.format_table(header, table))
    _common.write_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
