"""The tile stream: reads images, cuts tiles and batches them across images for the model.

A ``torch.utils.data.IterableDataset`` (used with ``DataLoader(batch_size=None)``) whose items are
already batches: ``batch_size`` tiles taken in order from one image after another, so the last
tiles of one image and the first of the next share a forward pass. Each batch is a dict:

- ``image``: (batch_size, C, tile, tile) float32, preprocessed exactly as in training; only the first n slots
  are tiles (n may be 0), the rest zeros, so every forward pass has the same batch size;
- ``tile_pos``: (n, 3) int64 rows ``[image index, y, x]``, each image's tiles in raster order;
- ``events``: list of :class:`ImageEvent` — an image starting (its first tile is in this batch or
  comes later), skipped (all outputs already exist) or failed (unreadable) — in input order.

Images are sharded by index: process ``rank`` of ``world`` owns the images with
``index % world == rank`` (DataLoader worker ``w`` of ``n`` then takes every ``n``-th of those), so
each image is read, predicted and written by exactly one process. Only one image per worker is
held at a time, as read (float32 in [0, 1]); normalisation and the (C, H, W) layout are applied per tile,
which is exact because both act pixel by pixel, and never costs a second image-sized copy. Full tiles are
normalised straight into their slot of the batch (``to_input_into``), in the network's memory format.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import IterableDataset, get_worker_info

from segattn.models.tiling import TileGrid, extract_tile

from .inputs import InputImage, OutputPaths


class Preprocessing(Protocol):
    """How images become network input (from the checkpoint: :class:`~segattn.predict.checkpoint.PredictConfig`)."""

    in_channels: int

    def read(self, path: Path) -> np.ndarray:
        """Path -> (H, W, C) float32 image in [0, 1], as in training (raises for unreadable files)."""
        ...

    def to_input(self, array: np.ndarray) -> Tensor:
        """(h, w, C) crop of it -> (C, h, w) network input (normalised)."""
        ...

    # Optional: ``to_input_into(array, out)`` writes ``to_input(array)`` into the (C, h, w) tensor ``out`` in place.
    # The stream uses it when present for full tiles (no temporaries, no layout copy).


class ImageEvent(NamedTuple):  # a NamedTuple: Lightning's batch transfer rebuilds it, frozen dataclasses fail
    index: int  # position in the input list
    status: str  # "start" | "skipped" | "failed"
    height: int = 0
    width: int = 0
    todo: frozenset[Path] = frozenset()  # outputs to write (start only)
    seconds: float = 0.0  # time spent reading and preprocessing
    error: str = ""
    scale: float = 1.0  # the image was resized by this before tiling (height, width are the resized size)
    out_height: int = 0  # the input's own size, which the outputs get (start only)
    out_width: int = 0


def outputs_to_write(paths: OutputPaths, overwrite: bool) -> frozenset[Path]:
    """All outputs with ``overwrite``, else those not on disk yet (temporary files never count)."""
    return frozenset(p for p in paths.all if overwrite or not p.exists())


class TileStream(IterableDataset):
    def __init__(
        self,
        images: list[InputImage],
        outputs: list[OutputPaths],
        prep: Preprocessing,
        *,
        tile: int,
        stride: int,
        batch_size: int,
        overwrite: bool = False,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.images, self.outputs, self.prep = images, outputs, prep
        self.tile, self.stride = tile, stride
        self.batch_size, self.overwrite = batch_size, overwrite
        # batches in the memory format the network wants: copying an (h, w, C) crop into a channels-last slot is a
        # plain row copy, and the network's own conversion is then a no-op
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.rank, self.world = 0, 1

    def shard(self, rank: int, world: int) -> None:
        """Iterate only the images of process ``rank`` of ``world`` (call before iterating)."""
        self.rank, self.world = rank, world

    def owned(self) -> list[int]:
        """Indices of the images this process handles."""
        return list(range(self.rank, len(self.images), self.world))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        batch = self._new_batch()  # (batch_size, C, T, T), filled slot by slot
        pos: list[tuple[int, int, int]] = []
        events: list[ImageEvent] = []
        for index in self.owned()[worker::workers]:
            todo = outputs_to_write(self.outputs[index], self.overwrite)
            if not todo:
                events.append(ImageEvent(index, "skipped"))
                continue
            t0 = time.perf_counter()
            try:
                image = self.prep.read(self.images[index].path)  # (H, W, C) in [0, 1]
            except Exception as err:  # noqa: BLE001 - any unreadable input is reported, and the run goes on
                events.append(ImageEvent(index, "failed", error=_describe(err, self.images[index].path)))
                continue
            oh, ow = image.shape[:2]
            factor = 1.0
            try:
                factor = self.prep.scale_for(image, self.images[index].path) if hasattr(self.prep, "scale_for") else 1.0
                image = resize(image, factor)
            except Exception as err:  # noqa: BLE001 - e.g. --scale auto without a reference: this image fails
                events.append(ImageEvent(index, "failed", error=_describe(err, self.images[index].path)))
                continue
            h, w = image.shape[:2]
            events.append(ImageEvent(index, "start", h, w, todo, time.perf_counter() - t0, "", factor, oh, ow))
            for y, x in TileGrid(h, w, self.tile, self.stride).positions:
                fill_tile(self.prep, image, y, x, batch[len(pos)])
                pos.append((index, y, x))
                if len(pos) == self.batch_size:
                    yield self._batch(batch, pos, events)
                    batch, pos, events = self._new_batch(), [], []
            del image  # free it before the next image is read
        if pos or events:
            yield self._batch(batch, pos, events)

    def _new_batch(self) -> Tensor:
        """A fresh (not reused: the loader may hold the previous one) (batch_size, C, T, T) float32 batch."""
        shape = (self.batch_size, self.prep.in_channels, self.tile, self.tile)
        return torch.empty(shape, dtype=torch.float32, memory_format=self.memory_format)

    def _batch(self, batch: Tensor, pos: list[tuple[int, int, int]], events: list[ImageEvent]) -> dict[str, Any]:
        # always the full (batch_size, C, T, T) tensor, its unused slots zeroed: the network then always sees the
        # same batch size, so a tile's probabilities do not depend on which other images are in the run (a kernel
        # chosen for another batch size differs in the last bits, and a resumed run must equal an uninterrupted one)
        batch[len(pos) :].zero_()
        tile_pos = torch.tensor(pos, dtype=torch.int64).reshape(-1, 3)  # (n, 3): the first n slots are tiles
        return {"image": batch, "tile_pos": tile_pos, "events": events}


def resize(image: np.ndarray, factor: float) -> np.ndarray:
    """``image`` (H, W, C) float32 resized by ``factor`` (area averaging down, bilinear up); as is for 1."""
    if factor == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))  # OpenCV wants (W, H)
    out = cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    return out if out.ndim == 3 else out[:, :, None]


def fill_tile(prep: Preprocessing, image: np.ndarray, y: int, x: int, slot: Tensor) -> None:
    """Write the network input of the tile at (y, x) of ``image`` (H, W, C) into ``slot`` (C, T, T).

    Full tiles are normalised straight into the slot (``to_input_into`` when the preprocessing has it: no
    temporaries, any memory layout); a tile cut short by an image smaller than the tile is padded by
    :func:`extract_tile`.
    """
    tile = slot.shape[-1]
    crop = image[y : y + tile, x : x + tile]  # (h, w, C) view
    into = getattr(prep, "to_input_into", None)
    if into is not None and crop.shape[:2] == (tile, tile):
        into(crop, slot)
    else:
        slot.copy_(extract_tile(prep.to_input(crop), 0, 0, tile))


def _describe(err: BaseException, path: Path) -> str:
    text = str(err) or type(err).__name__
    return text if str(path) in text else f"{path}: {text}"
