"""Fault injection: SIGKILL ``segattn predict`` and ``segattn fit`` at random moments, then rerun / resume.

What must hold after every kill (issue 11), and is counted here:

- predict: no final file is partial at the moment of the kill (every mask and ``.npy`` on disk equals the
  uninterrupted run's, byte for byte); the rerun removes the killed run's temporary files and finishes; afterwards
  every output is bit-identical to the uninterrupted run's and no ``*.tmp`` file is left.
- fit: every checkpoint on disk at the moment of the kill loads; ``fit --ckpt_path last`` finishes the run; when a
  ``last.ckpt`` existed, the resumed run starts from its step (it does not start over), and the finished run has
  the uninterrupted run's number of steps.

Kill times are drawn uniformly between 0.5 s after the start and 0.8 of the uninterrupted run's wall time, with a
fixed seed; trials go on until ``--trials`` runs were killed (a run that finished first is not counted).

Run: ``python bench/faults.py [--trials 20]`` -> a line per part on stdout, ``bench/results/faults.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common  # noqa: E402

REPO = _common.REPO_ROOT
TINY = """\
seed_everything: 0
trainer:
  max_epochs: 4
  logger: false
  enable_progress_bar: false
  enable_model_summary: false
  num_sanity_val_steps: 0
  default_root_dir: {root}
model:
  net:
    class_path: segattn.models.AttentionUnet
    init_args: {{encoder_name: resnet18, encoder_depth: 3, decoder_channels: [16, 8, 8], attention: cbam}}
data:
  class_path: segattn.data.FloorplanData
  init_args: {{image_size: 96, crop_size: 96, batch_size: 4, train_samples: 16, val_samples: 4, test_samples: 4}}
checkpoint:
  dirpath: {root}/checkpoints
"""


def segattn(*args: str) -> list[str]:
    return [sys.executable, "-m", "segattn", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}


def run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    """(seconds, stdout + stderr) of a command that must succeed."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start, proc.stdout + proc.stderr


def kill_after(cmd: list[str], cwd: Path, seconds: float) -> bool:
    """Start ``cmd``, SIGKILL it after ``seconds``; False if it finished first."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def digests(folder: Path, pattern: str) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob(pattern))
        if p.is_file() and not p.name.endswith(".tmp")
    }


def predict_trials(work: Path, trials: int, rng: random.Random) -> dict:
    run(segattn("fit", "--config", str(write_tiny(work / "model")), "--trainer.max_epochs", "1"), work)
    ckpt = work / "model" / "checkpoints" / "last.ckpt"
    run(segattn("floorplans", "--out", str(work / "plans"), "--n", "8", "--size", "512"), work)
    args = [
        "--ckpt_path",
        str(ckpt),
        "--input",
        str(work / "plans" / "images"),
        "--no_progress",
        "--save_probs",
        "--probs_format",
        "npy",
        "--tile",
        "128",
    ]
    wall, _ = run(segattn("predict", *args, "--output", str(work / "reference")), work)
    reference = digests(work / "reference", "*.png") | digests(work / "reference", "*.npy")
    counts = {
        "trials": trials,
        "killed": 0,
        "partial_files_after_kill": 0,
        "temporaries_after_kill": 0,
        "rerun_differs": 0,
        "temporaries_after_rerun": 0,
        "reference_seconds": wall,
    }
    for i in range(3 * trials):
        if counts["killed"] == trials:
            break
        out = work / f"predict_{i}"
        if not kill_after(segattn("predict", *args, "--output", str(out)), work, rng.uniform(0.5, 0.8 * wall)):
            continue
        counts["killed"] += 1
        seen = digests(out, "*.png") | digests(out, "*.npy")
        counts["partial_files_after_kill"] += sum(reference[k] != v for k, v in seen.items())
        counts["temporaries_after_kill"] += len(list(out.rglob("*.tmp")))
        run(segattn("predict", *args, "--output", str(out)), work)
        after = digests(out, "*.png") | digests(out, "*.npy")
        differs = sorted(k for k in reference.keys() | after.keys() if reference.get(k) != after.get(k))
        counts["rerun_differs"] += int(bool(differs))
        if differs:  # what differs, and by how much (npy: the largest probability difference)
            detail = []
            for k in differs[:5]:
                if k.endswith(".npy") and (out / k).is_file() and (work / "reference" / k).is_file():
                    delta = np.abs(np.load(out / k) - np.load(work / "reference" / k)).max()
                    detail.append(f"{k}: max |Δp| {delta:.3g}")
                else:
                    detail.append(
                        f"{k}: {'missing' if not (out / k).is_file() else 'extra' if k not in reference else 'differs'}"
                    )
            counts.setdefault("differences", []).append(detail)
        counts["temporaries_after_rerun"] += len(list(out.rglob("*.tmp")))
    return counts


def write_tiny(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "tiny.yaml"
    path.write_text(TINY.format(root=root))
    return path


def step_of(ckpt: Path) -> int:
    return int(torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"])


def fit_trials(work: Path, trials: int, rng: random.Random) -> dict:
    wall, _ = run(segattn("fit", "--config", str(write_tiny(work / "fit_reference"))), work)
    total = step_of(work / "fit_reference" / "checkpoints" / "last.ckpt")
    counts = {
        "trials": trials,
        "killed": 0,
        "unloadable_checkpoints": 0,
        "last_existed": 0,
        "resume_started_over": 0,
        "resumed_wrong_total": 0,
        "reference_seconds": wall,
        "reference_steps": total,
    }
    for i in range(3 * trials):
        if counts["killed"] == trials:
            break
        root = work / f"fit_{i}"
        config = write_tiny(root)
        if not kill_after(segattn("fit", "--config", str(config)), work, rng.uniform(0.5, 0.8 * wall)):
            continue
        counts["killed"] += 1
        ckpts = sorted((root / "checkpoints").glob("*.ckpt")) if (root / "checkpoints").is_dir() else []
        loaded = {}
        for c in ckpts:
            try:
                loaded[c.name] = step_of(c)
            except Exception:  # noqa: BLE001 - a partial checkpoint is what is being counted
                counts["unloadable_checkpoints"] += 1
        _, output = run(segattn("fit", "--config", str(config), "--ckpt_path", "last"), work)
        final = step_of(root / "checkpoints" / "last.ckpt")
        counts["resumed_wrong_total"] += int(final != total)
        if "last.ckpt" in loaded:
            counts["last_existed"] += 1
            counts["resume_started_over"] += int("Restored all states from the checkpoint" not in output)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("predict", "fit"), default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    result = {"machine": _common.machine_info(), "method": __doc__, "args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="segattn-faults-") as tmp:
        work = Path(tmp)
        if args.only in (None, "predict"):
            result["predict"] = predict_trials(work, args.trials, rng)
            print("predict:", result["predict"], flush=True)
        if args.only in (None, "fit"):
            result["fit"] = fit_trials(work, args.trials, rng)
            print("fit:", result["fit"], flush=True)
    _common.write_json(result, "faults")


if __name__ == "__main__":
    main()
