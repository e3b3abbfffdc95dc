"""Runs of the real ``segattn`` command for tests/ddp/test_ddp.py, and callbacks those runs load from YAML.

The multi-process runs go through ``python train.py`` in a subprocess, exactly as a user types it; Lightning's
``ddp`` launcher then starts the second process by re-running that command. Single-process runs can go through
:func:`run_here` instead (the same ``cli_main``, in the test process: no second import of torch and Lightning).
The callbacks below are named in the run's YAML (``trainer.callbacks``), so every process builds them; they write
what each process saw to JSON files.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

REPO = Path(__file__).resolve().parents[2]

# A tiny run: timm resnet18 cut to 3 stages (timm drops the unused stages; smp's own resnet18 keeps them, which plain
# DDP rejects as unused parameters), 64x64 synthetic plans, 8 train / 5 val / 3 test images (5 and 3 are odd:
# 2 processes cannot split them evenly, so a padding sampler would repeat one).
BASE: dict[str, Any] = {
    "seed_everything": 7,
    "trainer": {
        "accelerator": "cpu",
        "max_epochs": 2,
        "deterministic": True,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    },
    "model": {
        "net": {
            "class_path": "segattn.models.AttentionUnet",
            "init_args": {
                "encoder_name": "tu-resnet18",
                "encoder_depth": 3,
                "decoder_channels": [16, 8, 8],
                "attention": ["scse", "gate", "self_attention"],
            },
        },
        "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01}},
    },
    "data": {
        "class_path": "segattn.data.FloorplanData",
        "init_args": {
            "image_size": 64,
            "crop_size": 64,
            "batch_size": 2,
            "train_samples": 8,
            "val_samples": 5,
            "test_samples": 3,
        },
    },
}


def merge(base: dict, update: dict) -> dict:
    """``base`` with ``update`` merged in, recursively for nested dicts (a copy; lists are replaced)."""
    out = dict(base)
    for key, value in update.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def write_config(run_dir: Path, update: dict | None = None, *, recorder: bool = True) -> Path:
    """The YAML of a run in ``run_dir``: CSV logs in ``run_dir/logs``, checkpoints in ``run_dir/checkpoints``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "trainer": {
            "logger": {
                "class_path": "lightning.pytorch.loggers.CSVLogger",
                "init_args": {"save_dir": str(run_dir / "logs"), "name": "csv"},
            },
            "callbacks": [],
        },
        "checkpoint": {"dirpath": str(run_dir / "checkpoints")},
    }
    config = merge(merge(BASE, paths), update or {})
    if recorder:
        config["trainer"]["callbacks"] = [
            *config["trainer"]["callbacks"],
            {"class_path": "tests.ddp.helpers.EvalRecorder", "init_args": {"out_dir": str(run_dir / "eval")}},
        ]
    path = run_dir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_cli(args: list[str], *, hash_seed: int | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """``python train.py <args>`` from the repository root; raises with the output's tail if it fails.

    With ``--trainer.strategy ddp --trainer.devices N`` Lightning's own launcher starts the other processes.
    ``hash_seed`` sets ``PYTHONHASHSEED`` (string hashes, hence set order): runs compared with each other get
    different ones, as a resumed job gets, so a result that depends on set order shows up as a difference.
    """
    return _run([sys.executable, "train.py", *args], hash_seed, timeout)


def run_torchrun(
    args: list[str], *, nproc: int = 2, hash_seed: int | None = None, timeout: float = 240
) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node <nproc> train.py <args>``: the processes are started by torchrun
    (Lightning's ``TorchElasticEnvironment``), as on a cluster; ``--standalone`` picks a free port itself.

    Both processes import in parallel, so this is faster than Lightning's launcher, which starts the second
    process only when the first has built its trainer. ``hash_seed``: as for :func:`run_cli`.
    """
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    return _run([*torchrun, "train.py", *args], hash_seed, timeout)


def run_two_nodes(args: list[str], *, nproc_per_node: int = 2, timeout: float = 400) -> None:
    """Two "nodes" on this machine: two ``torchrun --nnodes 2 --node_rank R`` launchers over loopback, each starting
    ``nproc_per_node`` processes (gloo), as two machines of a cluster would; both must exit 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}
    env.pop("OMP_NUM_THREADS", None)
    procs = []
    for node in range(2):
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nnodes=2",
            f"--node_rank={node}",
            f"--nproc_per_node={nproc_per_node}",
            "--master_addr=127.0.0.1",
            f"--master_port={port}",
            "train.py",
            *args,
        ]
        procs.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = [p.communicate(timeout=timeout) for p in procs]
    for node, (p, (_, err)) in enumerate(zip(procs, outputs, strict=True)):
        if p.returncode != 0:
            raise AssertionError(f"node {node}: train.py {' '.join(args)} failed ({p.returncode}):\n{err[-4000:]}")


def _run(command: list[str], hash_seed: int | None, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}
    if hash_seed is not None:
        env["PYTHONHASHSEED"] = str(hash_seed)
    env.pop("OMP_NUM_THREADS", None)  # let Lightning / torchrun give each process its share of the cores
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        shown = " ".join(command[command.index("train.py") :])
        raise AssertionError(f"{shown} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def run_here(args: list[str]) -> None:
    """``segattn <args>`` in this process (one process only); undoes what Lightning changes process-wide."""
    from segattn.commands import main as cli_main

    env = dict(os.environ)  # seed_everything and deterministic mode set variables
    deterministic = torch.are_deterministic_algorithms_enabled()
    cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    try:
        cli_main(args)
    finally:
        os.environ.clear()
        os.environ.update(env)
        torch.use_deterministic_algorithms(deterministic)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


def last_metrics(run_dir: Path) -> dict[str, float]:
    """The last logged value of every metric in the run's CSV log(s) (later versions win)."""
    values: dict[str, float] = {}
    for path in sorted((run_dir / "logs").glob("csv/version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:])):
        with path.open() as f:
            for row in csv.DictReader(f):
                values.update({k: float(v) for k, v in row.items() if v not in ("", None)})
    return values


def read_eval(run_dir: Path, stage: str) -> dict[str, Any]:
    """What :class:`EvalRecorder` wrote for the last ``stage`` epoch of the run."""
    files = sorted((run_dir / "eval").glob(f"{stage}_*.json"), key=lambda p: int(p.stem.split("_")[1]))
    if not files:
        raise AssertionError(f"no {stage} record in {run_dir / 'eval'}")
    return json.loads(files[-1].read_text())


def _gather(obj: Any) -> list[Any]:
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return [obj]
    parts: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, obj)
    return parts


class EvalRecorder(L.Callback):
    """Writes, per validation / test epoch, the dataset indices each process evaluated and the module's rows.

    ``<out_dir>/<stage>_<n>.json`` = ``{"seen": [[indices of rank 0], [rank 1], ...], "index": [...],
    "counts": [...]}`` where ``index`` / ``counts`` are ``PerImageCounts.compute()`` (gathered from every process)
    just before the module turns them into scores. The sanity check is not recorded.
    """

    def __init__(self, out_dir: str) -> None:
        super().__init__()
        self.out_dir = Path(out_dir)
        self.seen: list[int] = []
        self.epochs = {"val": 0, "test": 0}

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seen = []

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seen = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.seen += batch["index"].tolist()

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.seen += batch["index"].tolist()

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._write(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, pl_module, "test")

    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        index, counts = pl_module.counts[stage].compute()  # a collective: every process calls it
        seen = _gather(self.seen)
        n, self.epochs[stage] = self.epochs[stage], self.epochs[stage] + 1
        if trainer.is_global_zero:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            record = {"seen": seen, "index": index.tolist(), "counts": counts.tolist()}
            (self.out_dir / f"{stage}_{n}.json").write_text(json.dumps(record))


class StopAfterEpochs(L.Callback):
    """Ends ``fit`` after ``epochs`` epochs, as if the job had been cut off there (the config keeps max_epochs)."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True
