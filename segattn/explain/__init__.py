"""See the attention: maps of what each decoder attention computes, for any image.

    segattn explain --ckpt_path best.ckpt --input plans/ --out explain/      # maps/*.npy, figures/*.png, explain.html

    from segattn.explain import explain
    ex = explain(Segmenter.from_checkpoint("best.ckpt"), "plan.png")

Parts, each importing only the ones before it: ``capture`` (forward hooks on every attention module, installed
only inside ``with Capture(net)``), ``points`` (query points from the prediction or the user), ``tiles`` (the
image through prediction's tiling, maps blended like probabilities), ``explainer`` (:func:`explain`, the
:class:`Explanation`), ``gallery`` (``.npy`` maps, PNG overlays and the self-contained ``explain.html``).
"""

from .capture import Capture, Site, SiteMaps, find_sites
from .explainer import AttentionMaps, Explanation, NoAttentionError, Prepared, check_attention, explain, explain_array
from .points import Point, choose_points, parse_points

__all__ = [
    "AttentionMaps",
    "Capture",
    "Explanation",
    "NoAttentionError",
    "Point",
    "Prepared",
    "Site",
    "SiteMaps",
    "check_attention",
    "choose_points",
    "explain",
    "explain_array",
    "find_sites",
    "parse_points",
]
