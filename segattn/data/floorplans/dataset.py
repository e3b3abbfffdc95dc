"""Datasets of built-in synthetic floor plans (no files): fresh train plans every epoch, fixed val / test.

Train item ``i`` of epoch ``e`` is generated from the seed ``(seed, 0, e, i)``: it changes every epoch and
is reproducible. The epoch reaches the dataset through the sampler: ``EpochSampler`` yields the keys
``e * n + i``, so the dataset needs no shared state and works the same in DataLoader workers. Lightning
calls ``set_epoch`` on it every epoch; when something else iterates it (e.g. a DDP wrapper sampler), it
counts its own passes. Val / test plans use the seeds ``(seed, 1 or 2, 0, i)`` and are generated once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import cv2
import numpy as np
from torch.utils.data import Dataset, Sampler

from segattn.data.preprocess import make_sample

from .generate import CAD_SHARE, generate_floorplan
from .layout import DPI, REAL_SCALE_SHARE

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


def plan_seed(seed: int, split: str, epoch: int, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, SPLIT_IDS[split], epoch, index])


class EpochSampler(Sampler[int]):
    """Yields ``epoch * n + i`` for ``i`` in ``range(n)``; the epoch advances on every pass or via set_epoch."""

    def __init__(self, n: int) -> None:
        self.n, self.epoch = n, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        return iter(range(epoch * self.n, (epoch + 1) * self.n))


class FloorplanDataset(Dataset):
    """``length`` synthetic plans of ``size`` x ``size``; items are samples as in the batch contract.

    ``real_scale`` / ``cad`` / ``dpi``: the style options of ``generate_floorplan``.
    """

    def __init__(
        self,
        split: Literal["train", "val", "test"],
        length: int,
        *,
        size: int,
        noise_level: float,
        in_channels: int = 3,
        seed: int,
        transform: Any,
        mean: Sequence[float],
        std: Sequence[float],
        pad_multiple: int | None = None,
        real_scale: float = REAL_SCALE_SHARE,
        cad: float = CAD_SHARE,
        dpi: float = DPI,
    ) -> None:
        if length < 1:
            raise ValueError(f"{split} floor plan count must be >= 1, got {length}")
        self.split, self.length, self.size, self.noise_level, self.seed = split, length, size, noise_level, seed
        self.in_channels = in_channels
        self.styles = {"real_scale": real_scale, "cad": cad, "dpi": dpi}  # generate_floorplan's style options
        self.transform, self.mean, self.std, self.pad_multiple = transform, mean, std, pad_multiple
        self._cache: list[tuple[np.ndarray, np.ndarray]] | None = None
        if split != "train":  # fixed plans, generated once
            self._cache = [self._generate(0, i) for i in range(length)]

    def __len__(self) -> int:
        return self.length

    def _generate(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        seed = plan_seed(self.seed, self.split, epoch, index)
        return generate_floorplan(seed, self.size, self.noise_level, **self.styles)

    def __getitem__(self, key: int) -> dict[str, Any]:
        epoch, index = divmod(int(key), self.length)  # key = epoch * length + index (EpochSampler)
        if self._cache is not None:
            image, mask = self._cache[index]
            name = f"floorplan_{self.split}_{index:05d}"
        else:
            image, mask = self._generate(epoch, index)
            name = f"floorplan_train_e{epoch:03d}_{index:05d}"
        if self.transform is not None:  # augmentation reproducible per (epoch, index) too
            self.transform.set_random_seed(int(plan_seed(self.seed, self.split, epoch, index).generate_state(1)[0]))
        image = image.astype(np.float32) * np.float32(1 / 255)  # (H, W, 3) in [0, 1]
        if self.in_channels == 1:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None]  # (H, W, 1)
        elif self.in_channels == 4:
            image = np.concatenate([image, np.ones_like(image[:, :, :1])], axis=2)  # opaque alpha, (H, W, 4)
        return make_sample(
            image, mask, self.transform, self.mean, self.std, name=name, index=index, pad_multiple=self.pad_multiple
        )
