"""Turn one image's finished probability strips into its output files.

Per image only the final products are held at full size: the class mask (uint8, or uint16 past
256 classes) and, when probabilities are saved as PNG, their quantised planes. ``.npy``
probabilities stream to disk strip by strip. Binary models (one sigmoid channel) give a 0/255
mask thresholded at the checkpoint's threshold; multi-class models the argmax class index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from segattn.data.io import read_image
from segattn.files import write_bytes
from segattn.labels import output_channels

from .inputs import OutputPaths
from .writer import NpyStripWriter

ProbsFormat = str  # "png8" | "png16" | "npy"
PROBS_FORMATS = ("png8", "png16", "npy")

# Overlay colours (RGB) for classes 1..; class 0 (background) is left as is.
_PALETTE = np.array(
    [[230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230]],
    dtype=np.float32,
)
_OVERLAY_ALPHA = 0.5


@dataclass(frozen=True)
class OutputSpec:
    num_classes: int  # including background: 2 = binary (one sigmoid channel)
    threshold: float = 0.5  # binary only: foreground where probability > threshold
    probs: ProbsFormat | None = None
    overlay: bool = False
    overwrite: bool = False

    @property
    def channels(self) -> int:
        return output_channels(self.num_classes)


class ImageAssembler:
    """Collects the strips of one (H, W) image and writes the outputs listed in ``todo``.

    ``out_size``: the input's own (H, W) when it was resized before tiling (``--scale``); the blended probabilities
    are then kept whole at the tiled size and resized back before they become the mask and the outputs.
    """

    def __init__(
        self,
        source: Path,
        height: int,
        width: int,
        paths: OutputPaths,
        todo: frozenset[Path],
        spec: OutputSpec,
        out_size: tuple[int, int] | None = None,
    ) -> None:
        self.tiled = None
        if out_size is not None and tuple(out_size) != (height, width):
            self.tiled = np.zeros((spec.channels, height, width), np.float32)  # (C, h, w) at the tiled size
            self.tiled_rows, (height, width) = 0, out_size
        self.source, self.height, self.width = source, height, width
        self.paths, self.todo, self.spec = paths, todo, spec
        self.mask = np.zeros((height, width), np.uint8 if spec.num_classes <= 256 else np.uint16)
        want_png = spec.probs in ("png8", "png16") and any(p in todo for p in paths.probs)
        dtype = np.uint8 if spec.probs == "png8" else np.uint16
        self.probs = np.zeros((spec.channels, height, width), dtype) if want_png else None
        self._npy: NpyStripWriter | None = None
        if spec.probs == "npy" and paths.probs[0] in todo:
            shape = (height, width) if spec.channels == 1 else (height, width, spec.channels)
            self._npy = NpyStripWriter(paths.probs[0], shape, overwrite=spec.overwrite).__enter__()
        self._rows = 0

    def add_strip(self, y0: int, probs: Tensor) -> None:
        """Store rows ``y0 .. y0 + rows`` from (C, rows, W) blended probabilities."""
        if self.tiled is not None:  # resized input: keep the strip; the outputs come from the resized-back map
            self.tiled[:, y0 : y0 + probs.shape[1]] = probs.float().cpu().numpy()
            self.tiled_rows += probs.shape[1]
            if self.tiled_rows == self.tiled.shape[1]:
                self._store(0, torch.from_numpy(resize_planes(self.tiled, self.height, self.width)))
                self.tiled = None
            return
        self._store(y0, probs)

    def _store(self, y0: int, probs: Tensor) -> None:
        rows = probs.shape[1]
        if self.spec.channels == 1:
            mask = (probs[0] > self.spec.threshold).to(torch.uint8) * 255  # (rows, W)
        else:
            mask = probs.argmax(0)  # (rows, W)
        self.mask[y0 : y0 + rows] = mask.cpu().numpy()
        if self.probs is not None:
            scale = 255 if self.spec.probs == "png8" else 65535
            q = (probs.clamp(0, 1) * scale).round_()  # (C, rows, W)
            self.probs[:, y0 : y0 + rows] = q.cpu().numpy().astype(self.probs.dtype)
        if self._npy is not None:
            strip = probs.permute(1, 2, 0).cpu().numpy()  # (rows, W, C)
            self._npy.write_rows(strip[..., 0] if self.spec.channels == 1 else strip)
        self._rows += rows

    def abort(self) -> None:
        if self._npy is not None:
            self._npy.__exit__(RuntimeError, RuntimeError("aborted"), None)  # removes the temporary file
            self._npy = None

    def finish(self) -> None:
        """Write the outputs; the mask goes last, so a mask on disk means its image is complete."""
        assert self._rows == self.height, f"{self.source}: {self._rows} of {self.height} rows blended"
        if self._npy is not None:
            self._npy.__exit__(None, None, None)
            self._npy = None
        if self.probs is not None:
            for path, plane in zip(self.paths.probs, self.probs, strict=True):
                if path in self.todo:
                    write_bytes(path, _encode(path, plane), overwrite=self.spec.overwrite)
        if self.paths.overlay is not None and self.paths.overlay in self.todo:
            write_bytes(self.paths.overlay, _encode(self.paths.overlay, self._overlay()), overwrite=self.spec.overwrite)
        if self.paths.mask in self.todo:
            write_bytes(self.paths.mask, _encode(self.paths.mask, self.mask), overwrite=self.spec.overwrite)

    def _overlay(self) -> np.ndarray:
        rgb = read_image(self.source, 3) * 255.0  # (H, W, 3) RGB
        classes = (self.mask > 0).astype(np.intp) if self.spec.channels == 1 else self.mask.astype(np.intp)
        fg = classes > 0
        colours = _PALETTE[(classes[fg] - 1) % len(_PALETTE)]  # (N, 3)
        rgb[fg] = (1 - _OVERLAY_ALPHA) * rgb[fg] + _OVERLAY_ALPHA * colours
        return np.ascontiguousarray(rgb[:, :, ::-1].round().astype(np.uint8))  # BGR for OpenCV


def _encode(path: Path, array: np.ndarray) -> bytes:
    ext = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, buf = cv2.imencode(ext, array, params)
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode a {array.dtype} {array.shape} array as {ext}")
    return buf.tobytes()


def resize_planes(planes: np.ndarray, height: int, width: int) -> np.ndarray:
    """(C, h, w) float32 -> (C, height, width), bilinear (probabilities stay in [0, 1] and sum to 1)."""
    return np.stack([cv2.resize(p, (width, height), interpolation=cv2.INTER_LINEAR) for p in planes])
