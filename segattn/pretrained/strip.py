"""Turn a training checkpoint into a packaged model: what prediction and ``init_from`` read, nothing to resume.

``python -m segattn.pretrained.strip runs/walls/checkpoints/best.ckpt segattn/pretrained/walls.ckpt``

Kept: the weights, the module's and the data's hyperparameters, Lightning's version (``segattn test --ckpt_path
walls`` restores through Lightning), the data source's state (the training masks'
foreground thickness, which ``predict --scale auto`` needs), the epoch and step, and a ``pretrained`` record (the source
file's SHA-256 and its monitored score). Dropped: optimizer and scheduler states, loops, callbacks (about two
thirds of the file for AdamW). Written atomically; an existing file is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import pickle
from pathlib import Path
from typing import Any

import torch

from segattn.files import write_bytes

KEEP = (
    "state_dict",
    "hyper_parameters",
    "datamodule_hyper_parameters",
    "epoch",
    "global_step",
    "pytorch-lightning_version",
)
RESUME_ONLY = ("optimizer_states", "lr_schedulers", "loops", "callbacks", "hparams_name", "datamodule_hparams_name")


def strip_checkpoint(source: str | Path, out: str | Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Write the packaged form of ``source`` to ``out``; returns what was written (without the tensors)."""
    source, out = Path(source), Path(out)
    data = source.read_bytes()
    try:
        ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as err:
        raise ValueError(
            f"{source} is not a checkpoint that torch.load(weights_only=True) reads ({type(err).__name__})"
        ) from err
    if not isinstance(ckpt, dict):
        raise ValueError(f"{source} holds a {type(ckpt).__name__}, not a checkpoint written by `segattn fit`")
    missing = [key for key in KEEP[:3] if key not in ckpt]
    if missing:
        raise ValueError(f"{source} lacks {missing}: not a checkpoint written by `segattn fit`")
    kept = {key: ckpt[key] for key in KEEP if key in ckpt}
    kept["hyper_parameters"] = {**ckpt["hyper_parameters"], "init_from": None}  # the packaged model is the start
    for key, value in ckpt.items():  # the data source's own state (``SegData.state_dict``), under its class name
        if key not in kept and key not in RESUME_ONLY and isinstance(value, dict) and "structure_px" in value:
            kept[key] = value
    scores = [
        float(state["best_model_score"])
        for name, state in ckpt.get("callbacks", {}).items()
        if str(name).startswith("ModelCheckpoint") and state.get("best_model_score") is not None
    ]
    kept["pretrained"] = {
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "best_score": scores[0] if scores else None,
    }
    buffer = io.BytesIO()
    torch.save(kept, buffer)
    write_bytes(out, buffer.getvalue(), overwrite=overwrite)
    return {key: value for key, value in kept.items() if key != "state_dict"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segattn.pretrained.strip", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a checkpoint written by `segattn fit`")
    parser.add_argument("out", type=Path, help="where the packaged model goes")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        info = strip_checkpoint(args.source, args.out, overwrite=args.overwrite)
    except FileExistsError:
        parser.error(f"{args.out} exists; add --overwrite to replace it")
    except OSError as err:  # missing, unreadable
        parser.error(f"{args.source}: {err.strerror or err}")
    except ValueError as err:  # not a checkpoint of `segattn fit`
        parser.error(str(err))
    size = args.out.stat().st_size / 2**20
    print(f"{args.out}: {size:.1f} MiB, epoch {info.get('epoch')}, best score {info['pretrained']['best_score']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
