"""Load a training checkpoint and everything prediction needs from it, or say clearly why not.

A segattn checkpoint is a Lightning checkpoint of :class:`~segattn.module.SegmentationModule` trained with
a :class:`~segattn.data.SegData` source: ``state_dict``, ``hyper_parameters`` (``num_classes``, the ``net``
config, ``ignore_index``) and ``datamodule_hyper_parameters`` (channels, mean / std, crop size, mask
encoding, eval transforms). Images are then converted exactly as in training: ``read_image`` with the
training channel count, the training ``eval_transforms`` (if any), and the data package's own
normalisation (``eval_preprocess_from_hparams``). The user never retypes any of it.

The file is unpickled with ``torch.load(weights_only=True)``: only tensors and plain containers, no code.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from segattn.data.io import DEFAULT_MAX_PIXELS, image_array, read_image
from segattn.data.preprocess import EvalPreprocess, eval_preprocess_from_hparams
from segattn.data.thickness import probe_factor
from segattn.data.transforms import build_eval_transform
from segattn.labels import output_channels
from segattn.models import AttentionUnet

_EXPECTED = (
    "expected a Lightning checkpoint written by `segattn fit` (a dict with 'state_dict', 'hyper_parameters' "
    "and 'datamodule_hyper_parameters')"
)
_MODULE_KEYS = ("num_classes", "net")
_PICKLE_PROTOCOL_2 = b"\x80"  # legacy (non-zip) torch.save files start with a pickle PROTO opcode


AUTO_NEEDS_REFERENCE = (
    "--scale auto needs the training masks' foreground thickness, which this checkpoint does not carry "
    "(trained before segattn kept it); give a factor instead, e.g. --scale 0.5"
)


class CheckpointError(ValueError):
    """A file that cannot be used for prediction; the message names the file and what was expected."""


@dataclass(frozen=True)
class PredictConfig:
    """What prediction needs from a checkpoint besides the weights."""

    num_classes: int  # including background
    in_channels: int
    tile: int  # default tile side: the training crop
    threshold: float  # binary: foreground where sigmoid > threshold (the module's logit > 0)
    mask_encoding: str  # of the training masks (for --gt)
    palette: list[list[int]] | None
    preprocess: EvalPreprocess
    eval_transforms: list[dict[str, Any]] | None  # the training eval_transforms specs (what an exported file carries)
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # larger images fail (per image) before they are decoded
    structure_px: float | None = None  # median foreground thickness of the training masks (None: not kept then)
    scale: float | str = 1.0  # resize before tiling: a factor, or "auto" (see segattn.data.thickness)
    factors: dict[str, float] | None = None  # --scale auto: each image's factor, measured by the probe prediction

    def scale_for(self, image: np.ndarray, key: str | Path | None = None) -> float:
        """The resize factor for ``image`` (H, W, C): ``scale``; with ``"auto"`` the factor measured for ``key``
        (its path) by the probe prediction, or before that the probe's own factor."""
        if self.scale != "auto":
            return float(self.scale)
        if self.structure_px is None:
            raise ValueError(AUTO_NEEDS_REFERENCE)
        if self.factors is not None and key is not None and str(key) in self.factors:
            return self.factors[str(key)]
        return probe_factor(image.shape[0], image.shape[1])

    eval_transform: Any = field(init=False, repr=False, compare=False)  # built from eval_transforms: Compose or None

    def __post_init__(self) -> None:
        object.__setattr__(self, "eval_transform", build_eval_transform(self.eval_transforms))  # ValueError if bad

    def read(self, path: Path) -> np.ndarray:
        """(H, W, C) float32 image in [0, 1] after the training eval transforms: what gets tiled."""
        return self.prepare(read_image(path, self.in_channels, max_pixels=self.max_pixels), path)

    def prepare(self, image: np.ndarray, path: Path | str = "<array>") -> np.ndarray:
        """An image array (any of :func:`~segattn.data.io.image_array`'s forms) -> what gets tiled."""
        if image.ndim != 3 or image.shape[2] != self.in_channels or image.dtype != np.float32:
            image = image_array(image, self.in_channels, path)
        if self.eval_transform is not None:
            out = self.eval_transform(image=image)["image"]
            if out.shape[:2] != image.shape[:2]:
                raise ValueError(f"{path}: the checkpoint's eval_transforms changed the image size")
            image = out if out.ndim == 3 else out[:, :, None]
        return image

    def to_input(self, array: np.ndarray) -> Tensor:
        """(h, w, C) crop -> (C, h, w) normalised network input (the data package's own function)."""
        return self.preprocess.array(array)

    def to_input_into(self, array: np.ndarray, out: Tensor) -> None:
        """``to_input(array)`` written into ``out`` (C, h, w) in place: the same values, fewer copies."""
        self.preprocess.array_into(array, out)


def read_checkpoint(path: Path, *, trust: bool = False) -> tuple[dict[str, Any], bool]:
    """(the checkpoint dict, validated; whether it loaded with ``weights_only=True``).

    Raises :class:`CheckpointError` (or ``FileNotFoundError``) naming ``path`` when it is unusable.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder; {_EXPECTED}, e.g. runs/<name>/.../best.ckpt")
    with open(path, "rb") as f:
        head = f.read(2)
    if not zipfile.is_zipfile(path) and not head.startswith(_PICKLE_PROTOCOL_2):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (unrecognised file format); {_EXPECTED}")
    safe = True
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError ... for bad files
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found is None:
            raise CheckpointError(f"{path} could not be read as a PyTorch checkpoint ({_first_line(err)})") from err
        if not trust:
            raise CheckpointError(
                f"{path} stores a Python object ({found.group(1)}) that safe loading (weights_only=True) refuses; "
                "segattn checkpoints hold only tensors and plain data. If you trust this file, pass "
                "--trust-checkpoint"
            ) from err
        # The user vouched for the file (--trust-checkpoint), and the safe load above failed only because of an
        # unlisted class: full unpickling can run code from the file, which is why it is never the default.
        ckpt, safe = torch.load(path, map_location="cpu", weights_only=False), False
    _validate(path, ckpt)
    return ckpt, safe


def _validate(path: Path, ckpt: object) -> None:
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} holds a {type(ckpt).__name__}, not a checkpoint dict; {_EXPECTED}")
    if "state_dict" not in ckpt:
        if ckpt and all(isinstance(v, Tensor) for v in ckpt.values()):
            raise CheckpointError(
                f"{path} is a plain state_dict ({len(ckpt)} tensors) without the training hyperparameters, so the "
                f"network and the image preprocessing are unknown; {_EXPECTED}"
            )
        raise CheckpointError(f"{path} has no 'state_dict' (keys: {sorted(map(str, ckpt))[:8]}); {_EXPECTED}")
    hp = ckpt.get("hyper_parameters")
    missing = [k for k in _MODULE_KEYS if not isinstance(hp, dict) or k not in hp]
    if missing:
        raise CheckpointError(
            f"{path} was not written by segattn's SegmentationModule: hyper_parameters lacks {missing} "
            f"(the number of classes and the network config); {_EXPECTED}"
        )
    if not isinstance(ckpt.get("datamodule_hyper_parameters"), dict):
        raise CheckpointError(
            f"{path} has no 'datamodule_hyper_parameters', so the image preprocessing used in training (channels, "
            "normalisation, crop size) is unknown; train with a segattn data source (`segattn fit`) so the "
            "checkpoint carries it"
        )


def load_checkpoint(path: Path, *, trust: bool = False) -> tuple[AttentionUnet, PredictConfig]:
    """The trained network (eval mode, CPU; the caller or Lightning moves it) and its :class:`PredictConfig`.

    The file is read once; the network is rebuilt from the stored ``net`` config as a bare
    :class:`~segattn.models.AttentionUnet` (no LightningModule, loss or metric) and its weights loaded strictly.
    """
    ckpt, _ = read_checkpoint(path, trust=trust)  # validated, so errors below are about the contents
    hp, dm = ckpt["hyper_parameters"], ckpt["datamodule_hyper_parameters"]
    num_classes = int(hp["num_classes"])
    try:
        net = AttentionUnet(**{"classes": output_channels(num_classes), **dict(hp["net"])})
        state = {k.removeprefix("net."): v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
        net.load_state_dict(state, strict=True)
    except (TypeError, ValueError, RuntimeError, KeyError) as err:
        raise CheckpointError(f"{path}: the network could not be rebuilt from the checkpoint: {err}") from err
    if hp.get("channels_last", True):
        net = net.to(memory_format=torch.channels_last)
        net.channels_last = True  # the tile stream then fills batches in this layout
    in_ch = net.config["in_channels"]
    crop = dm.get("crop_size") or dm.get("image_size") or 512
    try:
        preprocess = eval_preprocess_from_hparams(dm)
        specs = dm.get("eval_transforms")
        data_states = [v for v in ckpt.values() if isinstance(v, dict) and isinstance(v.get("structure_px"), float)]
        widths = [v["structure_px"] for v in data_states]  # SegData.state_dict, saved under the data class's name
        cfg = PredictConfig(
            structure_px=widths[0] if widths else None,
            num_classes=num_classes,
            in_channels=in_ch,
            tile=int(crop),
            threshold=0.5,
            mask_encoding=str(dm.get("mask_encoding", "auto")),
            palette=dm.get("palette"),
            preprocess=preprocess,
            eval_transforms=None if specs is None else [dict(s) for s in specs],
        )
    except ValueError as err:
        raise CheckpointError(f"{path}: datamodule_hyper_parameters are not usable: {err}") from err
    if preprocess.in_channels != in_ch:
        raise CheckpointError(
            f"{path}: the data had {preprocess.in_channels} channels but the network takes {in_ch}; "
            "the checkpoint is inconsistent"
        )
    return net.eval(), cfg


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:200]
