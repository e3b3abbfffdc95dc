"""The command layer: ``segattn <command>``, one module per command, one way to fail. Nothing else imports it.

Every command parses with jsonargparse (``--config`` YAML files, ``--print_config``), writes user errors as one
line with exit status 2 (``--debug`` or ``SEGATTN_DEBUG=1`` for the traceback; :mod:`.errors`) and accepts flag
names with dashes or underscores (``--batch-size`` = ``--batch_size``, LightningCLI's flags included).
"""

from __future__ import annotations

import importlib
import os
import sys

import segattn

from .errors import DEBUG_ENV
from .parsers import normalize_flags

# name -> (module:function, what it does); the function takes the arguments after the name (fit / validate / test:
# with it) and returns an exit status.
COMMANDS: dict[str, tuple[str, str]] = {
    "fit": ("train:main", "train from a YAML config (LightningCLI): segattn fit --config quickstart"),
    "validate": ("train:main", "score a checkpoint on the validation split"),
    "test": ("train:main", "score a checkpoint on the test split and write the Dice report"),
    "predict": ("predict:main", "masks for a folder, glob or list of images of any size"),
    "explain": ("explain:main", "maps of what each decoder attention looks at, for a folder of images"),
    "export": ("export:main", "a checkpoint as one ONNX or TorchScript file with its preprocessing, parity-checked"),
    "evaluate": ("evaluate:main", "Dice report of predicted masks against reference masks"),
    "compare": ("compare:main", "paired comparison of runs against a baseline (bootstrap CI, Wilcoxon)"),
    "ablate": ("ablate:main", "train, test and compare attention variants over seeds"),
    "floorplans": ("floorplans:main", "write built-in synthetic floor plans (images + wall masks) to a folder"),
    "configs": ("configs:configs_main", "list the packaged configs"),
    "init": ("configs:init_main", "copy the packaged configs into a folder to edit"),
}
_TRAIN = {"fit", "validate", "test"}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: segattn <command> [options]   (segattn {segattn.__version__})", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "segattn <command> --help shows a command's options; --debug (or SEGATTN_DEBUG=1) shows tracebacks."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run ``segattn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in argv:
        argv = [a for a in argv if a != "--debug"]
        os.environ[DEBUG_ENV] = "1"
    argv = normalize_flags(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] == "--version":
        print(segattn.__version__)
        return 0
    name = argv[0]
    if name not in COMMANDS:
        sys.stderr.write(f"segattn: error: unknown command {name!r}; choose from {', '.join(COMMANDS)}\n")
        return 2
    from segattn.runtime import keep_freed_memory

    from .quiet import quiet_lightning

    keep_freed_memory()  # faster CPU steps, see segattn.runtime; before any tensor exists
    quiet_lightning()
    target, function = COMMANDS[name][0].split(":")
    command = getattr(importlib.import_module(f"{__name__}.{target}"), function)
    return command(argv if name in _TRAIN else argv[1:])


def predict_main(argv: list[str] | None = None) -> int:
    """``segattn-predict``: the same as ``segattn predict``."""
    return main(["predict", *(sys.argv[1:] if argv is None else argv)])
