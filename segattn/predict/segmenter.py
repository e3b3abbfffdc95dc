"""``Segmenter``: a trained network with its preprocessing — predict an array, an image file or a whole folder.

    from segattn.predict import Segmenter

    seg = Segmenter.from_checkpoint("runs/walls/best.ckpt")
    mask = seg.predict(image)                        # (H, W) uint8 class indices, any H and W
    probs = seg.probabilities("plan.png", tta="flip")  # (classes, H, W) float32: 1 channel for binary models
    seg.predict_folder("scans/", "out/", probs="png8", overlay=True)   # what `segattn predict` runs

Everything about the input comes from the checkpoint: channels, normalisation, eval transforms, classes, the
tile size (the training crop). In memory and over folders the same path is taken: a :class:`TileGrid` of
Gaussian-weighted tiles, each tile filled by :func:`~segattn.predict.stream.fill_tile`, predicted with
test-time augmentation, blended by a :class:`~segattn.models.tiling.StripBlender`. ``predict`` runs on the
device the network is on (``seg.to("cuda")``); ``predict_folder`` leaves devices to Lightning.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from segattn.data.thickness import PROBE_ROUNDS, scale_factor, settles
from segattn.labels import probabilities
from segattn.models.tiling import StripBlender, TileGrid, gaussian_weight, stride_for
from segattn.pretrained import resolve as resolve_pretrained

from .assemble import OutputSpec, resize_planes
from .checkpoint import PredictConfig, load_checkpoint
from .engine import PredictResult, new_run_id, predict_folder
from .inputs import collect_inputs, output_paths
from .stream import fill_tile, resize
from .tta import predict_with_tta


class Segmenter:
    """A network that returns logits, with the :class:`PredictConfig` it was trained with."""

    def __init__(self, net: nn.Module, config: PredictConfig) -> None:
        self.net, self.config = net.eval(), config

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, trust: bool = False) -> Segmenter:
        """Load a checkpoint written by ``segattn fit`` (read once, ``weights_only=True`` unless ``trust``), or a
        packaged model by name (``"walls"``)."""
        net, config = load_checkpoint(resolve_pretrained(path), trust=trust)
        return cls(net, config)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def device(self) -> torch.device:
        """Where the network's tensors live; a network without any (an ONNX Runtime session) takes its input
        where tensors are made by default."""
        tensor = next(itertools.chain(self.net.parameters(), self.net.buffers()), None)
        return tensor.device if tensor is not None else torch.get_default_device()

    def to(self, device: str | torch.device) -> Segmenter:
        self.net.to(device)
        return self

    @torch.no_grad()
    def probabilities(
        self,
        image: np.ndarray | str | Path,
        *,
        tile: int | None = None,
        overlap: float = 0.25,
        sigma: float = 0.125,
        batch_size: int = 4,
        tta: str = "none",
        scale: float | str | None = None,
    ) -> Tensor:
        """Blended class probabilities (C, H, W) float32 on the CPU; C = 1 (foreground) for binary models.

        ``image``: a path, or an array (H, W) / (H, W, C) in RGB order, uint8 / uint16 or float in [0, 1].
        ``scale``: resize by this before tiling (default the config's; ``"auto"``: a probe prediction first, then
        the factor that gives what it found the training thickness, ``segattn.data.thickness``);
        the probabilities come back at the image's own size.
        """
        prep = self.config if scale is None else dataclasses.replace(self.config, scale=scale)
        array = prep.read(Path(image)) if isinstance(image, (str, Path)) else prep.prepare(np.asarray(image))
        options = dict(tile=tile or prep.tile, overlap=overlap, sigma=sigma, batch_size=batch_size, tta=tta)
        factor = prep.scale_for(array)  # with "auto": the probe's factor
        for _ in range(PROBE_ROUNDS if prep.scale == "auto" and prep.factors is None else 0):
            probe = self._blend(prep, array, factor, **options)  # measure what it finds (segattn.data.thickness)
            found = probe[0] > self.config.threshold if probe.shape[0] == 1 else probe.argmax(0) > 0
            factor, probed = scale_factor(prep.structure_px, found.numpy(), factor), factor
            if settles(probed, factor):
                break
        return self._blend(prep, array, factor, **options)

    def _blend(
        self, prep: PredictConfig, array: np.ndarray, factor: float, *, tile, overlap, sigma, batch_size, tta
    ) -> Tensor:
        """Probabilities (C, H, W) of ``array`` (H, W, C) resized by ``factor`` for tiling, then back."""
        height, width = array.shape[:2]
        array = resize(array, factor)
        grid = TileGrid(array.shape[0], array.shape[1], tile, stride_for(tile, overlap))
        blender = StripBlender(grid, gaussian_weight(tile, sigma))
        memory = torch.channels_last if getattr(self.net, "channels_last", False) else torch.contiguous_format
        strips = []
        for chunk in _chunks(grid.positions, batch_size):
            # a full batch every time, as the folder stream does: results never depend on the batch size
            batch = torch.empty((batch_size, prep.in_channels, tile, tile), memory_format=memory).zero_()
            for slot, (y, x) in zip(batch, chunk, strict=False):
                fill_tile(prep, array, y, x, slot)
            probs = predict_with_tta(lambda t: probabilities(self.net(t)), batch.to(self.device), tta)[: len(chunk)]
            for p, (y, x) in zip(probs, chunk, strict=True):
                strips.extend(s.cpu() for _, s in blender.add(p, y, x))
        probs = torch.cat(strips, dim=1)  # (C, h, w) at the tiled size
        if probs.shape[1:] != (height, width):
            probs = torch.from_numpy(resize_planes(probs.numpy(), height, width))  # (C, H, W)
        return probs

    def predict(self, image: np.ndarray | str | Path, *, threshold: float | None = None, **kwargs) -> np.ndarray:
        """Class indices (H, W) uint8: binary models ``probability > threshold`` (default the checkpoint's),
        others the most probable class. Keyword arguments as :meth:`probabilities`."""
        probs = self.probabilities(image, **kwargs)
        if probs.shape[0] == 1:
            return (probs[0] > (self.config.threshold if threshold is None else threshold)).numpy().astype(np.uint8)
        return probs.argmax(0).numpy().astype(np.uint8 if self.num_classes <= 256 else np.uint16)

    def predict_folder(
        self,
        input: str | Path,
        output: str | Path,
        *,
        probs: str | None = None,
        overlay: bool = False,
        overwrite: bool = False,
        threshold: float | None = None,
        tile: int | None = None,
        overlap: float = 0.25,
        sigma: float = 0.125,
        batch_size: int = 4,
        tta: str = "none",
        devices: int = 1,
        accelerator: str = "auto",
        precision: str = "32-true",
        num_workers: int = 0,
        progress: bool = True,
        run: str | None = None,
        scale: float | str | None = None,
    ) -> PredictResult:
        """Predict every image of a folder, glob or list file into ``output`` (``masks/``, ``probs/``,
        ``overlays/``, ``manifest.csv``): resumable, atomic, never writing outside ``output``."""
        output = Path(output)
        images = collect_inputs(str(input), exclude=output)
        spec = OutputSpec(
            num_classes=self.num_classes,
            threshold=self.config.threshold if threshold is None else threshold,
            probs=probs,
            overlay=overlay,
            overwrite=overwrite,
        )
        outputs = output_paths(images, output, probs=probs, num_prob_channels=spec.channels, overlay=overlay)
        return predict_folder(
            self.net,
            images,
            outputs,
            spec,
            self.config if scale is None else dataclasses.replace(self.config, scale=scale),
            output_dir=output,
            tile=tile or self.config.tile,
            overlap=overlap,
            sigma=sigma,
            batch_size=batch_size,
            tta=tta,
            devices=devices,
            accelerator=accelerator,
            precision=precision,
            num_workers=num_workers,
            progress=progress,
            run=run or new_run_id(),
        )


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
