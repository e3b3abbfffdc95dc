"""Lightning prediction: tiles in, blended masks out, one process per device.

``predict_folder`` wires the pieces: a :class:`~segattn.predict.stream.TileStream` feeds batches of
tiles; :class:`TilePredictor` (a LightningModule) runs the network with test-time augmentation and
returns probabilities; :class:`MaskWriter` (a ``BasePredictionWriter``) blends each tile into its
image's :class:`~segattn.models.tiling.StripBlender`, hands finished strips to an
:class:`~segattn.predict.assemble.ImageAssembler`, writes the files once an image's last tile is in,
and appends one manifest row per image. With ``devices > 1`` Lightning starts one process per device
(strategy ``ddp``; gloo on CPU) and every process predicts and writes its own share of the images.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from segattn.data.thickness import PROBE_ROUNDS, probe_factor, scale_factor, settles
from segattn.files import remove_stale_temporaries
from segattn.labels import probabilities
from segattn.models.tiling import StripBlender, TileGrid, gaussian_weight, stride_for

from .assemble import ImageAssembler, OutputSpec
from .inputs import InputImage, OutputPaths
from .stream import ImageEvent, Preprocessing, TileStream, outputs_to_write
from .tta import predict_with_tta, transforms_for
from .writer import Manifest


class TilePredictor(pl.LightningModule):
    """Wraps a network that returns logits; ``predict_step`` returns TTA-averaged probabilities."""

    def __init__(self, net: nn.Module, *, channels: int, tta: str = "none") -> None:
        super().__init__()
        transforms_for(tta)  # validate early
        self.net, self.channels, self.tta = net, channels, tta

    def forward(self, x: Tensor) -> Tensor:  # (B, C, T, T) -> (B, channels, T, T) probabilities
        return probabilities(self.net(x))

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        x = batch["image"]  # (batch_size, C, T, T): n tiles, then zero slots (see TileStream)
        n = batch["tile_pos"].shape[0]
        if n == 0:  # a batch carrying only skipped / failed events
            return x.new_zeros((0, self.channels, *x.shape[-2:]))
        return predict_with_tta(self, x, self.tta)[:n]  # (n, channels, T, T)


@dataclass
class _Job:
    event: ImageEvent
    blender: StripBlender
    assembler: ImageAssembler
    started: float


class MaskWriter(BasePredictionWriter):
    """Blends tile probabilities per image and writes each image's outputs once its last tile is in."""

    def __init__(
        self,
        stream: TileStream,
        spec: OutputSpec,
        *,
        sigma: float,
        manifest_dir: Path,
        run: str,
        progress: bool = True,
    ) -> None:
        super().__init__(write_interval="batch")
        self.stream, self.spec, self.sigma = stream, spec, sigma
        self.manifest_dir, self.run, self.progress = manifest_dir, run, progress
        self.counts = {"ok": 0, "skipped": 0, "failed": 0}
        self.manifest: Manifest | None = None
        self.stale_removed = 0  # temporary files of killed earlier runs, removed at setup
        self._jobs: dict[int, _Job] = {}
        self._bar: tqdm | None = None

    @property
    def images(self) -> list[InputImage]:
        return self.stream.images

    @property
    def outputs(self) -> list[OutputPaths]:
        return self.stream.outputs

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.stream.shard(trainer.global_rank, trainer.world_size)
        path = None
        if trainer.is_global_zero:
            folders = [self.manifest_dir, *(p.parent for out in self.outputs for p in out.all)]
            self.stale_removed = len(remove_stale_temporaries(folders))
            manifest = Manifest.choose(self.manifest_dir, self.run)
            manifest.create()
            path = manifest.path
        # one run id and one manifest for all processes: rank 0's (the others started later)
        self.run, path = trainer.strategy.broadcast((self.run, path), src=0)
        self.manifest = Manifest(path)
        self.weight = gaussian_weight(self.stream.tile, self.sigma)
        self._t0 = time.perf_counter()
        if self.progress and trainer.is_global_zero:
            desc = "predict" if trainer.world_size == 1 else f"predict (rank 0 of {trainer.world_size})"
            self._bar = tqdm(total=len(self.stream.owned()), unit="img", desc=desc, dynamic_ncols=True)

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: Tensor,
        batch_indices: Any,
        batch: dict[str, Any],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        for event in batch["events"]:
            self._on_event(ImageEvent(*event))
        for probs, (index, y, x) in zip(prediction, batch["tile_pos"].tolist(), strict=True):
            job = self._jobs.get(index)
            if job is None:  # writing this image already failed
                continue
            try:
                for y0, strip in job.blender.add(probs, y, x):
                    job.assembler.add_strip(y0, strip)
                if job.blender.done:
                    job.assembler.finish()
                    self._record(index, "ok", job.event.seconds + time.perf_counter() - job.started)
                    del self._jobs[index]
            except FileExistsError as err:  # another run wrote this output after we started: complete, not ours
                job.assembler.abort()
                self._record(index, "skipped", error=f"written meanwhile by another run: {err}")
                del self._jobs[index]
            except Exception as err:  # noqa: BLE001 - e.g. disk full: this image fails, the others go on
                job.assembler.abort()
                self._record(index, "failed", error=str(err) or type(err).__name__)
                del self._jobs[index]

    def _on_event(self, event: ImageEvent) -> None:
        if event.status != "start":
            self._record(event.index, event.status, event.seconds, event.error)
            return
        grid = TileGrid(event.height, event.width, self.stream.tile, self.stream.stride)  # the stream's grid
        blender = StripBlender(grid, self.weight)
        assembler = ImageAssembler(
            self.images[event.index].path,
            event.height,
            event.width,
            self.outputs[event.index],
            event.todo,
            self.spec,
            out_size=(event.out_height, event.out_width) if event.scale != 1.0 else None,
        )
        self._jobs[event.index] = _Job(event, blender, assembler, time.perf_counter())

    def _record(self, index: int, status: str, seconds: float = 0.0, error: str = "") -> None:
        assert self.manifest is not None
        job = self._jobs.get(index)
        size = f"{job.event.out_width or job.event.width}x{job.event.out_height or job.event.height}" if job else ""
        self.manifest.append(
            {
                "run": self.run,
                "input": self.images[index].path,
                "output": self.outputs[index].mask,
                "size": size,
                "seconds": f"{seconds:.3f}",
                "status": status,
                "error": error,
                "scale": f"{job.event.scale:g}" if job is not None else "",
            }
        )
        self.counts[status] += 1
        if self._bar is not None:
            self._bar.update(1)  # the bar shows images/s itself (unit="img")

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Interrupted or crashed: drop unfinished images (their streamed temporary files too)."""
        for job in self._jobs.values():
            job.assembler.abort()
        self._jobs.clear()
        if self._bar is not None:
            self._bar.close()

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for index in list(self._jobs):  # the stream ended before an image's last tile: never expected
            self._jobs[index].assembler.abort()
            self._record(index, "failed", error="internal error: not all tiles were predicted")
            del self._jobs[index]
        if self._bar is not None:
            self._bar.close()
        local = torch.tensor([self.counts[k] for k in ("ok", "skipped", "failed")], device=pl_module.device)
        total = trainer.strategy.reduce(local, reduce_op="sum")  # (3,) summed over processes
        self.counts = dict(zip(("ok", "skipped", "failed"), (int(v) for v in total.tolist()), strict=True))
        self.seconds = time.perf_counter() - self._t0


def new_run_id() -> str:
    """Start time plus a random suffix, so two runs in the same second are still told apart."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


@dataclass
class PredictResult:
    ok: int
    skipped: int
    failed: int
    seconds: float
    manifest: Path
    is_global_zero: bool = True  # False in the other processes of a multi-device run
    rank: int = 0  # this process, of ``world``: it handled the images with ``index % world == rank``
    world: int = 1
    stale_removed: int = 0  # temporary files of killed earlier runs that were removed
    run: str = ""
    images: list[InputImage] = field(default_factory=list)
    outputs: list[OutputPaths] = field(default_factory=list)


def predict_folder(
    net: nn.Module,
    images: list[InputImage],
    outputs: list[OutputPaths],
    spec: OutputSpec,
    prep: Preprocessing,
    *,
    output_dir: Path,
    tile: int,
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
) -> PredictResult:
    """Predict ``images`` with ``net`` (logits out) and write ``outputs``; see the module docstring."""
    run = run or new_run_id()
    options = dict(tile=tile, overlap=overlap, sigma=sigma, batch_size=batch_size, tta=tta, devices=devices)
    options.update(accelerator=accelerator, precision=precision, num_workers=num_workers)
    if getattr(prep, "scale", None) == "auto" and getattr(prep, "factors", None) is None:
        prep = measure_scales(net, images, outputs, spec, prep, output_dir=output_dir, run=run, **options)
    stream = TileStream(
        images,
        outputs,
        prep,
        tile=tile,
        stride=stride_for(tile, overlap),
        batch_size=batch_size,
        overwrite=spec.overwrite,
        channels_last=bool(getattr(net, "channels_last", False)),
    )
    writer = MaskWriter(stream, spec, sigma=sigma, manifest_dir=output_dir, run=run, progress=progress)
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        precision=precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,  # the stream shards images itself
        callbacks=[writer],
    )
    loader = DataLoader(stream, batch_size=None, num_workers=num_workers, persistent_workers=False)
    model = TilePredictor(net, channels=spec.channels, tta=tta)
    with warnings.catch_warnings():
        # the writer does not use sampler batch indices, which an IterableDataset cannot have
        warnings.filterwarnings("ignore", message=".*infer the batch indices.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*is deprecated.*")  # inside Lightning
        trainer.predict(model, dataloaders=loader, return_predictions=False)
    assert writer.manifest is not None
    return PredictResult(
        **writer.counts,
        seconds=writer.seconds,
        manifest=writer.manifest.path,
        is_global_zero=trainer.is_global_zero,
        rank=trainer.global_rank,
        world=trainer.world_size,
        stale_removed=writer.stale_removed,
        run=writer.run,
        images=images,
        outputs=outputs,
    )


def measure_scales(
    net: nn.Module,
    images: list[InputImage],
    outputs: list[OutputPaths],
    spec: OutputSpec,
    prep: Preprocessing,
    *,
    output_dir: Path,
    run: str,
    **options: Any,
) -> Preprocessing:
    """``--scale auto``, first pass: ``prep`` with each image's factor (:mod:`segattn.data.thickness`).

    The images still to do are predicted at their probe size, measured, and predicted again at the measured factor
    (``PROBE_ROUNDS`` rounds: a model shown walls far thicker than it learned finds them too thin, so one round
    falls short). Probe masks go to a hidden ``.probe-<run>`` folder under ``output_dir`` and each is removed once
    measured; every process measures the images it predicted itself, which are the ones it predicts in the next
    pass (the same sharding), so processes need not exchange anything.
    """
    probe_dir = output_dir / f".probe-{run}"
    probe_outputs = [  # images already done keep their own outputs, which exist, so the probe skips them too
        OutputPaths(probe_dir / f"{i}.png", (), None) if outputs_to_write(out, spec.overwrite) else out
        for i, out in enumerate(outputs)
    ]
    probe_spec = dataclasses.replace(spec, probs=None, overlay=False, overwrite=False)
    factors: dict[str, float] = {}  # none known: the first round predicts every image at its probe factor
    settled: set[int] = set()  # probed at (almost) the factor measured: their masks stay, so later rounds skip them
    for _ in range(PROBE_ROUNDS):
        result = predict_folder(
            net,
            images,
            probe_outputs,
            probe_spec,
            dataclasses.replace(prep, factors=dict(factors)),
            output_dir=probe_dir,
            progress=False,
            run=run,
            **options,
        )
        for i in range(result.rank, len(images), result.world):
            mask_path = probe_outputs[i].mask
            if i in settled or mask_path.parent != probe_dir or not mask_path.is_file():
                continue  # settled, done before this run, or unreadable (the last pass reports it)
            mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED) > 0
            key = str(images[i].path)
            probed = factors.get(key, probe_factor(*mask.shape))
            factors[key] = scale_factor(prep.structure_px, mask, probed)
            if settles(probed, factors[key]):
                settled.add(i)
            else:
                mask_path.unlink()
        if result.manifest.parent == probe_dir:
            result.manifest.unlink(missing_ok=True)
    for i in settled:
        probe_outputs[i].mask.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # another process may still be measuring its own; the last one removes it
        probe_dir.rmdir()
    return dataclasses.replace(prep, factors=factors)
