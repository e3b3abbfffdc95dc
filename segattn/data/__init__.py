"""Data tier: reading files, augmentation, synthetic floor plans, folder datasets and the DataModule.

- ``io``: ``read_image`` / ``read_mask`` for any PNG / JPEG / TIFF / BMP (gray, RGB, RGBA, 8/16-bit).
- ``transforms``: albumentations pipelines from YAML (the package's only albumentations import).
- ``preprocess``: normalise / pad / to-tensor, ``eval_preprocess_from_hparams``, ``pad_collate``.
- ``floorplans``: synthetic scanned floor plans with exact wall masks (a subpackage); ``write_floorplans`` to disk.
- ``folder``: pairing, validation and splits of ``root/images`` + ``root/masks``.
- ``datamodule``: ``SegData``, the shared base of the data sources;
- ``sources``: ``FolderData`` (a folder of pairs) and ``FloorplanData`` (synthetic plans), chosen by ``class_path``.
"""

from segattn.data.datamodule import SegData
from segattn.data.floorplans import generate_floorplan, write_floorplans
from segattn.data.folder import DatasetError
from segattn.data.io import BadFileError, read_image, read_mask
from segattn.data.preprocess import EvalPreprocess, eval_preprocess_from_hparams, pad_collate
from segattn.data.sources import FloorplanData, FolderData
from segattn.labels import IGNORE_INDEX

__all__ = [
    "IGNORE_INDEX",
    "BadFileError",
    "DatasetError",
    "EvalPreprocess",
    "FloorplanData",
    "FolderData",
    "SegData",
    "eval_preprocess_from_hparams",
    "generate_floorplan",
    "pad_collate",
    "read_image",
    "read_mask",
    "write_floorplans",
]
