"""segattn: UNet segmentation with attention in the decoder blocks.

Tiers, each importing only the ones above it in this list:
attention → models → module (LightningModule) → data / cli / predict / reports.
"""

__version__ = "0.1.0"
