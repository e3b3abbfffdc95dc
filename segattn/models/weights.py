"""Pretrained encoder weights: a local file, or a tag smp / timm know (``imagenet``, ...) through their own caches.

``encoder_weights`` is ``None`` (random initialisation), the path of a local file, or a tag:

- a file holds the encoder's state dict: ``.pth`` / ``.pt`` (read with ``torch.load(weights_only=True)``) or
  ``.safetensors``. Keys may carry an ``encoder.`` prefix (as in a saved ``smp.Unet`` / ``AttentionUnet``
  encoder) or not (as in ``model.encoder.state_dict()`` or smp's per-encoder ``model.safetensors``). Strict.
- a tag goes to smp's ``get_encoder(name, weights=tag)``, which fetches the weights from the Hugging Face hub
  into its cache, or reads them from there (timm encoders, ``tu-<model>[.<pretrained tag>]``, choose the variant
  by name; any tag means "pretrained"). Offline and not cached, this fails in one line naming the encoder, the
  tag, the cache folders and the local-file alternative; nothing else here ever touches the network.
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


def is_weights_tag(encoder_weights: object) -> bool:
    """A pretrained-weights name such as ``imagenet`` (no path separator, no weights-file suffix), not a file."""
    if not isinstance(encoder_weights, str) or not encoder_weights:
        return False
    text = encoder_weights
    return (
        "/" not in text and "\\" not in text and not text.lower().endswith(WEIGHT_SUFFIXES) and not Path(text).exists()
    )


def resolve_encoder_weights(encoder_weights: str | os.PathLike[str] | None) -> Path | None:
    """Check a weights *file* before anything is built: ``None`` (no file: random init or a tag), or its path."""
    if encoder_weights is None or is_weights_tag(encoder_weights):
        return None
    if not isinstance(encoder_weights, (str, os.PathLike)):
        raise ValueError(
            f"encoder_weights must be None, a tag such as 'imagenet' or a path to a local weights file, got "
            f"{encoder_weights!r} ({type(encoder_weights).__name__})"
        )
    path = Path(encoder_weights).expanduser()
    if not path.is_file():
        raise ValueError(
            f"encoder_weights={str(encoder_weights)!r} is not an existing file: pass None (random initialisation), "
            f"a tag smp knows for the encoder (e.g. imagenet) or the path of a local {'/'.join(WEIGHT_SUFFIXES)} "
            "file holding the encoder's state dict"
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


def cache_folders() -> str:
    """Where smp and timm keep downloaded weights: the Hugging Face hub cache, and torch's hub folder."""
    import torch.hub
    from huggingface_hub import constants

    return f"{constants.HF_HUB_CACHE} (Hugging Face) or {Path(torch.hub.get_dir()) / 'checkpoints'} (torch)"


def pretrained_encoder(name: str, tag: str, *, in_channels: int, depth: int) -> nn.Module:
    """smp's ``get_encoder(name, weights=tag)``: the pretrained encoder, from the cache or the hub.

    A tag smp does not know for this encoder is a ``ValueError`` listing the ones it knows; weights that are
    neither cached nor downloadable (offline) a ``ValueError`` naming the encoder, the tag, the caches and the
    local-file alternative, in one line.
    """
    from segmentation_models_pytorch.encoders import encoders, get_encoder

    if not name.startswith("tu-") and name in encoders and tag not in encoders[name]["pretrained_settings"]:
        known = sorted(encoders[name]["pretrained_settings"])
        raise ValueError(f"encoder_weights={tag!r} is not a tag smp knows for {name}; it knows {known}")
    weights: str | bool = True if name.startswith("tu-") else tag  # timm: the variant is in the encoder's name
    try:
        return get_encoder(name, in_channels=in_channels, depth=depth, weights=weights)
    except (KeyError, ValueError) as err:
        raise ValueError(f"encoder_weights={tag!r} for {name}: {err.args[0] if err.args else err}") from err
    except Exception as err:  # noqa: BLE001 - hub / network errors differ by library and version; all mean the same
        raise ValueError(
            f"encoder_weights={tag!r} for encoder {name}: the weights are not in the cache ({cache_folders()}) and "
            f"could not be fetched ({type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}); "
            "fetch them once on a machine with internet (same cache), or pass encoder_weights as the path of a "
            "local .pth/.safetensors file with the encoder's state dict"
        ) from err
