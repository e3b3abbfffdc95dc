"""Augmentation pipelines from YAML: the package's only albumentations import.

A pipeline is a list of steps, each ``{name: <albumentations class>, params: {...}}``; the compositions
``OneOf``, ``SomeOf``, ``Sequential`` and ``OneOrOther`` also take ``transforms: [<steps>]``::

    train_transforms:
      - {name: RandomSizedCrop, params: {min_max_height: [183, 366], size: [256, 256]}}
      - {name: HorizontalFlip, params: {p: 0.5}}
      - name: OneOf
        params: {p: 0.5}
        transforms:
          - {name: GaussianBlur, params: {sigma_limit: [0.3, 1.2]}}
          - {name: ImageCompression, params: {quality_range: [30, 90]}}

Names and parameter names are checked when the pipeline is built (an unknown name suggests the closest
ones; an unknown parameter lists the valid ones; albumentations' own value checks are re-raised with the
step's position). Images reach the pipeline as float32 in [0, 1]; normalisation and the tensor conversion
happen afterwards in ``segattn.data.preprocess``, so ``Normalize`` / ``ToTensorV2`` are refused here.
Geometric transforms move image and mask together; masks resize with nearest neighbour (albumentations'
default ``mask_interpolation=0``) and every pad fills the mask with 255 (ignored by the loss and by Dice).
"""

from __future__ import annotations

import difflib
import inspect
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations would otherwise query PyPI on import
import albumentations as A  # noqa: E402
import cv2  # noqa: E402

from segattn.labels import IGNORE_INDEX  # noqa: E402

TransformSpec = dict[str, Any]

_COMPOSE = {"OneOf", "SomeOf", "Sequential", "OneOrOther", "RandomOrder"}
_REFUSED = {
    "Normalize": "normalisation is done by the DataModule (mean / std arguments); remove it from the pipeline",
    "ToTensorV2": "tensor conversion is done by the DataModule; remove it from the pipeline",
    "ToFloat": "images are already float32 in [0, 1]",
    "FromFloat": "images must stay float32 in [0, 1]",
    "Lambda": "a Python function cannot be written in YAML",
    "Compose": "a pipeline is already a Compose: use Sequential to group steps",
    "ReplayCompose": "use Sequential to group steps",
}
_BASES = {"BaseCompose", "BasicTransform", "DualTransform", "ImageOnlyTransform", "Transform3D"}


def _available() -> dict[str, type]:
    names = {}
    for name in dir(A):
        obj = getattr(A, name)
        if isinstance(obj, type) and issubclass(obj, (A.BasicTransform, A.BaseCompose)) and name not in _BASES:
            if not name.endswith("3D"):
                names[name] = obj
    return names


TRANSFORM_NAMES: dict[str, type] = _available()


def _lookup(name: Any, where: str) -> type:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: every step needs a 'name' (an albumentations class such as HorizontalFlip)")
    if name in _REFUSED:
        raise ValueError(f"{where}: {name} is not allowed: {_REFUSED[name]}")
    if name not in TRANSFORM_NAMES:
        close = difflib.get_close_matches(name, TRANSFORM_NAMES, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(
            f"{where}: unknown albumentations transform {name!r}{hint} (albumentations {A.__version__}; names are "
            "class names, e.g. HorizontalFlip, RandomRotate90, RandomBrightnessContrast, GaussianBlur)"
        )
    return TRANSFORM_NAMES[name]


def _check_params(cls: type, params: Mapping[str, Any], where: str) -> None:
    sig = inspect.signature(cls.__init__)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    valid = [p for p in sig.parameters if p not in ("self", "transforms")]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"{where}: {cls.__name__} has no parameter(s) {unknown}; valid: {valid}")


def _error_text(err: Exception) -> str:
    """One line per problem; albumentations validates parameters with pydantic, whose text is verbose."""
    source = err.__cause__ if callable(getattr(err.__cause__, "errors", None)) else err
    errors = getattr(source, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in errors())
    return str(err)


def build_steps(specs: Sequence[Mapping[str, Any]] | None, where: str = "transforms") -> list:
    """Albumentations transform objects from a list of ``{name, params[, transforms]}`` steps."""
    if specs is None:
        return []
    if isinstance(specs, (str, bytes)) or not isinstance(specs, Sequence):
        raise ValueError(f"{where}: expected a list of steps like [{{name: HorizontalFlip, params: {{p: 0.5}}}}]")
    steps = []
    for i, spec in enumerate(specs):
        loc = f"{where}[{i}]"
        if not isinstance(spec, Mapping):
            raise ValueError(f"{loc}: expected a step like {{name: HorizontalFlip, params: {{p: 0.5}}}}, got {spec!r}")
        extra = sorted(set(spec) - {"name", "params", "transforms"})
        if extra:
            raise ValueError(f"{loc}: unknown key(s) {extra}; a step has name, params and (compositions) transforms")
        cls = _lookup(spec.get("name"), loc)
        params = dict(spec.get("params") or {})
        _check_params(cls, params, loc)
        is_compose = spec["name"] in _COMPOSE
        if is_compose != ("transforms" in spec):
            need = "needs a 'transforms' list" if is_compose else "takes no 'transforms' (only compositions do)"
            raise ValueError(f"{loc}: {spec['name']} {need}")
        try:
            if is_compose:
                steps.append(cls(build_steps(spec["transforms"], f"{loc}.transforms"), **params))
            else:
                steps.append(cls(**params))
        except (TypeError, ValueError) as err:
            if str(err).startswith(f"{loc}"):
                raise
            raise ValueError(f"{loc}: {spec['name']}: {_error_text(err)}") from err
    return steps


AUGMENT = {  # the default train pipelines, by name (``augment``); measured in bench/README.md (bench/quality.py)
    "flips": "the 8 flips / 90 degree rotations only (the default)",
    "scan": "flips + scale 0.7-1.4x, slight rotation, brightness / contrast / gamma, paper tint, blur / noise / JPEG",
}


def default_train_transforms(
    crop_size: int | None, in_channels: int = 3, fill: Sequence[float] = (0.0,), augment: str = "flips"
) -> list[TransformSpec]:
    """A default train pipeline for line art (plans, cracks, membranes), as YAML-style steps (``AUGMENT``).

    ``flips`` is the default because it is what won, measured at equal steps: the same config with flips only
    beat the ``scan`` pipeline and matched or beat a hand-written smp loop (bench/quality.py, bench/README.md).
    ``scan`` does not assume a clean white page: random scale 0.7-1.4x by cropping a window and resizing it
    to ``crop_size``, the 8 flips / 90 degree rotations, a slight rotation, brightness / contrast / gamma, a
    per-channel tint (cream, grey or bluish paper) and hue shift, sometimes gray, then one of blur, sensor
    noise or JPEG; it pays when the pages to predict differ in paper, ink or scan from the training pages
    (it helped the one mid-grey plan of that held-out set most). ``fill`` is the image pad value (the
    normalisation mean: 0 after it).
    """
    if augment not in AUGMENT:
        options = ", ".join(f"{k!r} ({v})" for k, v in AUGMENT.items())
        raise ValueError(f"augment must be one of {options}; got {augment!r}")
    fill = list(fill) if len(fill) > 1 else float(fill[0])
    symmetry = [
        {"name": "HorizontalFlip", "params": {"p": 0.5}},
        {"name": "VerticalFlip", "params": {"p": 0.5}},
        {"name": "RandomRotate90", "params": {"p": 0.5}},
    ]
    if augment == "flips":
        return symmetry
    steps: list[TransformSpec] = []
    if crop_size:
        lo, hi = round(crop_size / 1.4), math.ceil(crop_size / 0.7)
        pad = {"min_height": hi, "min_width": hi, "border_mode": cv2.BORDER_CONSTANT, "fill": fill}
        steps += [
            {"name": "PadIfNeeded", "params": {**pad, "fill_mask": IGNORE_INDEX}},
            {"name": "RandomSizedCrop", "params": {"min_max_height": [lo, hi], "size": [crop_size, crop_size]}},
        ]
    steps += symmetry
    rotate = {"rotate": [-5, 5], "border_mode": cv2.BORDER_CONSTANT, "fill": fill, "fill_mask": IGNORE_INDEX}
    steps += [
        {"name": "Affine", "params": {**rotate, "p": 0.3}},
        {"name": "RandomBrightnessContrast", "params": {"brightness_limit": 0.2, "contrast_limit": 0.3, "p": 0.7}},
        {"name": "RandomGamma", "params": {"gamma_limit": [70, 150], "p": 0.3}},
    ]
    if in_channels == 3:
        steps += [
            {"name": "MultiplicativeNoise", "params": {"multiplier": [0.82, 1.05], "per_channel": True, "p": 0.5}},
            {"name": "HueSaturationValue", "params": {"hue_shift_limit": 10, "sat_shift_limit": 20, "p": 0.3}},
            {"name": "ToGray", "params": {"p": 0.1}},
        ]
    steps.append(
        {
            "name": "OneOf",
            "params": {"p": 0.5},
            "transforms": [
                {"name": "GaussianBlur", "params": {"sigma_limit": [0.3, 1.2]}},
                {"name": "GaussNoise", "params": {"std_range": [0.01, 0.05]}},
                {"name": "ImageCompression", "params": {"quality_range": [30, 90]}},
            ],
        }
    )
    return steps


def build_train_transform(
    specs: Sequence[Mapping[str, Any]] | None,
    crop_size: int | None,
    fill: Sequence[float] = (0.0,),
    in_channels: int = 3,
    augment: str = "flips",
) -> A.Compose:
    """The train pipeline: ``specs`` (``None`` -> ``default_train_transforms(..., augment)``), then pad + random
    crop to ``crop_size`` so every train sample is ``crop_size`` square (a no-op when the steps already made it so).
    """
    if specs is None:
        specs = default_train_transforms(crop_size, in_channels, fill, augment)
    steps = build_steps(specs, "train_transforms")
    if crop_size:
        fill_value = list(fill) if len(fill) > 1 else float(fill[0])
        steps += [
            A.PadIfNeeded(
                crop_size, crop_size, border_mode=cv2.BORDER_CONSTANT, fill=fill_value, fill_mask=IGNORE_INDEX
            ),
            A.RandomCrop(crop_size, crop_size),
        ]
    return A.Compose(steps)


def build_eval_transform(specs: Sequence[Mapping[str, Any]] | None) -> A.Compose | None:
    """The eval pipeline (default none). It must keep the image size: eval is scored at the original size."""
    steps = build_steps(specs, "eval_transforms")
    return A.Compose(steps) if steps else None
