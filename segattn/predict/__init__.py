"""Batch prediction: checkpoint + folder of images of any size -> masks, seam-free and crash-safe.

Tiers inside this package (each imports only the ones before it):
tiling, tta, inputs, writer (pure) -> assemble, stream -> engine (Lightning) -> checkpoint -> cli.
"""

from .tiling import StripBlender, gaussian_weight, sliding_window, tile_starts
from .tta import TTA_MODES, predict_with_tta

__all__ = ["TTA_MODES", "StripBlender", "gaussian_weight", "predict_with_tta", "sliding_window", "tile_starts"]
