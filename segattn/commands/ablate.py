"""``segattn ablate``: train and test each attention variant on the same data, schedule and seeds, then compare.

For every attention ``X`` and seed ``S`` (one config; only the attention and the seed change)::

    segattn fit  --config CFG [extra] --model.net.attention X --seed_everything S
                 --trainer.default_root_dir OUT/X/seedS --checkpoint.dirpath OUT/X/seedS/checkpoints
                 --checkpoint.filename best --checkpoint.save_top_k 1 --checkpoint.save_last true
    segattn test --config CFG [extra] --model.net.attention X --seed_everything S
                 --trainer.default_root_dir OUT/X/seedS/test --ckpt_path OUT/X/seedS/checkpoints/last.ckpt
                 --report.report_dir OUT/X/seedS/report --report.overwrite true
    segattn compare OUT/X1 OUT/X2 ... --baseline OUT/<first attention> --out OUT/compare

The data split comes from the config (``data.split_seed`` / ``data.seed``), so it is the same for every run;
``seed_everything`` changes initialisation and augmentation only. With ``stages`` (``--stages 0,1``) each attention
is placed on those decoder stages only (deepest first, the others ``null``), e.g. self-attention on the two deepest
stages as ``configs/unet_self_attention.yaml`` does; without it an attention name applies to every stage.
Runs already done are skipped (a report exists: skip both; a finished fit: skip fit), so an interrupted ablation
resumes; an interrupted fit resumes from its ``last.ckpt`` (``--ckpt_path``: a fresh fit beside it would write
``last-v1.ckpt`` and leave the stale ``last.ckpt`` to be tested, so a folder holding such versioned names is
refused); a report folder left incomplete by an interrupted test is replaced (``--report.overwrite``: OUT belongs to
the ablation). Each variant is tested with its ``last.ckpt``, the end of the schedule (``best.ckpt``, the best by
``val/dice``, is kept beside it): an early best-``val/dice`` epoch picked on a small validation set scored below the
end of training (bench/README.md, the long budget). An OUT whose runs were tested with ``best.ckpt`` (made before
ablate tested ``last.ckpt``) is refused rather than resumed. ``dry_run`` prints the commands instead, for separate
jobs. ``OUT/ablation.json`` records the commands.

Each fit and test runs in its own Python process (``python -m segattn ...``, :func:`run_child`): the memory a fit
leaves behind (glibc keeps freed memory, see :mod:`segattn.runtime`) is returned when it exits, so a test's
DataLoader workers do not fork from a fit's heap and the next fit starts clean; a DDP launch (``--trainer.devices
2``) re-runs that one command in each rank, not the whole ablation. A failed run stops the ablation in one line
naming it; the runs finished before it are kept and skipped when the same command is run again.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from jsonargparse import ActionYesNo

from segattn.attention.registry import ATTENTION_NAMES
from segattn.reports.compare import compare_runs
from segattn.reports.writer import SUMMARY

from .configs import resolve_config_names
from .errors import USER_ERRORS, run_command
from .parsers import CommandParser, parse

ALL_ATTENTION = ("none", *ATTENTION_NAMES)
TESTED_WITH = "last.ckpt"  # the checkpoint every run is tested with: the end of training


@dataclass(frozen=True)
class Job:
    attention: str
    seed: int
    folder: Path
    fit: list[str]
    test: list[str]

    @property
    def checkpoint(self) -> Path:
        return self.folder / "checkpoints" / TESTED_WITH

    @property
    def report(self) -> Path:
        return self.folder / "report"

    @property
    def fit_done(self) -> Path:  # written after fit returns: a last.ckpt alone may come from an interrupted fit
        return self.folder / "fit.done"


def parse_seeds(text: str) -> list[int]:
    """``"3"`` -> ``[0, 1, 2]``; ``"0,5,7"`` -> ``[0, 5, 7]``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--seeds takes a count (3) or a list (0,5,7), got {text!r}") from None
    if len(values) == 1 and "," not in text:
        if values[0] < 1:
            raise ValueError(f"--seeds count must be >= 1, got {values[0]}")
        return list(range(values[0]))
    if len(set(values)) != len(values) or not values:
        raise ValueError(f"--seeds list must hold distinct seeds, got {text!r}")
    return values


def parse_attention(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [n for n in names if n not in ALL_ATTENTION]
    if unknown:
        raise ValueError(f"unknown attention {unknown}; choose from {list(ALL_ATTENTION)}")
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"--attention needs at least two distinct variants to compare, got {names}")
    return names


def parse_stages(text: str | None) -> list[int] | None:
    """``"0,1"`` -> ``[0, 1]`` (decoder stages, deepest first); ``None`` / ``""`` -> ``None`` (every stage)."""
    if not text:
        return None
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--stages takes decoder stage indices, deepest first (0,1), got {text!r}") from None
    if not values or len(set(values)) != len(values) or min(values) < 0:
        raise ValueError(f"--stages takes distinct stage indices >= 0, got {text!r}")
    return sorted(values)


def config_depth(config: Path) -> int:
    """The decoder stage count of a training config: ``model.net`` ``encoder_depth`` (AttentionUnet's default 5)."""
    net = (yaml.safe_load(Path(config).read_text()) or {}).get("model", {}).get("net", {}) or {}
    return int((net.get("init_args", net) or {}).get("encoder_depth", 5))


def attention_value(name: str, stages: list[int] | None, depth: int) -> str:
    """The ``--model.net.attention`` value of one variant: the name, or a per-stage list with it on ``stages``."""
    if stages is None or name == "none":
        return name
    if max(stages) >= depth:
        raise ValueError(f"--stages {stages} asks for stage {max(stages)} but the config has {depth} (0..{depth - 1})")
    return "[" + ", ".join(name if i in stages else "null" for i in range(depth)) + "]"


def plan(
    config: Path, attention: list[str], seeds: list[int], out: Path, extra: list[str], stages: list[int] | None = None
) -> list[Job]:
    """The fit and test argument lists of every (attention, seed), in run order."""
    if not Path(config).is_file():
        raise FileNotFoundError(f"config {config} does not exist")
    depth = config_depth(config) if stages is not None else 0
    jobs = []
    for name in attention:
        value = attention_value(name, stages, depth)
        for seed in seeds:
            folder = Path(out) / name / f"seed{seed}"
            common = ["--config", str(config), *extra, "--model.net.attention", value, "--seed_everything", str(seed)]
            root = ["--trainer.default_root_dir", str(folder)]
            ckpt = [
                "--checkpoint.dirpath",
                str(folder / "checkpoints"),
                "--checkpoint.filename",
                "best",
                "--checkpoint.save_top_k",
                "1",
                "--checkpoint.save_last",
                "true",
            ]
            fit = ["fit", *common, *root, *ckpt]
            # test logs (and LightningCLI's config.yaml) go to their own folder: the fit's config is kept
            test = [
                "test",
                *common,
                "--trainer.default_root_dir",
                str(folder / "test"),
                "--ckpt_path",
                str(folder / "checkpoints" / TESTED_WITH),
                "--report.report_dir",
                str(folder / "report"),
                "--report.overwrite",
                "true",
            ]
            jobs.append(Job(name, seed, folder, fit, test))
    return jobs


class RunFailed(RuntimeError):
    """One fit or test of the ablation exited with a non-zero status (its own error was printed above)."""


def run_child(args: list[str]) -> None:
    """Run ``segattn <args>`` in a fresh Python process with this environment; raise :class:`RunFailed` if it fails."""
    status = subprocess.run([sys.executable, "-m", "segattn", *args], check=False).returncode
    if status != 0:
        raise RunFailed(f"`segattn {args[0]}` exited with status {status}")


def compare_args(out: Path, attention: list[str]) -> list[str]:
    runs = [str(Path(out) / a) for a in attention]
    return ["compare", *runs, "--baseline", runs[0], "--out", str(Path(out) / "compare")]


def ablate(
    config: Path,
    attention: list[str],
    seeds: list[int],
    out: Path,
    *,
    extra: list[str] | None = None,
    stages: list[int] | None = None,
    dry_run: bool = False,
    run: Callable[[list[str]], object] | None = None,
    echo: Callable[[str], None] = print,
) -> list[Job]:
    """Run (or with ``dry_run`` print) the ablation; ``run`` executes one ``segattn`` argument list (default
    :func:`run_child`, a process per run)."""
    jobs = plan(config, attention, seeds, out, list(extra or []), stages)
    final = compare_args(out, attention)
    if dry_run:
        for job in jobs:
            echo(shlex.join(["segattn", *job.fit]))
            echo(shlex.join(["segattn", *job.test]))
        echo(shlex.join(["segattn", *final]))
        return jobs
    run = run_child if run is None else run
    _record(Path(out), config, attention, seeds, list(extra or []), jobs)
    for job in jobs:
        _refuse_versioned(job)  # also when a report exists: it may have scored the stale checkpoint
        if (job.report / SUMMARY).is_file():
            echo(f"[ablate] {job.attention} seed {job.seed}: report exists, skipped ({job.report})")
            continue
        if job.fit_done.is_file() and job.checkpoint.is_file():
            echo(f"[ablate] {job.attention} seed {job.seed}: trained before, fit skipped ({job.checkpoint})")
        else:
            fit = job.fit
            if job.checkpoint.is_file():  # an interrupted fit: continue it rather than start over beside it
                echo(f"[ablate] {job.attention} seed {job.seed}: fit, resumed from {job.checkpoint}")
                fit = [*job.fit, "--ckpt_path", str(job.checkpoint)]
            else:
                echo(f"[ablate] {job.attention} seed {job.seed}: fit")
            _run_job(run, fit, job, out)
            if not job.checkpoint.is_file():
                raise RuntimeError(
                    f"fit of {job.attention} seed {job.seed} wrote no {job.checkpoint}; "
                    "does the config turn checkpoints off (trainer.enable_checkpointing: false)?"
                )
            _refuse_versioned(job)
            job.fit_done.write_text(shlex.join(["segattn", *job.fit]) + "\n")
        echo(f"[ablate] {job.attention} seed {job.seed}: test")
        _run_job(run, job.test, job, out)
    echo(f"[ablate] compare -> {Path(out) / 'compare'}")
    compare_runs(
        [Path(out) / a for a in attention], Path(out) / "compare", baseline=Path(out) / attention[0], overwrite=True
    )
    echo((Path(out) / "compare" / "compare.md").read_text())
    return jobs


def _refuse_versioned(job: Job) -> None:
    """Refuse a run folder holding ``last-v1.ckpt`` / ``best-v1.ckpt``: a fit restarted over an earlier fit's
    checkpoints (Lightning versions the new names rather than overwrite), so ``last.ckpt`` may be the stale one."""
    versioned = sorted(p.name for p in job.checkpoint.parent.glob("*-v[0-9]*.ckpt"))
    if versioned:
        raise ValueError(
            f"{job.checkpoint.parent} holds {', '.join(versioned)} beside last.ckpt / best.ckpt: a fit was restarted "
            f"over an earlier one's checkpoints, so last.ckpt may not be the end of training; move {job.folder} "
            "away to train this run again"
        )


def _run_job(run: Callable[[list[str]], object], args: list[str], job: Job, out: Path) -> None:
    try:
        run(args)
    except RunFailed as err:
        raise RunFailed(
            f"{args[0]} of {job.attention} seed {job.seed} failed: {err}; its output is above, its folder is "
            f"{job.folder}. Finished runs are kept: the same command resumes after the fix (--out {out})"
        ) from None


def _record(out: Path, config: Path, attention: list[str], seeds: list[int], extra: list[str], jobs: list[Job]) -> None:
    """Write ``OUT/ablation.json``; refuse to resume into a folder made with another config or other overrides."""
    record = {
        "config": str(Path(config).resolve()),
        "config_sha256": hashlib.sha256(Path(config).read_bytes()).hexdigest(),
        "extra": extra,
        "attention": attention,
        "seeds": seeds,
        "tested_with": TESTED_WITH,
        "commands": [c for j in jobs for c in (j.fit, j.test)],
    }
    path = out / "ablation.json"
    if path.is_file():
        old = json.loads(path.read_text())
        old.setdefault("tested_with", "best.ckpt")  # ablations before last.ckpt was the default
        for key, what in (("config_sha256", "config"), ("extra", "extra"), ("tested_with", "test checkpoint")):
            if old.get(key) != record[key]:
                raise ValueError(
                    f"{out} holds an ablation made with a different {what} ({path}); "
                    "finished runs would be mixed with new ones: choose another --out"
                )
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def parser() -> CommandParser:
    p = CommandParser(
        "segattn ablate",
        "Train and test each attention variant with one config and the same seeds, then compare. Arguments after "
        "`--` are passed to every fit and test (e.g. -- --trainer.max_epochs 20).",
        options_file=False,
    )
    p.add_argument("--config", type=str, required=True, help="the training config shared by every run (or a name)")
    p.add_argument("--attention", type=str, required=True, help="comma-separated variants, baseline first")
    p.add_argument("--stages", type=str | None, default=None, help="decoder stages (deepest first): 0,1; default all")
    p.add_argument("--seeds", type=str, default="3", help="a count (3 -> seeds 0,1,2) or a list (0,5,7)")
    p.add_argument("--out", type=Path, required=True, help="ablation folder: OUT/<attention>/seed<S>, OUT/compare")
    p.add_argument("--dry_run", action=ActionYesNo, default=False, help="print the commands instead of running them")
    return p


def main(argv: list[str]) -> int:
    """``segattn ablate --config CFG --attention none,se,cbam --seeds 3 --out DIR [--dry_run] [-- ...]``"""
    cut = argv.index("--") if "--" in argv else len(argv)
    ns = parse(parser(), argv[:cut])
    extra = argv[cut + 1 :]

    def run() -> None:
        config = Path(resolve_config_names(["--config", ns.config])[1])
        ablate(
            config,
            parse_attention(ns.attention),
            parse_seeds(ns.seeds),
            ns.out,
            extra=extra,
            stages=parse_stages(ns.stages),
            dry_run=ns.dry_run,
        )

    return run_command("segattn ablate", run, user_errors=(*USER_ERRORS, RunFailed))
