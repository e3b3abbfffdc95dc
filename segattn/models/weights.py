"""Encoder weights from a local file. segattn never downloads: pretrained weights are a path the user supplies.

A file holds the encoder's state dict: ``.pth`` / ``.pt`` (read with ``torch.load(weights_only=True)``) or
``.safetensors``. Keys may carry an ``encoder.`` prefix (as in a saved ``smp.Unet`` / ``AttentionUnet`` encoder)
or not (as in ``model.encoder.state_dict()`` or smp's per-encoder ``model.safetensors``). Loading is strict.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors")
PREFIX = "encoder."
_SHOWN = 8  # keys listed per kind in an error message


def resolve_encoder_weights(encoder_weights: str | os.PathLike[str] | None) -> Path | None:
    """Check ``encoder_weights`` before anything is built: ``None`` or an existing local weights file."""
    if encoder_weights is None:
        return None
    if not isinstance(encoder_weights, (str, os.PathLike)):
        raise ValueError(
            f"encoder_weights must be None or a path to a local weights file, got {encoder_weights!r} "
            f"({type(encoder_weights).__name__})"
        )
    path = Path(encoder_weights).expanduser()
    if not path.is_file():
        raise ValueError(
            f"encoder_weights={str(encoder_weights)!r} is not an existing file. segattn never downloads weights: "
            f"pass None (random initialisation) or the path of a local {'/'.join(WEIGHT_SUFFIXES)} file holding "
            "the encoder's state dict (fetch it once on a machine with internet, e.g. smp's model.safetensors "
            "for that encoder, or save `model.encoder.state_dict()` of a trained model)"
        )
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise ValueError(
            f"encoder_weights file {str(path)!r}: unsupported suffix {path.suffix!r}; use one of {WEIGHT_SUFFIXES}"
        )
    return path


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """The state dict stored in ``path``, on the CPU; ``ValueError`` naming the file if it is not one."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unreadable, truncated, or holding objects weights_only refuses
        raise ValueError(f"encoder_weights file {str(path)!r} could not be read: {err}") from err
    if not isinstance(state, Mapping) or not state:
        raise ValueError(f"encoder_weights file {str(path)!r} holds {type(state).__name__}, not a state dict")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise ValueError(
            f"encoder_weights file {str(path)!r} is not a state dict of tensors (e.g. key {bad[0]!r}); "
            "save `model.encoder.state_dict()`"
        )
    return dict(state)


def load_encoder_weights(encoder: nn.Module, path: Path) -> None:
    """Load ``path`` into ``encoder`` strictly; ``ValueError`` naming the file and the missing/unexpected keys.

    Goes through the encoder's own ``load_state_dict``, which drops a classifier head (``fc.*``, ``classifier.*``)
    exactly as smp does when it loads its pretrained files.
    """
    state = read_state_dict(path)
    own = encoder.state_dict()
    if all(k.startswith(PREFIX) for k in state) and not any(k.startswith(PREFIX) for k in own):
        state = {k.removeprefix(PREFIX): v for k, v in state.items()}
    where = f"encoder_weights file {str(path)!r} does not match encoder {type(encoder).__name__}"
    hint = ". The file must hold this encoder's state dict (keys with or without an 'encoder.' prefix)."

    mismatched = [
        f"{k}: file {tuple(v.shape)}, model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    if mismatched:
        raise ValueError(
            f"{where}: {len(mismatched)} shape mismatch(es) {_head(mismatched)} (saved for another in_channels "
            f"or encoder?){hint}"
        )
    try:
        encoder.load_state_dict(dict(state))  # strict; the encoder's loader may pop keys, hence the copy
    except RuntimeError as err:
        missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
        unexpected = [k for k in state if k not in own]
        problems = [f"{len(missing)} missing key(s) {_head(missing)}"] if missing else []
        problems += [f"{len(unexpected)} unexpected key(s) {_head(unexpected)}"] if unexpected else []
        details = "; ".join(problems) or str(err).splitlines()[0]
        raise ValueError(f"{where}: {details}{hint}") from err


def _head(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return f"[{shown}{', ...' if len(keys) > _SHOWN else ''}]"
