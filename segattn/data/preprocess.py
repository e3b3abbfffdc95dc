"""From a [0, 1] float image to the network's input, and from samples to batches.

One place decides how pixels become tensors, for training, evaluation and prediction alike:
``normalize`` ((x - mean) / std per channel, ImageNet statistics by default, which is what pretrained
encoders expect), ``pad_to_multiple`` (bottom / right, image with 0 after normalisation = the mean colour,
mask with 255 = ignored) and ``to_tensor`` (HWC -> CHW). ``eval_preprocess_from_hparams`` rebuilds the exact
evaluation preprocessing from a checkpoint's ``datamodule_hyper_parameters``. ``pad_collate`` stacks samples
of different sizes by padding them to the largest in the batch, the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from segattn.data.io import read_image
from segattn.labels import IGNORE_INDEX

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def resolve_normalization(
    mean: Sequence[float], std: Sequence[float], in_channels: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) for ``in_channels``: one value is repeated; three values for a 1-channel input
    are averaged (gray ImageNet statistics); otherwise the length must equal ``in_channels``."""
    out = []
    for label, values in (("mean", mean), ("std", std)):
        values = tuple(float(v) for v in values)
        if len(values) == 1:
            values = values * in_channels
        elif len(values) == 3 and in_channels == 1:
            values = (sum(values) / 3,)
        if len(values) != in_channels:
            raise ValueError(
                f"{label} has {len(values)} values but in_channels is {in_channels}; give 1 or {in_channels} values"
            )
        out.append(values)
    if min(out[1]) <= 0:
        raise ValueError(f"std must be positive, got {out[1]}")
    return out[0], out[1]


def normalize(image: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(H, W, C) float in [0, 1] -> (H, W, C) float32 (x - mean) / std."""
    mean_ = np.asarray(mean, dtype=np.float32)
    inv_std = 1.0 / np.asarray(std, dtype=np.float32)
    return ((image.astype(np.float32, copy=False) - mean_) * inv_std).astype(np.float32, copy=False)


def pad_to_multiple(image: np.ndarray, mask: np.ndarray | None, multiple: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Pad bottom / right so H and W are multiples of ``multiple``: image with 0, mask with ``IGNORE_INDEX``.

    Call it on the normalised image, where 0 is the mean colour.
    """
    h, w = image.shape[:2]
    ph, pw = (-h) % multiple if multiple > 1 else 0, (-w) % multiple if multiple > 1 else 0
    if ph == 0 and pw == 0:
        return image, mask
    image = np.pad(image, ((0, ph), (0, pw), (0, 0)), constant_values=0)
    if mask is not None:
        mask = np.pad(mask, ((0, ph), (0, pw)), constant_values=IGNORE_INDEX)
    return image, mask


def to_tensor(image: np.ndarray) -> Tensor:
    """(H, W, C) float32 -> (C, H, W) contiguous tensor."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


@dataclass(frozen=True)
class EvalPreprocess:
    """Evaluation / prediction preprocessing: read_image -> normalise -> (C, H, W) float32 tensor.

    No resizing and no padding: ``pad_multiple`` (32 by default) is the multiple the DataModule pads eval
    images to, given for callers that tile or pad themselves (``pad_to_multiple``).
    """

    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    pad_multiple: int = 32

    def array(self, image: np.ndarray) -> Tensor:
        """(H, W, C) float image in [0, 1] -> (C, H, W) normalised tensor."""
        return to_tensor(normalize(image, self.mean, self.std))

    def array_into(self, image: np.ndarray, out: Tensor) -> None:
        """Write ``array(image)`` into ``out`` ((C, h, w) float32, any strides, e.g. a slot of a channels-last batch).

        The same float32 operations as :func:`normalize` (subtract the mean, multiply by 1 / std), in place in
        ``out``: bit-identical to ``array``, without its two temporaries and the layout copy (prediction fills
        thousands of tiles this way).
        """
        mean = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        inv_std = 1.0 / torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)
        src = torch.from_numpy(image).permute(2, 0, 1)  # (h, w, C) -> (C, h, w) view; float32 as read
        torch.sub(src, mean, out=out)  # the layout change and the subtraction in one pass
        out.mul_(inv_std)

    def __call__(self, path: str | Path) -> Tensor:
        """Read an image file -> (C, H, W) normalised float32 tensor."""
        return self.array(read_image(path, self.in_channels))


def eval_preprocess_from_hparams(hparams: Mapping[str, Any]) -> EvalPreprocess:
    """The eval preprocessing of a data source (``SegData``) from its saved hyperparameters.

    ``hparams`` is ``ckpt["datamodule_hyper_parameters"]`` (or ``datamodule.hparams``). Missing keys take
    the DataModule's defaults (3 channels, ImageNet mean / std, multiple of 32).
    """
    in_channels = int(hparams.get("in_channels", 3))
    mean, std = resolve_normalization(
        hparams.get("mean") or IMAGENET_MEAN, hparams.get("std") or IMAGENET_STD, in_channels
    )
    return EvalPreprocess(in_channels, mean, std, int(hparams.get("pad_multiple", 32)))


def pad_collate(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack samples into a batch, padding images (0) and masks (255) bottom / right to the largest size.

    Samples carry ``image`` (C, H, W) float32, ``mask`` (H, W) int64, ``name`` str, ``index`` int and, for
    eval, ``orig_size`` (H, W); the batch has ``image`` (B, C, H, W), ``mask`` (B, H, W), ``name`` list[str],
    ``index`` (B,) int64 and ``orig_size`` (B, 2) int64.
    """
    height = max(s["image"].shape[1] for s in samples)
    width = max(s["image"].shape[2] for s in samples)
    channels = samples[0]["image"].shape[0]
    images = samples[0]["image"].new_zeros((len(samples), channels, height, width))  # (B, C, H, W)
    masks = torch.full((len(samples), height, width), IGNORE_INDEX, dtype=torch.int64)  # (B, H, W)
    for i, s in enumerate(samples):
        h, w = s["image"].shape[1:]
        images[i, :, :h, :w] = s["image"]
        masks[i, :h, :w] = s["mask"]
    batch: dict[str, Any] = {
        "image": images,
        "mask": masks,
        "name": [s["name"] for s in samples],
        "index": torch.tensor([int(s["index"]) for s in samples], dtype=torch.int64),
    }
    if "orig_size" in samples[0]:
        batch["orig_size"] = torch.tensor([list(s["orig_size"]) for s in samples], dtype=torch.int64)  # (B, 2)
    return batch


def make_sample(
    image: np.ndarray,
    mask: np.ndarray,
    transform: Any,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    name: str,
    index: int,
    pad_multiple: int | None = None,
) -> dict[str, Any]:
    """One dataset item: transform (albumentations, or None) -> normalise -> pad (eval) -> tensors.

    ``pad_multiple`` set means an eval sample: the transform must keep the size, the sample gets
    ``orig_size`` and is padded to the multiple (image 0, mask 255).
    """
    if transform is not None:
        out = transform(image=image, mask=mask)
        if pad_multiple is not None and out["image"].shape[:2] != image.shape[:2]:
            raise ValueError(
                f"eval_transforms changed the size of {name} from {image.shape[:2]} to {out['image'].shape[:2]}; "
                "eval images are scored at their original size, so eval transforms must keep it"
            )
        image, mask = out["image"], out["mask"]
    if image.ndim == 2:
        image = image[:, :, None]
    sample: dict[str, Any] = {"name": name, "index": index}
    image = normalize(image, mean, std)  # (H, W, C)
    if pad_multiple is not None:
        sample["orig_size"] = (int(image.shape[0]), int(image.shape[1]))
        image, mask = pad_to_multiple(image, mask, pad_multiple)
    sample["image"] = to_tensor(image)  # (C, H, W)
    sample["mask"] = torch.from_numpy(mask.astype(np.int64))  # (H, W)
    return sample
