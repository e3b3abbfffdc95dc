"""``SegDataModule``: a folder of image / mask pairs, or built-in synthetic floor plans, as Lightning data.

Configured from the ``data:`` section of a LightningCLI YAML (every argument is a plain type)::

    data:
      class_path: segattn.data.SegDataModule
      init_args:
        dataset: folder          # or floorplans (synthetic, no files)
        root: data/my_plans      # images/ + masks/ (+ splits/), see data/README.md
        num_classes: 2           # including background
        mask_encoding: auto      # index | binary (0/255) | palette | auto
        crop_size: 256
        batch_size: 8

Everything is checked as early as possible: argument values and augmentation names when the DataModule is
built, every file of a folder dataset in ``setup`` before any training. ``self.save_hyperparameters()``
stores the arguments in checkpoints, and ``segattn.data.eval_preprocess_from_hparams`` rebuilds the eval
preprocessing (read -> normalise -> tensor) from ``ckpt["datamodule_hyper_parameters"]``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch.utils.data import DataLoader, Dataset

from segattn.data.floorplans.dataset import FloorplanDataset
from segattn.data.floorplans.generate import CAD_SHARE, check_style_options
from segattn.data.floorplans.layout import DPI, REAL_SCALE_SHARE
from segattn.data.folder import (
    DatasetError,
    FolderDataset,
    Pair,
    find_pairs,
    format_problems,
    read_splits,
    seeded_split,
    validate_pairs,
)
from segattn.data.io import MaskEncoding, check_palette
from segattn.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, pad_collate, resolve_normalization
from segattn.data.samplers import epoch_sampler, eval_sampler, world_size
from segattn.data.transforms import build_eval_transform, build_train_transform

Split = Literal["train", "val", "test"]
SPLIT_ORDER: tuple[Split, ...] = ("train", "val", "test")


class SegDataModule(L.LightningDataModule):
    """Segmentation data for ``fit`` / ``validate`` / ``test``.

    Args:
        dataset: ``"folder"`` (``root/images`` + ``root/masks``) or ``"floorplans"`` (synthetic wall masks,
            generated on the fly: fresh train plans every epoch, fixed val / test plans).
        root: dataset folder (``dataset: folder`` only). It is read, never written.
        num_classes: mask classes including background (binary = 2). Link it to the model.
        in_channels: image channels given to the network: 1 (gray), 3 (RGB) or 4 (RGBA).
        mask_encoding: ``index`` (pixel = class, 255 = ignore), ``binary`` (0 / 255), ``palette`` (RGB
            colours listed in ``palette``), or ``auto`` (binary if all masks are 0/255 and num_classes is 2,
            else index; the choice is logged).
        palette: ``[[r, g, b], ...]``, one colour per class, for ``mask_encoding: palette``.
        val_fraction / test_fraction / split_seed: the seeded split used when ``root/splits/`` has no
            ``train.txt`` / ``val.txt``. Without a test split, ``test`` runs on the validation split.
        skip_bad: leave out unusable pairs with a warning instead of failing with the list of problems.
        crop_size: train samples are ``crop_size`` squares (padded with ignore when smaller); None keeps
            the transformed size (then batches are padded to the largest sample).
        train_transforms / eval_transforms: albumentations steps ``[{name: ..., params: {...}}, ...]``
            (see ``segattn.data.transforms``). ``None`` = the line-art defaults for train (flips and
            rotations only for floorplans) and nothing for eval. Eval transforms must keep the size.
        mean / std: normalisation of [0, 1] images, per channel; ImageNet statistics by default, which
            pretrained encoders expect (for in_channels 1 the three values are averaged).
        pad_multiple: eval images are not resized but padded bottom / right to this multiple (mask 255).
        batch_size / eval_batch_size / num_workers / pin_memory: DataLoader settings (``eval_batch_size``
            defaults to ``batch_size``; ``pin_memory`` None = when CUDA is available).
        image_size / noise_level / train_samples / val_samples / test_samples / seed: synthetic floor
            plans: side in pixels, scan degradation (0 clean, 1 default, 2 hard), plans per epoch / split,
            and the seed they are all derived from.
        real_scale / cad / dpi: synthetic floor plans: the share of pages drawn at a scan's real scale, the share
            of CAD drawings (thin pen everywhere, hollow walls) and the resolution of real-scale pages
            (``segattn.data.floorplans.generate_floorplan``). The defaults suit the quickstart; larger shares
            are closer to real drawings and take longer to learn (``configs/plans_real.yaml``).
    """

    def __init__(
        self,
        dataset: Literal["folder", "floorplans"] = "folder",
        root: str | None = None,
        num_classes: int = 2,
        in_channels: Literal[1, 3, 4] = 3,
        mask_encoding: MaskEncoding = "auto",
        palette: list[list[int]] | None = None,
        val_fraction: float = 0.2,
        test_fraction: float = 0.0,
        split_seed: int = 0,
        skip_bad: bool = False,
        crop_size: int | None = 256,
        train_transforms: list[dict[str, Any]] | None = None,
        eval_transforms: list[dict[str, Any]] | None = None,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        pad_multiple: int = 32,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        image_size: int = 256,
        noise_level: float = 1.0,
        train_samples: int = 1000,
        val_samples: int = 64,
        test_samples: int = 64,
        seed: int = 0,
        real_scale: float = REAL_SCALE_SHARE,
        cad: float = CAD_SHARE,
        dpi: float = DPI,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if dataset not in ("folder", "floorplans"):
            raise ValueError(f"dataset must be 'folder' or 'floorplans', got {dataset!r}")
        if dataset == "folder" and not root:
            raise ValueError("dataset: folder needs root: the folder holding images/ and masks/")
        if dataset == "floorplans" and root:
            raise ValueError(f"root {root!r} is set but dataset is 'floorplans' (synthetic); use dataset: folder")
        if dataset == "floorplans" and num_classes != 2:
            raise ValueError(f"floor plans have 2 classes (background, wall), got num_classes={num_classes}")
        check_style_options(real_scale=real_scale, cad=cad, dpi=dpi)
        if not 2 <= num_classes <= 255:
            raise ValueError(f"num_classes must be in 2..255 (255 is the ignore value), got {num_classes}")
        if mask_encoding == "palette":
            self.palette = check_palette(palette, num_classes)
        elif palette is not None:
            raise ValueError(f"a palette is given but mask_encoding is {mask_encoding!r}; set mask_encoding: palette")
        else:
            self.palette = None
        for label, value in (("crop_size", crop_size), ("pad_multiple", pad_multiple), ("batch_size", batch_size)):
            if value is not None and value < 1:
                raise ValueError(f"{label} must be >= 1, got {value}")
        self.mean, self.std = resolve_normalization(mean, std, in_channels)
        self.train_transform = build_train_transform(
            train_transforms, crop_size, self.mean, in_channels, synthetic=dataset == "floorplans"
        )
        self.eval_transform = build_eval_transform(eval_transforms)
        self.mask_encoding: str = mask_encoding  # "auto" is resolved in setup
        self.splits: dict[str, list[Pair]] | None = None
        self.datasets: dict[str, Dataset] = {}

    # ---------------------------------------------------------------- setup
    def setup(self, stage: str | None = None) -> None:
        """Validate the data (once) and build the datasets the stage needs."""
        needed = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(stage or "", SPLIT_ORDER)
        if self.hparams.dataset == "folder" and self.splits is None:
            self.splits = self._folder_splits()
        for split in needed:
            if split not in self.datasets:
                self.datasets[split] = self._build(split)

    def _folder_splits(self) -> dict[str, list[Pair]]:
        hp = self.hparams
        root = Path(hp.root)
        pairs, problems = find_pairs(root)
        splits_keys, split_problems = read_splits(root, {p.key for p in pairs})
        more, self.mask_encoding = validate_pairs(pairs, hp.mask_encoding, self.palette, hp.num_classes, root)
        problems += more + split_problems
        if hp.mask_encoding == "auto":
            rank_zero_info(f"mask_encoding 'auto' resolved to {self.mask_encoding!r} for {root}")
        if problems:
            header = f"dataset {root}: {len(problems)} problem(s)"
            if not hp.skip_bad:
                hint = "Fix or remove these files, or set skip_bad: true to leave the bad pairs out."
                raise DatasetError(format_problems(problems, header + ":") + "\n" + hint)
            rank_zero_warn(format_problems(problems, header + ", skipping the affected pairs (skip_bad):"))
        bad = {p.key for p in problems if p.key is not None}
        good = {p.key: p for p in pairs if p.key not in bad}
        if not good:
            raise DatasetError(f"dataset {root}: no usable image / mask pair left")
        if splits_keys is None:
            splits_keys = seeded_split(sorted(good), hp.val_fraction, hp.test_fraction, hp.split_seed)
            fractions = f"val_fraction={hp.val_fraction}, test_fraction={hp.test_fraction}"
            source = f"seeded split ({fractions}, split_seed={hp.split_seed})"
        else:
            source = f"{root / 'splits'}"
        splits = {name: [good[k] for k in keys if k in good] for name, keys in splits_keys.items()}
        for name in ("train", "val"):
            if not splits.get(name):
                raise DatasetError(f"dataset {root}: the {name} split is empty ({source})")
        if not splits.get("test"):
            splits["test"] = splits["val"]
            source += "; no test split, test uses val"
        sizes = ", ".join(f"{name} {len(splits[name])}" for name in SPLIT_ORDER)
        rank_zero_info(f"dataset {root}: {sizes} pairs from {source}")
        return splits

    def _build(self, split: Split) -> Dataset:
        hp = self.hparams
        train = split == "train"
        common = dict(
            transform=self.train_transform if train else self.eval_transform,
            mean=self.mean,
            std=self.std,
            pad_multiple=None if train else hp.pad_multiple,
        )
        if hp.dataset == "floorplans":
            length = {"train": hp.train_samples, "val": hp.val_samples, "test": hp.test_samples}[split]
            return FloorplanDataset(
                split,
                length,
                size=hp.image_size,
                noise_level=hp.noise_level,
                in_channels=hp.in_channels,
                seed=hp.seed,
                real_scale=hp.real_scale,
                cad=hp.cad,
                dpi=hp.dpi,
                **common,
            )
        assert self.splits is not None  # set by setup before any dataset is built
        return FolderDataset(
            Path(hp.root),
            self.splits[split],
            in_channels=hp.in_channels,
            encoding=self.mask_encoding,
            palette=self.palette,
            num_classes=hp.num_classes,
            **common,
        )

    # ---------------------------------------------------------------- loaders
    def _loader(self, split: Split) -> DataLoader:
        if split not in self.datasets:
            raise RuntimeError(f"the {split} dataset is not set up; call setup() with the matching stage first")
        hp = self.hparams
        ds = self.datasets[split]
        train = split == "train"
        batch_size = hp.batch_size if train else (hp.eval_batch_size or hp.batch_size)
        trainer = self.trainer  # None until Lightning attaches the datamodule (then: one process)
        if not train:
            sampler = eval_sampler(ds, trainer, split)  # under DDP: every image on exactly one process
        elif hp.dataset == "floorplans":
            sampler = epoch_sampler(len(ds), trainer)  # keys epoch * n + i, sharded under DDP
        else:
            sampler = None  # shuffled; under DDP Lightning puts in a shuffling DistributedSampler
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
