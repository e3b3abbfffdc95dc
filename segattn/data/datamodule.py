"""``SegData``: what every segattn data source shares — class count, channels, augmentation, normalisation, loaders.

A data source is chosen in YAML by ``class_path`` (LightningCLI), one class per source, each taking the shared
arguments below plus its own (see :mod:`segattn.data.sources`)::

    data:
      class_path: segattn.data.FolderData      # or segattn.data.FloorplanData (synthetic, no files)
      init_args:
        root: data/my_plans
        crop_size: 256
        batch_size: 8

Everything is checked as early as possible: argument values and augmentation names when the DataModule is built,
every file of a folder dataset in ``setup`` before any training. ``self.save_hyperparameters()`` stores the
arguments of the whole class hierarchy in checkpoints, and ``segattn.data.eval_preprocess_from_hparams`` rebuilds
the eval preprocessing (read -> normalise -> tensor) from ``ckpt["datamodule_hyper_parameters"]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from segattn.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, pad_collate, resolve_normalization
from segattn.data.samplers import eval_sampler, world_size
from segattn.data.thickness import reference_thickness
from segattn.data.transforms import build_eval_transform, build_train_transform

Split = Literal["train", "val", "test"]
SPLIT_ORDER: tuple[Split, ...] = ("train", "val", "test")
THICKNESS_SAMPLES = 16  # train masks the reference foreground thickness is measured on


class SegData(L.LightningDataModule):
    """The shared part of every data source: configuration checks, transforms and the three loaders.

    Args:
        num_classes: mask classes including background (binary = 2). Linked to the model.
        in_channels: image channels given to the network: 1 (gray), 3 (RGB) or 4 (RGBA).
        crop_size: train samples are ``crop_size`` squares (padded with ignore when smaller); None keeps
            the transformed size (then batches are padded to the largest sample).
        train_transforms / eval_transforms: albumentations steps ``[{name: ..., params: {...}}, ...]``
            (see ``segattn.data.transforms``). ``None`` = the ``augment`` pipeline for train and nothing for
            eval. Eval transforms must keep the size.
        augment: the default train pipeline when ``train_transforms`` is None: ``flips`` (the 8 flips /
            rotations; what won at equal steps on real sets, bench/README.md) or ``scan`` (also scale, rotation,
            paper, ink and scan noise: for pages unlike the training pages; ``segattn.data.transforms.AUGMENT``).
        mean / std: normalisation of [0, 1] images, per channel; ImageNet statistics by default, which
            pretrained encoders expect (for in_channels 1 the three values are averaged).
        pad_multiple: eval images are not resized but padded bottom / right to this multiple (mask 255).
        batch_size / eval_batch_size / num_workers / pin_memory: DataLoader settings (``pin_memory`` None = when
            CUDA is available). Validation and test see whole images, so ``eval_batch_size`` None holds as many as
            fit in the pixels of one training batch (``batch_size`` x ``crop_size``², at most ``batch_size``, at
            least 1; see :meth:`eval_batch`): eight whole 1240 x 1750 plans at once took 20 GB and the kernel
            killed the run without a word.
    """

    def __init__(
        self,
        *,
        num_classes: int = 2,
        in_channels: Literal[1, 3, 4] = 3,
        crop_size: int | None = 256,
        train_transforms: list[dict[str, Any]] | None = None,
        eval_transforms: list[dict[str, Any]] | None = None,
        augment: Literal["flips", "scan"] = "flips",
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        pad_multiple: int = 32,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if not 2 <= num_classes <= 255:
            raise ValueError(f"num_classes must be in 2..255 (255 is the ignore value), got {num_classes}")
        for label, value in (("crop_size", crop_size), ("pad_multiple", pad_multiple), ("batch_size", batch_size)):
            if value is not None and value < 1:
                raise ValueError(f"{label} must be >= 1, got {value}")
        self.mean, self.std = resolve_normalization(mean, std, in_channels)
        self.train_transform = build_train_transform(
            train_transforms, crop_size, self.mean, in_channels, augment=augment
        )
        self.eval_transform = build_eval_transform(eval_transforms)
        self.datasets: dict[str, Dataset] = {}
        self.structure_px: float | None = None  # median foreground thickness of train masks (segattn.data.thickness)

    @property
    def num_classes(self) -> int:
        return int(self.hparams.num_classes)

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets the stage needs (each source checks its data first, see ``prepare_splits``)."""
        needed = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(stage or "", SPLIT_ORDER)
        self.prepare_splits()
        for split in needed:
            if split not in self.datasets:
                self.datasets[split] = self.build_dataset(split)
        if stage == "fit" and self.structure_px is None:
            self.structure_px = reference_thickness(self.train_masks(THICKNESS_SAMPLES))

    def train_masks(self, n: int) -> Iterator[np.ndarray]:
        """Up to ``n`` training masks as read, before augmentation (for the reference foreground thickness)."""
        return iter(())

    def state_dict(self) -> dict[str, Any]:
        """Saved in checkpoints: the reference foreground thickness, which ``segattn predict --scale auto`` needs."""
        return {"structure_px": self.structure_px} if self.structure_px is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.structure_px = state_dict.get("structure_px", self.structure_px)

    def prepare_splits(self) -> None:
        """Check the data once, before any dataset is built (a folder source reads every file here)."""

    def build_dataset(self, split: Split) -> Dataset:
        raise NotImplementedError

    def sample_options(self, split: Split) -> dict[str, Any]:
        """Transform and normalisation arguments every dataset of ``split`` takes."""
        train = split == "train"
        return {
            "transform": self.train_transform if train else self.eval_transform,
            "mean": self.mean,
            "std": self.std,
            "pad_multiple": None if train else self.hparams.pad_multiple,
        }

    def train_sampler(self, dataset: Dataset) -> Any:
        """None: shuffled; under DDP Lightning puts in a shuffling DistributedSampler."""
        return None

    def image_pixels(self, split: Split) -> list[int] | None:
        """Pixels of each image of the split, None if unknown (then eval batches are ``batch_size``)."""
        return None

    def largest_image_pixels(self, split: Split) -> int | None:
        """Pixels of the split's largest image, None if unknown."""
        pixels = self.image_pixels(split)
        return max(pixels) if pixels else None

    def eval_batch(self, split: Split) -> int:
        """Images per validation / test batch: ``eval_batch_size``, or no more pixels than a training batch."""
        hp = self.hparams
        if hp.eval_batch_size:
            return int(hp.eval_batch_size)
        largest = self.largest_image_pixels(split) if hp.crop_size else None
        if not largest:
            return int(hp.batch_size)
        return max(1, min(hp.batch_size, hp.batch_size * hp.crop_size**2 // largest))

    def _loader(self, split: Split) -> DataLoader:
        if split not in self.datasets:
            raise RuntimeError(f"the {split} dataset is not set up; call setup() with the matching stage first")
        hp = self.hparams
        ds = self.datasets[split]
        train = split == "train"
        batch_size = hp.batch_size if train else self.eval_batch(split)
        trainer = self.trainer  # None until Lightning attaches the datamodule (then: one process)
        sampler = self.train_sampler(ds) if train else eval_sampler(ds, trainer, split)  # eval: every image once
        per_process = math.ceil(len(ds) / world_size(trainer))  # what one process iterates (DDP pads train)
        return DataLoader(
            ds,
            batch_size=batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            drop_last=train and per_process > batch_size,  # no batch of 1 for BatchNorm, never no batch at all
            num_workers=hp.num_workers,
            persistent_workers=hp.num_workers > 0,
            pin_memory=torch.cuda.is_available() if hp.pin_memory is None else hp.pin_memory,
            collate_fn=pad_collate,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")


__all__ = ["SPLIT_ORDER", "SegData", "Split"]
