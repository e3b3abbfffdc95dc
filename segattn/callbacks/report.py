"""``ReportCallback``: ``segattn test`` writes the same report as ``segattn evaluate``, plus ``run.json``.

During ``test`` every image's prediction (at its original size, from ``test_step``) is scored against the batch's
mask cropped to the same size (eval batches are padded at the bottom and right) with the very function
``evaluate`` uses (``rows.score_pair``), and written to ``<report_dir>/predictions/<name>.png`` as a class-index
PNG, so ``segattn evaluate --pred <report_dir>/predictions --gt <masks>`` reproduces every number.

``run.json`` holds what can be measured about the run, and ``"n/a"`` with a reason for anything that cannot:

- ``params``: parameters of the LightningModule;
- ``flops``: :func:`segattn.models.flops.count_flops` over one forward pass of the first test image at its
  padded size (a multiply-add counts 2);
- ``train_step_ms``: mean wall time of a training batch measured during ``fit`` by
  :class:`~segattn.callbacks.StepTimer` and carried to ``test`` in the checkpoint (this run's own figure, under
  whatever load the machine had: ``segattn compare`` marks it so);
- ``inference_ms_per_image``: wall time of the model's forward passes over the test set (after the first batch)
  divided by the number of images; post-processing and metric updates are not included.

When the network has attention in its decoder, the report also holds ``attention/explain.html`` and its
``explain.json``: what every attention computed for the best and worst images (:mod:`segattn.explain`), from one
forward pass of each whole image, linked from ``report.html`` and listed in ``summary.json`` like the other files.
Only the page is written (panels embedded, no ``.npy`` maps or full-size figures: ``segattn explain`` writes
those), so it costs about the time of the examples' panels.

Under DDP each process scores its own images; rows are gathered, de-duplicated by dataset index and written by
global rank 0.
"""

from __future__ import annotations

import json
import time
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import lightning as L
import numpy as np
import torch

from segattn.explain import Prepared, explain_array, find_sites
from segattn.explain.gallery import Gallery
from segattn.files import write_bytes
from segattn.labels import IGNORE_INDEX
from segattn.models.flops import count_flops
from segattn.reports.evaluate import image_key
from segattn.reports.examples import ExampleKeeper, display_image, make_panels
from segattn.reports.writer import RUN_INFO, prepare_out_dir, refuse_existing, write_report
from segattn.scoring.counts import EMPTY_RULES, EmptyRule
from segattn.scoring.table import ScoreTable, foreground_dice, score_pair

from .timing import StepTimer, synchronize

RUN_FORMAT = "segattn-run/1"
ATTENTION_DIR = "attention"  # the attention maps of the best and worst images, inside the report folder


def prediction_path(name: str) -> PurePosixPath:
    """Relative path of a prediction file: the image name without extension, ``.png``; no escaping the folder."""
    parts = [p for p in PurePosixPath(str(name).replace("\\", "/")).with_suffix(".png").parts if p not in ("", "/")]
    if not parts or ".." in parts:
        raise ValueError(f"image name {name!r} cannot be used as a file name inside the report folder")
    return PurePosixPath(*parts)


def report_name(name: str) -> str:
    """The report's name of a dataset image: as ``evaluate`` names files, relative to the image folder, no extension.

    Folder datasets name samples relative to their root (``images/sub/001.png``); ``evaluate --gt root/masks``
    names them relative to the mask folder (``sub/001``), so a leading ``images/`` is dropped.
    """
    key = image_key(name)
    head, _, rest = key.partition("/")
    return rest if head == "images" and rest else key


class ReportCallback(L.Callback):
    """Writes the evaluation report of ``trainer.test`` and measures run costs; see the module docstring.

    Args:
        report_dir: report folder; default ``<trainer.log_dir or default_root_dir>/report``.
        overwrite: replace a report already in ``report_dir`` (otherwise refused before testing starts).
        tolerance: boundary F1 tolerance in pixels.
        empty: empty-mask rule; default the LightningModule's ``empty`` attribute, else ``"exclude"``.
        class_names: one per class; default the datamodule's ``class_names`` if it has them, else
            ``["background", "foreground"]`` for binary tasks and ``"0".."K-1"`` otherwise (as ``evaluate``).
        examples: best and worst images drawn in the report.
        save_predictions: write the predicted masks under ``<report_dir>/predictions``.
        attention_maps: for a network with attention, also draw what it computed for the best and worst images
            (``<report_dir>/attention/explain.html``).
    """

    def __init__(
        self,
        report_dir: str | None = None,
        *,
        overwrite: bool = False,
        tolerance: float = 2.0,
        empty: EmptyRule | None = None,
        class_names: list[str] | None = None,
        examples: int = 3,
        save_predictions: bool = True,
        attention_maps: bool = True,
    ) -> None:
        super().__init__()
        if empty is not None and empty not in EMPTY_RULES:
            raise ValueError(f"unknown empty-mask rule {empty!r}; choose from {list(EMPTY_RULES)}")
        self.report_dir, self.overwrite, self.tolerance = report_dir, overwrite, tolerance
        self.empty, self.class_names, self.examples = empty, class_names, examples
        self.save_predictions, self.attention_maps = save_predictions, attention_maps
        self.out: Path | None = None  # the report folder, once testing started

    # ---- test: scoring ------------------------------------------------------------------------------------------
    def _out_dir(self, trainer: L.Trainer) -> Path:
        if self.report_dir is not None:
            return Path(self.report_dir)
        return Path(trainer.log_dir or trainer.default_root_dir) / "report"

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.out = self._out_dir(trainer).resolve()
        # refuse an existing report before spending time on the test set; every process checks, so none is left
        # waiting at the barrier when rank 0 refuses
        refuse_existing(self.out, overwrite=self.overwrite)
        if trainer.is_global_zero:
            prepare_out_dir(self.out, reads={}, overwrite=self.overwrite)
        trainer.strategy.barrier()
        num_classes = getattr(pl_module, "num_classes", None) or getattr(trainer.datamodule, "num_classes", None)
        if not num_classes:
            raise ValueError("ReportCallback needs num_classes on the LightningModule or the DataModule")
        self.num_classes = int(num_classes)
        self.rule: EmptyRule = self.empty or getattr(pl_module, "empty", "exclude")
        self.ignore = int(getattr(pl_module, "ignore_index", IGNORE_INDEX))
        self.records: dict[int, tuple[str, np.ndarray, np.ndarray]] = {}
        self.keeper = ExampleKeeper(self.examples)
        self.inputs: dict[str, np.ndarray] = {}  # network inputs (C, h, w) of the kept examples, for attention maps
        self.written: list[str] = []
        self.forward_ms: list[float] = []
        self.forward_images = 0
        self.flops: dict[str, Any] = {"flops": "n/a", "flops_note": "no test batch was seen"}
        self._hooks = [
            pl_module.register_forward_pre_hook(self._fwd_start),
            pl_module.register_forward_hook(self._fwd_end),
        ]
        self._timing, self._test_batches = False, 0

    def _fwd_start(self, module: torch.nn.Module, args: tuple) -> None:
        if self._timing:
            synchronize(module.device)
            self._fwd_t0 = time.perf_counter()

    def _fwd_end(self, module: torch.nn.Module, args: tuple, output: Any) -> None:
        if self._timing and args:
            synchronize(module.device)
            self.forward_ms.append(1000 * (time.perf_counter() - self._fwd_t0))
            self.forward_images += int(args[0].shape[0])

    def on_test_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if dataloader_idx != 0:
            raise ValueError("ReportCallback scores a single test dataloader; got a second one")
        if self._test_batches == 0 and trainer.is_global_zero:
            self.flops = _count_flops(pl_module, batch["image"][:1])
        self._timing = self._test_batches > 0  # the first batch pays one-off costs (allocations, autotuning)
        self._test_batches += 1

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._timing = False
        if not isinstance(outputs, dict) or "pred" not in outputs:
            raise ValueError("ReportCallback needs test_step to return {'pred': [(h, w) class maps], 'name', 'index'}")
        masks = batch["mask"]  # (B, H, W) int64, padded with ignore_index at the bottom and right
        indices = torch.as_tensor(outputs["index"]).reshape(-1).tolist()
        for i, (pred_t, name, index) in enumerate(zip(outputs["pred"], outputs["name"], indices, strict=True)):
            if index in self.records:  # a padding sampler repeated this image
                continue
            name = report_name(name)
            pred = pred_t.cpu().numpy().astype(np.uint8)  # (h, w)
            h, w = pred.shape
            gt = masks[i, :h, :w].cpu().numpy().astype(np.uint8)  # (h, w), the original size
            counts, bounds = score_pair(pred, gt, self.num_classes, tolerance=self.tolerance, ignore_index=self.ignore)
            self.records[index] = (name, counts, bounds)
            if self.save_predictions:
                self._write_prediction(name, pred)
            image = batch["image"][i, :, :h, :w].float().cpu().numpy()  # (C, h, w)
            score = float(foreground_dice(counts, self.rule))
            self.keeper.offer(name, score, lambda p=pred, g=gt, x=image: make_panels(p, g, display_image(x)))
            if self.attention_maps:
                self._keep_input(name, image)

    def _keep_input(self, name: str, image: np.ndarray) -> None:
        """Hold the network inputs of the examples kept so far (at most 2 x ``examples`` images), nothing more."""
        kept = {e.name for e in [*self.keeper.best, *self.keeper.worst]}
        if name in kept:
            self.inputs[name] = image
        self.inputs = {k: v for k, v in self.inputs.items() if k in kept}

    def _write_prediction(self, name: str, pred: np.ndarray) -> None:
        rel = "predictions" / Path(prediction_path(name))
        ok, buf = cv2.imencode(".png", pred)
        if not ok:
            raise RuntimeError(f"could not encode the prediction of {name}")
        write_bytes(self.out / rel, buf.tobytes(), overwrite=True)  # the folder was made ready for this report
        self.written.append(rel.as_posix())

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for h in self._hooks:
            h.remove()
        records, keepers, written, inputs = _gather(trainer, self.records, self.keeper, self.written, self.inputs)
        if not trainer.is_global_zero:
            return
        keeper = ExampleKeeper(self.examples)
        for k in keepers:
            keeper.merge(k)
        maps = self._attention(pl_module, keeper, inputs) if self.attention_maps else []
        rows = [records[i] for i in sorted(records)]
        names = self.class_names or _default_class_names(trainer, self.num_classes)
        table = ScoreTable([r[0] for r in rows], np.stack([r[1] for r in rows]), np.stack([r[2] for r in rows]), names)
        source = {"checkpoint": str(trainer.ckpt_path) if trainer.ckpt_path else "in-memory model", "stage": "test"}
        run = self._run_info(trainer, pl_module)
        (self.out / RUN_INFO).write_text(json.dumps(run, indent=2) + "\n")
        write_report(
            self.out,
            table,
            empty=self.rule,
            tolerance=self.tolerance,
            source=source,
            examples=keeper,
            extra_files=[RUN_INFO, *sorted(set(written)), *maps],
            links=[(f"{ATTENTION_DIR}/explain.html", "attention maps of the best and worst images")] if maps else None,
        )

    def _attention(self, pl_module: L.LightningModule, keeper: ExampleKeeper, inputs: dict[str, np.ndarray]) -> list:
        """The attention gallery of the best and worst images (files relative to the report), or [] without
        attention. Each image is one tile: the whole test image, as ``test_step`` saw it."""
        net = getattr(pl_module, "net", None)
        if net is None or not hasattr(getattr(net, "decoder", None), "blocks") or not find_sites(net):
            return []
        gallery = Gallery(
            self.out / ATTENTION_DIR,
            overwrite=True,  # the report folder was made ready for this report: its earlier files are gone
            source={"images": "the best and worst test images of this report, each as one tile"},
            title="Attention maps of the best and worst test images",
            write_files=False,  # the page alone (panels embedded): .npy maps are for `segattn explain`
        )
        for ex in {e.name: e for e in [*keeper.best, *keeper.worst]}.values():
            x = inputs.get(ex.name)
            if x is None:
                continue
            display = (display_image(x) * 255).round().astype(np.uint8)  # (h, w, 3)
            array = np.ascontiguousarray(x.transpose(1, 2, 0))  # (h, w, C), already normalised
            explained = explain_array(
                net, Prepared(x.shape[0]), array, name=ex.name, tile=max(x.shape[1:]), display=display
            )
            gallery.add(explained)
        gallery.finish()
        return [f"{ATTENTION_DIR}/{f}" for f in gallery.listed]

    def _run_info(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        n_params = sum(p.numel() for p in pl_module.parameters())
        info: dict[str, Any] = {"format": RUN_FORMAT, "params": n_params, **self.flops}
        timer = next((cb for cb in trainer.callbacks if isinstance(cb, StepTimer)), None)
        if timer is not None and timer.train_step_ms is not None:
            info["train_step_ms"] = timer.train_step_ms
            info["train_steps_timed"] = timer.timed
            info["timing_note"] = "this run's own wall time, under whatever load the machine had"
        else:
            info["train_step_ms"] = "n/a"
            info["train_step_note"] = "no training batch was timed (StepTimer) in this run or its checkpoint"
        if self.forward_images:
            info["inference_ms_per_image"] = float(np.sum(self.forward_ms) / self.forward_images)
            info["inference_images_timed"] = self.forward_images
        else:
            info["inference_ms_per_image"] = "n/a"
            info["inference_note"] = "fewer than two test batches: the first batch is not timed"
        info["device"] = str(pl_module.device)
        info["hparams"] = _jsonable(dict(getattr(pl_module, "hparams", {})))
        return info


def _count_flops(pl_module: L.LightningModule, image: torch.Tensor) -> dict[str, Any]:
    """FLOPs of one forward pass on ``image`` (1, C, H, W), or "n/a" with the reason."""
    try:
        return {"flops": count_flops(pl_module, image), "flops_input_shape": list(image.shape)}
    except Exception as err:  # a measurement that fails must not cost the report; say why instead
        return {"flops": "n/a", "flops_note": f"count_flops failed: {type(err).__name__}: {err}"}


def _default_class_names(trainer: L.Trainer, k: int) -> list[str]:
    names = getattr(trainer.datamodule, "class_names", None) if trainer.datamodule is not None else None
    if names and len(names) == k:
        return list(names)
    return ["background", "foreground"] if k == 2 else [str(i) for i in range(k)]


def _gather(
    trainer: L.Trainer, records: dict, keeper: ExampleKeeper, written: list[str], inputs: dict
) -> tuple[dict, list, list, dict]:
    """Every process's records (first row per dataset index wins), example keepers, written files and the inputs
    of their examples."""
    if trainer.world_size == 1 or not torch.distributed.is_initialized():
        return records, [keeper], written, inputs
    parts: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(parts, (records, keeper, written, inputs))
    merged: dict = {}
    for r, _, _, _ in parts:
        for index, row in r.items():
            merged.setdefault(index, row)
    every_input = {name: x for *_, i in parts for name, x in i.items()}
    return merged, [k for _, k, _, _ in parts], [f for _, _, w, _ in parts for f in w], every_input


def _jsonable(x: Any) -> Any:
    """Hyperparameters as JSON: containers kept, anything else as its string."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x if isinstance(x, (str, int, float, bool, type(None))) else str(x)
