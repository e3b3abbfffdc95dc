"""Best and worst images of a report, drawn as small RGB panels: image, reference, prediction, errors.

Images are scored one at a time (a folder may not fit in memory), so ``ExampleKeeper`` keeps only the ``n`` best
and ``n`` worst seen so far and draws an image's panels only when it enters one of the two lists.

Error colours (foreground = any class > 0): correct foreground green, false positive red (foreground predicted on
background), false negative blue (foreground predicted as background), wrong foreground class magenta, ignored
reference pixels grey. Panels are shrunk with area averaging so one-pixel walls stay visible as faint lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from segattn.labels import IGNORE_INDEX

ERROR_COLOURS: dict[str, tuple[int, int, int]] = {
    "correct foreground": (0, 170, 0),
    "false positive": (230, 0, 0),
    "false negative": (0, 90, 255),
    "wrong class": (200, 0, 200),
    "ignored": (150, 150, 150),
}
# Class colours for reference / prediction panels; class 0 (background) is drawn as the page or the image.
CLASS_COLOURS = np.array(
    [
        (255, 255, 255),
        (220, 40, 40),
        (40, 110, 230),
        (30, 160, 60),
        (240, 170, 0),
        (150, 60, 200),
        (0, 170, 170),
        (120, 80, 40),
        (230, 90, 160),
        (100, 100, 100),
    ],
    np.uint8,
)
PANEL_ORDER = ("image", "reference", "prediction", "errors")


def _class_rgb(labels: np.ndarray) -> np.ndarray:
    colours = CLASS_COLOURS[np.minimum(labels, len(CLASS_COLOURS) - 1)]  # (H, W, 3)
    colours[labels == IGNORE_INDEX] = ERROR_COLOURS["ignored"]
    return colours


def class_colours(num_classes: int) -> np.ndarray:
    """``(num_classes, 3)`` RGB uint8: the colour the reference and prediction panels give each class (for legends)."""
    return _class_rgb(np.arange(num_classes))


def _blend(base: np.ndarray | None, colours: np.ndarray, where: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    if base is None:
        base = np.full_like(colours, 255)
    out = base.astype(np.float32)
    out[where] = (1 - alpha) * out[where] + alpha * colours[where].astype(np.float32)
    return out.round().astype(np.uint8)


def _shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # cv2 wants (W, H)
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def error_map(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``(H, W)`` codes: 0 correct background, 1 correct foreground, 2 FP, 3 FN, 4 wrong class, 5 ignored."""
    codes = np.zeros(target.shape, np.uint8)
    ignored = target == IGNORE_INDEX
    codes[(pred == target) & (target > 0)] = 1
    codes[(pred > 0) & (target == 0)] = 2
    codes[(pred == 0) & (target > 0) & ~ignored] = 3
    codes[(pred > 0) & (target > 0) & (pred != target) & ~ignored] = 4
    codes[ignored] = 5
    return codes


def make_panels(
    pred: np.ndarray, target: np.ndarray, image: np.ndarray | None = None, *, max_side: int = 384
) -> dict[str, np.ndarray]:
    """RGB uint8 panels of one image; ``image`` is ``(H, W, 3)`` float in [0, 1] or uint8, or None."""
    base = None
    if image is not None:
        base = image if image.dtype == np.uint8 else (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
        if base.shape[:2] != target.shape:
            raise ValueError(f"image {base.shape[:2]} and mask {target.shape} differ in size")
    codes = error_map(pred, target)
    palette = np.array([(255, 255, 255), *ERROR_COLOURS.values()], np.uint8)  # index = code
    panels = {
        "reference": _blend(base, _class_rgb(target), target > 0),
        "prediction": _blend(base, _class_rgb(pred), pred > 0),
        "errors": _blend(base, palette[codes], codes > 0, alpha=0.75),
    }
    if base is not None:
        panels = {"image": base, **panels}
    return {k: _shrink(v, max_side) for k, v in panels.items()}


def display_image(image: np.ndarray) -> np.ndarray:
    """A normalised ``(C, H, W)`` network input as ``(H, W, 3)`` float in [0, 1] for display (min-max stretched)."""
    x = np.asarray(image, np.float32)
    x = x[:3] if x.shape[0] >= 3 else np.repeat(x[:1], 3, axis=0)  # (3, H, W): drop alpha / repeat gray
    lo, hi = float(x.min()), float(x.max())
    return np.transpose((x - lo) / (hi - lo) if hi > lo else np.zeros_like(x), (1, 2, 0))  # (H, W, 3)


@dataclass(order=True)
class Example:
    score: float
    name: str
    panels: dict[str, np.ndarray] = field(compare=False, repr=False)


@dataclass
class ExampleKeeper:
    """Keeps the ``n`` highest- and ``n`` lowest-scoring images (ties broken by name) with their panels."""

    n: int = 3
    best: list[Example] = field(default_factory=list)
    worst: list[Example] = field(default_factory=list)

    def offer(self, name: str, score: float, make_panels: Callable[[], dict[str, np.ndarray]]) -> None:
        """Consider one image; ``make_panels`` is called only if it enters a list. NaN scores are skipped."""
        if self.n <= 0 or math.isnan(score):
            return
        enters_best = len(self.best) < self.n or (score, name) > (self.best[-1].score, self.best[-1].name)
        enters_worst = len(self.worst) < self.n or (score, name) < (self.worst[-1].score, self.worst[-1].name)
        if enters_best or enters_worst:
            self._add(Example(float(score), name, make_panels()))

    def _add(self, ex: Example) -> None:
        self.best = sorted([*self.best, ex], reverse=True)[: self.n]
        self.worst = sorted([*self.worst, ex])[: self.n]

    def merge(self, other: ExampleKeeper) -> None:
        """Fold in another keeper's examples (e.g. from another process)."""
        for ex in {e.name: e for e in [*other.best, *other.worst]}.values():
            if ex.name not in {e.name for e in [*self.best, *self.worst]}:
                self._add(ex)
