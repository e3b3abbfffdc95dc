"""The preprocessing contract an exported model carries, so that a consumer needs nothing but the file.

Flat string pairs: an ONNX file holds them as ``metadata_props``, a TorchScript file as one JSON object in its
extra file ``segattn.json``. Lists and mappings are JSON inside the string.

=====================  ========================================================================================
key                    value
=====================  ========================================================================================
``segattn_format``     ``1``: the layout of these keys (a reader refuses a layout it does not know)
``segattn_version``    the segattn that wrote the file
``num_classes``        classes including background; 2 (binary) has one logit channel
``output_activation``  ``sigmoid`` (one channel: the foreground probability) or ``softmax`` (over the channels)
``in_channels``        image channels: 1 gray, 3 RGB (in that order), 4 RGBA
``mean``, ``std``      one per channel: input = (pixel / the type's maximum - mean) / std
``threshold``          binary: foreground where probability > threshold
``tile``               the tile side prediction uses by default (the training crop)
``min_side``           the smallest height and width the graph takes; any larger size works (it pads itself)
``input``, ``output``  names, types and layouts of the graph's input and output
``preprocessing``      the rule above in one sentence
``mask_encoding``      how the training masks were stored (for scoring against references)
``palette``            JSON, the training masks' RGB palette, or null
``eval_transforms``    JSON, albumentations steps applied before normalisation in training's evaluation, or null
``pad_multiple``       the multiple evaluation batches were padded to in training
``network``            JSON, the ``AttentionUnet`` arguments (architecture only)
=====================  ========================================================================================
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segattn
from segattn.data.preprocess import EvalPreprocess
from segattn.labels import output_channels
from segattn.predict import PredictConfig

FORMAT = "1"
INPUT_NAME, OUTPUT_NAME = "image", "logits"
_REQUIRED = ("segattn_format", "num_classes", "in_channels", "mean", "std", "threshold", "tile", "min_side")


class ModelFileError(ValueError):
    """An exported model file that cannot be used; the message names the file and what was expected."""


@dataclass(frozen=True)
class Contract:
    """What an exported file says about itself: prediction's :class:`PredictConfig` and the graph's limits."""

    config: PredictConfig
    min_side: int
    version: str
    network: dict[str, Any] | None = None


def write_contract(config: PredictConfig, *, min_side: int, network: Mapping[str, Any] | None) -> dict[str, str]:
    """The key / value strings of the module docstring for ``config`` and a network taking sides >= ``min_side``."""
    pre = config.preprocess
    channels = output_channels(config.num_classes)
    activation = "sigmoid" if channels == 1 else "softmax"
    return {
        "segattn_format": FORMAT,
        "segattn_version": segattn.__version__,
        "num_classes": str(config.num_classes),
        "output_activation": activation,
        "in_channels": str(config.in_channels),
        "mean": json.dumps(list(pre.mean)),
        "std": json.dumps(list(pre.std)),
        "threshold": repr(float(config.threshold)),
        "tile": str(config.tile),
        "min_side": str(min_side),
        "input": f"{INPUT_NAME}: float32 (batch, {config.in_channels}, height, width), height and width >= {min_side}",
        "output": f"{OUTPUT_NAME}: float32 (batch, {channels}, height, width), the input's height and width",
        "preprocessing": (
            f"read the image as {_channel_words(config.in_channels)}, divide by the type's maximum (255 for 8-bit, "
            f"65535 for 16-bit), subtract mean and divide by std per channel; probabilities = {activation}(logits)"
            + (f", foreground where > {config.threshold}" if channels == 1 else ", class = argmax")
        ),
        "mask_encoding": config.mask_encoding,
        "palette": json.dumps(config.palette),
        "eval_transforms": _json(config.eval_transforms, "eval_transforms"),
        "pad_multiple": str(pre.pad_multiple),
        "structure_px": json.dumps(config.structure_px),  # the training masks' foreground thickness (--scale auto)
        "network": _json(None if network is None else dict(network), "network"),
    }


def read_contract(props: Mapping[str, str], source: str | Path) -> Contract:
    """The :class:`Contract` of a file whose metadata is ``props``; :class:`ModelFileError` naming ``source`` if the
    file was not written by ``segattn export`` or its metadata is damaged."""
    if "segattn_format" not in props:
        raise ModelFileError(
            f"{source} carries no segattn metadata (no 'segattn_format' key), so its preprocessing is unknown; "
            "export the model with `segattn export`, which writes the preprocessing contract into the file"
        )
    if props["segattn_format"] != FORMAT:
        raise ModelFileError(
            f"{source} uses segattn metadata format {props['segattn_format']!r} (written by segattn "
            f"{props.get('segattn_version', '?')}); this segattn {segattn.__version__} reads format {FORMAT!r}"
        )
    missing = [key for key in _REQUIRED if key not in props]
    if missing:
        raise ModelFileError(f"{source}: the segattn metadata lacks {missing}; the file is damaged, export it again")
    try:
        in_channels = int(props["in_channels"])
        preprocess = EvalPreprocess(
            in_channels,
            tuple(float(v) for v in json.loads(props["mean"])),
            tuple(float(v) for v in json.loads(props["std"])),
            int(props.get("pad_multiple", "32")),
        )
        config = PredictConfig(
            num_classes=int(props["num_classes"]),
            in_channels=in_channels,
            tile=int(props["tile"]),
            threshold=float(props["threshold"]),
            mask_encoding=props.get("mask_encoding", "auto"),
            palette=json.loads(props.get("palette", "null")),
            preprocess=preprocess,
            eval_transforms=json.loads(props.get("eval_transforms", "null")),
            structure_px=_optional_float(json.loads(props.get("structure_px", "null"))),
        )
        network = json.loads(props.get("network", "null"))
        min_side = int(props["min_side"])
    except (ValueError, TypeError) as err:  # json.JSONDecodeError is a ValueError
        raise ModelFileError(f"{source}: the segattn metadata is damaged ({err}); export the model again") from err
    return Contract(config, min_side, props.get("segattn_version", "?"), network)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _channel_words(channels: int) -> str:
    return {1: "gray", 3: "RGB (in that order)", 4: "RGBA"}.get(channels, f"{channels} channels")


def _json(value: Any, key: str) -> str:
    try:
        return json.dumps(value)
    except TypeError as err:
        raise ValueError(f"the model's {key} cannot be written as JSON metadata ({err}): {value!r}") from err
