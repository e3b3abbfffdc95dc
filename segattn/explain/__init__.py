"""See the attention: maps of what each decoder attention computes, for any image.

Parts: ``capture`` (forward hooks on every attention module, installed only inside ``with Capture(net)``).
"""

from .capture import Capture, Site, SiteMaps, find_sites

__all__ = ["Capture", "Site", "SiteMaps", "find_sites"]
