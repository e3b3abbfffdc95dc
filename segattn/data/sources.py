"""The data sources, chosen by ``class_path``: a folder of image / mask pairs, or built-in synthetic floor plans.

Both take :class:`~segattn.data.datamodule.SegData`'s shared arguments (classes, channels, crop, transforms,
normalisation, loaders) plus their own, documented on each class.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch.utils.data import Dataset

from segattn.data.datamodule import SPLIT_ORDER, SegData, Split
from segattn.data.floorplans import generate_floorplan
from segattn.data.floorplans.dataset import FloorplanDataset, plan_seed
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
from segattn.data.io import MaskEncoding, check_palette, read_header, read_mask
from segattn.data.samplers import epoch_sampler


class FolderData(SegData):
    """A folder of image / mask pairs: ``root/images`` + ``root/masks`` (+ ``root/splits``), see data/README.md.

    Args:
        root: the dataset folder. It is read, never written.
        mask_encoding: ``index`` (pixel = class, 255 = ignore), ``binary`` (0 / 255), ``palette`` (RGB
            colours listed in ``palette``), or ``auto`` (binary if every mask is 0/255 and num_classes is 2,
            else index; masks of both kinds are an error; the choice is logged).
        palette: ``[[r, g, b], ...]``, one colour per class, for ``mask_encoding: palette``.
        val_fraction / test_fraction / split_seed: the seeded split used when ``root/splits/`` has no
            ``train.txt`` / ``val.txt``. Without a test split, ``test`` runs on the validation split.
        skip_bad: leave out unusable pairs with a warning instead of failing with the list of problems.
        **kwargs: the shared arguments of :class:`~segattn.data.datamodule.SegData`. The default train
            augmentation is the line-art one (scale, flips, rotations, paper tints, blur / noise / JPEG).
    """

    def __init__(
        self,
        root: str,
        *,
        mask_encoding: MaskEncoding = "auto",
        palette: list[list[int]] | None = None,
        val_fraction: float = 0.2,
        test_fraction: float = 0.0,
        split_seed: int = 0,
        skip_bad: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not root:
            raise ValueError("FolderData needs root: the folder holding images/ and masks/ (--data.root DIR)")
        num_classes = self.hparams.num_classes
        if mask_encoding == "palette":
            self.palette = check_palette(palette, num_classes)
        elif palette is not None:
            raise ValueError(f"a palette is given but mask_encoding is {mask_encoding!r}; set mask_encoding: palette")
        else:
            self.palette = None
        if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ValueError(f"val_fraction {val_fraction} and test_fraction {test_fraction} must be >= 0 with sum < 1")
        self.mask_encoding: str = mask_encoding  # "auto" is resolved in setup
        self.splits: dict[str, list[Pair]] | None = None
        self._pixels: dict[str, list[int] | None] = {}  # image_pixels per split: eval batches and the cadence ask

    def prepare_splits(self) -> None:
        if self.splits is None:
            self.splits = self._folder_splits()

    def image_pixels(self, split: Split) -> list[int] | None:
        """From the image headers (no pixel is decoded), read once per split; None if a header cannot be read."""
        assert self.splits is not None  # set by prepare_splits before any loader is built
        if split not in self._pixels:
            sizes = [read_header(pair.image) for pair in self.splits[split]]
            self._pixels[split] = None if not sizes or None in sizes else [header.pixels for header in sizes]
        return self._pixels[split]

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

    def train_masks(self, n: int) -> Iterator[np.ndarray]:
        assert self.splits is not None
        hp = self.hparams
        return (
            read_mask(pair.mask, self.mask_encoding, self.palette, hp.num_classes) for pair in self.splits["train"][:n]
        )

    def build_dataset(self, split: Split) -> Dataset:
        assert self.splits is not None  # set by prepare_splits before any dataset is built
        hp = self.hparams
        return FolderDataset(
            Path(hp.root),
            self.splits[split],
            in_channels=hp.in_channels,
            encoding=self.mask_encoding,
            palette=self.palette,
            num_classes=hp.num_classes,
            **self.sample_options(split),
        )


class FloorplanData(SegData):
    """Built-in synthetic scanned floor plans with exact wall masks (class 1), generated on the fly, no files.

    Fresh train plans every epoch (plan ``i`` of epoch ``e`` from the seed ``(seed, 0, e, i)``), fixed val / test
    plans. Two classes (background, wall).

    Args:
        image_size: plan side in pixels.
        noise_level: scan degradation, 0 clean, 1 default, 2 hard.
        train_samples / val_samples / test_samples: plans per epoch / in each fixed split.
        seed: the seed every plan is derived from.
        real_scale / cad / dpi: the share of pages drawn at a scan's real scale, the share of CAD drawings (thin
            pen everywhere, hollow walls) and the resolution of real-scale pages
            (:func:`~segattn.data.floorplans.generate_floorplan`). The defaults suit the quickstart; larger shares
            are closer to real drawings and take longer to learn (``configs/plans_real.yaml``).
        **kwargs: the shared arguments of :class:`~segattn.data.datamodule.SegData`. The default train
            augmentation (flips and rotations only) suits them: the plans already vary paper, ink, scale and
            scan noise.
    """

    def __init__(
        self,
        *,
        image_size: int = 256,
        noise_level: float = 1.0,
        train_samples: int = 1000,
        val_samples: int = 64,
        test_samples: int = 64,
        seed: int = 0,
        real_scale: float = REAL_SCALE_SHARE,
        cad: float = CAD_SHARE,
        dpi: float = DPI,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if self.hparams.num_classes != 2:
            raise ValueError(f"floor plans have 2 classes (background, wall), got num_classes={self.num_classes}")
        check_style_options(real_scale=real_scale, cad=cad, dpi=dpi)

    @property
    def styles(self) -> dict[str, float]:
        """``generate_floorplan``'s style options as configured."""
        return {key: self.hparams[key] for key in ("real_scale", "cad", "dpi")}

    def build_dataset(self, split: Split) -> Dataset:
        hp = self.hparams
        length = {"train": hp.train_samples, "val": hp.val_samples, "test": hp.test_samples}[split]
        return FloorplanDataset(
            split,
            length,
            size=hp.image_size,
            noise_level=hp.noise_level,
            in_channels=hp.in_channels,
            seed=hp.seed,
            **self.styles,
            **self.sample_options(split),
        )

    def train_sampler(self, dataset: Dataset) -> Any:
        return epoch_sampler(len(dataset), self.trainer)  # keys epoch * n + i, sharded under DDP

    def train_masks(self, n: int) -> Iterator[np.ndarray]:
        hp = self.hparams
        count = min(n, hp.train_samples)
        return (
            generate_floorplan(plan_seed(hp.seed, "train", 0, i), hp.image_size, hp.noise_level, **self.styles)[1]
            for i in range(count)
        )
