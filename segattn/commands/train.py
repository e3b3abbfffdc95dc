"""``segattn fit`` / ``validate`` / ``test``: LightningCLI over :class:`SegmentationModule` and a data source.

    segattn fit --config configs/quickstart.yaml          # train; prints where the checkpoints and logs went
    segattn fit --config quickstart                       # a packaged config by name (segattn configs lists them)
    segattn fit --config configs/unet_cbam.yaml --print_config
    segattn test --config configs/unet.yaml --ckpt_path best   # the newest run's best checkpoint, found on disk

Everything about a run comes from the YAML: the network (``model.net``, an :class:`~segattn.models.AttentionUnet`
given as ``class_path`` + ``init_args``), the optimizer and schedule (``model.optimizer``, ``model.lr_scheduler``),
the data source (``data``: ``class_path: segattn.data.FolderData`` or ``segattn.data.FloorplanData``) and the
trainer (``trainer``, where accelerator / devices / precision live: nothing here assumes a CPU or a GPU).
``data.num_classes`` is linked to the model, so the number of output channels is never written twice.

Types are the validation: an unknown attention name, option or encoder argument is rejected while the config is
parsed (also under ``--print_config``), in one line naming the key and the value.

``segattn test`` writes a Dice report (``ReportCallback``, options under ``--report.*``; default folder
``<log dir>/report``) and prints where it went; ``StepTimer`` (``--timer.*``) times the training steps during
``fit`` for the report's ``run.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from segattn.callbacks import LastCheckpoint, ReportCallback, StepTimer, ValidationCadence
from segattn.data import SegData
from segattn.labels import output_channels
from segattn.module import SegmentationModule
from segattn.pretrained import PRETRAINED
from segattn.pretrained import resolve as resolve_pretrained

from .configs import resolve_config_names
from .errors import USER_ERRORS, run_command
from .parsers import OneLineErrors, normalize_flags


class TrainParser(OneLineErrors, LightningArgumentParser):
    """LightningCLI's parser with one-line errors (no 131-line usage block before the message)."""


class KeepEarlierConfigs(SaveConfigCallback):
    """Saves the run's config as LightningCLI does, beside an earlier run's instead of refusing to start.

    A run that logs into a folder an earlier run used (``trainer.logger: false``, a fixed logger folder, a resumed
    ``fit --ckpt_path last``) found ``config.yaml`` there and stopped with a traceback. The earlier file is the
    record of that run: it is kept, and this run's config goes to ``config-1.yaml``, ``config-2.yaml``, ...
    """

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if not self.already_saved and self.save_to_log_dir and not self.overwrite:
            folder = Path(trainer.log_dir)  # a broadcast: every process asks, all get rank 0's folder
            name, n = self.config_filename, 0
            stem, suffix = Path(name).stem, Path(name).suffix
            while trainer.is_global_zero and (folder / name).exists():
                n += 1
                name = f"{stem}-{n}{suffix}"
            self.config_filename = trainer.strategy.broadcast(name)
        super().setup(trainer, pl_module, stage)


class SegAttnCLI(LightningCLI):
    """LightningCLI for :class:`SegmentationModule` + a :class:`SegData` source: a best-``val/dice`` checkpoint
    (``--checkpoint.*``) and the test report (``--report.*``)."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """fit / validate / test; ``segattn predict`` is the tiling prediction command (segattn.commands.predict)."""
        return {name: skip for name, skip in LightningCLI.subcommands().items() if name != "predict"}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.init_args.num_classes", "model.num_classes")
        parser.link_arguments("data.init_args.num_classes", "model.net.init_args.classes", compute_fn=output_channels)
        parser.add_lightning_class_args(LastCheckpoint, "checkpoint")
        parser.add_lightning_class_args(ReportCallback, "report")
        parser.add_lightning_class_args(StepTimer, "timer")
        parser.add_lightning_class_args(ValidationCadence, "validation")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/dice",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-epoch{epoch:03d}-dice{val/dice:.4f}",
                "checkpoint.auto_insert_metric_name": False,
                "validation.max_fraction": 0.5,  # same weights, a third of the fit time on cvc_fp (bench/README.md)
            }
        )

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list) -> Any:
        # `trainer.enable_checkpointing: false` means no checkpoint: leave out the one --checkpoint.* configures
        # (Lightning refuses the combination with a traceback)
        if config.get("enable_checkpointing") is False:
            callbacks = [cb for cb in callbacks if not isinstance(cb, ModelCheckpoint)]
        return super()._instantiate_trainer(config, callbacks)

    def instantiate_classes(self) -> None:
        # Constructors raise ValueError / FileNotFoundError for what a user wrote (a missing data folder, an option
        # a module does not take): report it as a command-line error, not as a traceback.
        try:
            super().instantiate_classes()
        except (ValueError, TypeError, FileNotFoundError, NotADirectoryError) as err:  # TypeError: a bad option
            self._parser(self.subcommand).error(str(err))

    def _parse_ckpt_path(self) -> None:
        """Lightning's step that rebuilds the model from ``--ckpt_path``'s hyperparameters, made explicit.

        The checkpoint is read safely first, so a missing, truncated or foreign file is a one-line error (Lightning
        would fail inside ``torch.load`` with a traceback); ``best`` / ``last`` are found on disk first (see
        :meth:`_find_ckpt`), so the checkpoint's settings apply to them too. The checkpoint's model settings then
        replace the config's, as in Lightning; any value the user set (config file or flag) that the checkpoint
        overrides is named: for the network and the class count that is an error (the checkpoint's network is the
        one that runs), for anything else a warning saying the checkpoint's value is used.
        """
        sub = self.config.get("subcommand")
        if not sub:
            return
        cfg = self.config[sub]
        path = cfg.get("ckpt_path")
        if path in ("best", "last"):
            found = self._find_ckpt(sub, cfg, path)
            if found is None:  # fit: Lightning's own rule ("last" with nothing saved yet starts a new run)
                return
            cfg.ckpt_path = path = str(found)
        if not path:
            return
        if str(path) in PRETRAINED and not Path(path).exists():  # a packaged model by name
            if sub == "fit":
                self._parser(sub).error(
                    f"--ckpt_path {path} resumes a run; to start a new run from the packaged model {path!r} use "
                    f"--model.init_from {path}"
                )
            try:
                cfg.ckpt_path = path = str(resolve_pretrained(path))
            except FileNotFoundError as err:
                self._parser(sub).error(f"--ckpt_path: {err}")
        from segattn.predict.checkpoint import read_checkpoint

        try:
            read_checkpoint(Path(path))
        except (ValueError, FileNotFoundError) as err:
            self._parser(sub).error(f"--ckpt_path: {err}")
        before = _flat(cfg.model.as_dict())
        defaults = _flat(self._parser(sub).get_defaults().model.as_dict())
        super()._parse_ckpt_path()
        after = _flat(self.config[sub].model.as_dict())
        changed = [k for k in before if before[k] != after.get(k) and k not in _IGNORED_ON_RESTORE]
        explicit = [k for k in changed if k.startswith("net.") or k == "num_classes" or before[k] != defaults.get(k)]
        fatal = [k for k in explicit if k.startswith("net.") or k == "num_classes"]
        for key in explicit:
            given, stored = _show(before[key]), _show(after.get(key))
            if key in fatal:
                continue
            print(
                f"segattn {sub}: warning: --model.{key} {given} is replaced by the checkpoint's {stored} ({path})",
                file=sys.stderr,
            )
        if fatal:
            parts = "; ".join(
                f"--model.{k} is {_show(before[k])} but {_show(after.get(k))} in the checkpoint" for k in fatal
            )
            self._parser(sub).error(
                f"{parts} ({path}): a checkpoint's network is the one it was trained with; drop these settings, or "
                "use the config saved beside the checkpoint (lightning_logs/version_N/config.yaml)"
            )

    def _find_ckpt(self, sub: str, cfg: Any, name: str) -> Path | None:
        """``--ckpt_path best`` or ``last``: the checkpoint the newest run with this config wrote, found on disk.

        Lightning resolves these names only from the fit that ran in the same process, and otherwise raises. Here
        they mean: in ``--checkpoint.dirpath`` if given, else in the most recently written
        ``<default_root_dir>/checkpoints`` or ``<default_root_dir>/*/version_*/checkpoints``; ``best`` is read from
        that run's ``last.ckpt`` (the ModelCheckpoint state), else the one ``best*.ckpt`` file. The chosen file is
        printed. None found: for ``fit`` Lightning's own rule applies (a new run), otherwise a command-line error
        naming where it looked.
        """
        dirpath = cfg.get("checkpoint", {}).get("dirpath") if cfg.get("checkpoint") else None
        if dirpath:
            folders, where = [Path(dirpath)], str(dirpath)
        else:
            root = Path(cfg.trainer.get("default_root_dir") or os.getcwd())
            folders = [root / "checkpoints", *root.glob("*/version_*/checkpoints")]
            where = f"{root}/checkpoints or {root}/*/version_*/checkpoints"
        folders = [f for f in folders if f.is_dir() and any(f.glob("*.ckpt"))]
        folders.sort(key=lambda f: max(p.stat().st_mtime for p in f.glob("*.ckpt")))
        path = _checkpoint_in(folders[-1], name) if folders else None
        if path is None and sub != "fit":
            self._parser(sub).error(
                f"--ckpt_path {name}: no {'best' if name == 'best' else 'last.ckpt'} checkpoint found in {where} "
                "(give the checkpoint's path instead)"
            )
        if path is not None and int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0:
            print(f"--ckpt_path {name}: {path}")
        return path

    def test(self, **kwargs) -> None:
        """``trainer.test``; a report already in the report folder is a command-line error, not a traceback."""
        try:
            self.trainer.test(**kwargs)
        except FileExistsError as err:  # raised by ReportCallback before any test batch runs
            self._parser("test").error(f"{err} (here: --report.overwrite true, or another --report.report_dir)")
        report = next((cb for cb in self.trainer.callbacks if isinstance(cb, ReportCallback)), None)
        if report is not None and report.out is not None and self.trainer.is_global_zero:
            print(f"test report: {report.out / 'report.html'} (numbers: {report.out / 'summary.json'})")

    def before_fit(self) -> None:
        if self.trainer.is_global_zero:
            print(precision_line(self.trainer))

    def after_fit(self) -> None:
        # trainer.log_dir is a broadcast from rank 0 under DDP: every process must ask, only rank 0 prints
        log_dir = self.trainer.log_dir
        if self.trainer.is_global_zero:
            self._print_outputs(log_dir)

    def _print_outputs(self, log_dir: str | None) -> None:
        ckpt = self.trainer.checkpoint_callback
        # the end of training first: it is what to test and predict with (an early best epoch picked on a small
        # validation set scored below it; bench/README.md, the long budget)
        if isinstance(ckpt, ModelCheckpoint) and ckpt.last_model_path:
            print(f"last checkpoint (end of training; test and predict with this one): {ckpt.last_model_path}")
        if isinstance(ckpt, ModelCheckpoint) and ckpt.best_model_path:
            score = ckpt.best_model_score
            shown = f"{score.item():.4f}" if score is not None else "n/a"
            print(f"best checkpoint ({ckpt.monitor} = {shown}): {ckpt.best_model_path}")
        if log_dir is not None:  # None under fast_dev_run: nothing was logged
            print(f"logs and config: {log_dir}")


# model keys a checkpoint may hold differently without a user's value being lost
_IGNORED_ON_RESTORE = frozenset({"net.init_args.encoder_weights", "net.encoder_weights"})


def native_bf16(accelerator: Any) -> bool:
    """Whether the device Lightning chose computes bf16 natively (CUDA: Ampere and later; CPU: AVX512-BF16 / AMX)."""
    import torch

    with contextlib.suppress(Exception):  # private on CPU: an older or other build answers "no"
        if type(accelerator).__name__ == "CUDAAccelerator":
            return bool(torch.cuda.is_bf16_supported())
        if type(accelerator).__name__ == "CPUAccelerator":
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def precision_line(trainer: Any) -> str:
    """A line at the start of `fit`: which precision runs and why, so the run's log says it (issue 15).

    fp32 stays the default: bf16-mixed against fp32 on crackforest was -0.0035 [-0.0090, +0.0014] per image, a
    cost of up to 0.009 not ruled out (bench/README.md, "bf16 against fp32").
    """
    precision = str(trainer.precision)
    device = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower() or "device"
    if precision.startswith("32"):
        if native_bf16(trainer.accelerator):
            return (
                f"precision: {precision}, float32 (the default; bf16-mixed is faster on this {device}, but a Dice cost "
                "of up to 0.009 was not ruled out: bench/README.md)"
            )
        return f"precision: {precision}, float32 (the default; this {device} has no native bf16)"
    return f"precision: {precision} (--trainer.precision)"


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b": leaf}`` of nested mappings; sequences are leaves, tuples compared as lists."""
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: json.loads(json.dumps(tree, default=str))}


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _checkpoint_in(folder: Path, name: str) -> Path | None:
    """``last.ckpt`` in ``folder``, or its best checkpoint (see ``SegAttnCLI._find_ckpt``); None if not there."""
    import torch

    last = folder / "last.ckpt"
    if name == "last":
        return last if last.is_file() else None
    if last.is_file():
        with contextlib.suppress(Exception):  # an unreadable last.ckpt: fall back to the file names
            state = torch.load(last, map_location="cpu", weights_only=True).get("callbacks", {})
            for key, value in state.items():
                if key.startswith("ModelCheckpoint") and value.get("best_model_path"):
                    best = Path(value["best_model_path"])
                    for candidate in (best, folder / best.name):  # the stored path may be relative to another cwd
                        if candidate.is_file():
                            return candidate
    bests = sorted(folder.glob("best*.ckpt"))
    return bests[0] if len(bests) == 1 else None


def lightning_cli(args: list[str] | None = None, **kwargs) -> SegAttnCLI:
    """The ``fit`` / ``validate`` / ``test`` CLI run on ``args`` (default ``sys.argv[1:]``); returns it (model,
    trainer). Config names (``--config quickstart``) are resolved to the packaged configs first."""
    argv = resolve_config_names(normalize_flags(sys.argv[1:] if args is None else list(args)))
    return SegAttnCLI(
        SegmentationModule,
        SegData,
        subclass_mode_data=True,
        args=argv,
        auto_configure_optimizers=False,
        parser_class=TrainParser,
        save_config_callback=KeepEarlierConfigs,
        parser_kwargs={"prog": "segattn", "description": "segattn: UNet segmentation with attention in the decoder."},
        **kwargs,
    )


def main(argv: list[str]) -> int:
    """``segattn fit|validate|test ...`` (``argv`` starts with the subcommand)."""
    prog = f"segattn {argv[0]}" if argv and not argv[0].startswith("-") else "segattn"
    return run_command(prog, lambda: lightning_cli(argv) and None, user_errors=USER_ERRORS)
