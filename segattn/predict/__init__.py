"""Prediction: checkpoint + images of any size -> masks, seam-free and crash-safe; depends on models and data only.

The Python API is :class:`Segmenter` (``Segmenter.from_checkpoint(path).predict(array)`` / ``.predict_folder``).
The tile grid and Gaussian blending in row strips live in :mod:`segattn.models.tiling` (validation and test
use them too). Parts, each importing only the ones before it: ``tta``, ``inputs`` (folders, globs, list files ->
output paths), ``writer`` (streamed .npy, manifest) -> ``assemble`` (strips -> files), ``stream`` (images ->
batches of tiles) -> ``engine`` (Lightning, one process per device) -> ``checkpoint`` (one safe read, the bare
network) -> ``segmenter``.
"""

from segattn.models.tiling import StripBlender, TileGrid, gaussian_weight, tile_starts

from .checkpoint import CheckpointError, PredictConfig, load_checkpoint, read_checkpoint
from .engine import PredictResult
from .inputs import MASKS, OVERLAYS, PROBS
from .segmenter import Segmenter
from .tta import TTA_MODES, predict_with_tta

__all__ = [
    "MASKS",
    "OVERLAYS",
    "PROBS",
    "TTA_MODES",
    "CheckpointError",
    "PredictConfig",
    "PredictResult",
    "Segmenter",
    "StripBlender",
    "TileGrid",
    "gaussian_weight",
    "load_checkpoint",
    "predict_with_tta",
    "read_checkpoint",
    "tile_starts",
]
