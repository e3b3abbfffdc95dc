"""Built-in synthetic scanned floor plans with exact wall masks, generated from a seed (no files, no download).

``layout`` (rooms, walls, openings; whole or real-scale pages) -> ``styles`` (how walls are inked) + ``draw``
(primitives, doors, windows) + ``text`` (labels, dimensions, sheet) + ``decor`` (furniture, stairs, marks) ->
``generate`` (paper, ink, scan effects; ``generate_floorplan``, ``write_floorplans``) -> ``dataset`` (fresh train
plans every epoch, fixed val / test plans).
"""

from .dataset import EpochSampler, FloorplanDataset
from .generate import draw_plan, generate_floorplan, write_floorplans

__all__ = ["EpochSampler", "FloorplanDataset", "draw_plan", "generate_floorplan", "write_floorplans"]
