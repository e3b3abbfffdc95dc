"""``SegmentationModule``: the LightningModule that trains an :class:`~segattn.models.AttentionUnet`.

Network, optimizer and learning-rate schedule are injected (from YAML under LightningCLI, or as Python objects);
the loss is :class:`~segattn.losses.DiceCELoss` (Dice + BCE for binary tasks, Dice + CE for multi-class), and
pixels labelled ``ignore_index`` (255) never count, neither in the loss nor in a metric.

Output channels follow ``num_classes`` (background included): 2 classes -> 1 logit channel, sigmoid, class 1 where
the logit is > 0; K > 2 classes -> K channels, softmax, argmax.

**Metrics** (validation and test, ``<stage>`` = ``val`` | ``test``), from per-image ``[tp, fp, fn]`` counts in
:class:`~segattn.metrics.PerImageCounts` (concatenated across processes, one row per dataset index, so DDP padding
cannot move them) and scored at each image's original size: eval batches are padded to a multiple of 32 on the
bottom and right, and every pixel outside ``batch["orig_size"]`` is treated as ignored, which is the same as
cropping prediction and mask back to the original size.

- ``<stage>/dice``: foreground Dice at dataset level (counts pooled over all images, then ``2TP / (2TP+FP+FN)``);
  binary: class 1; multi-class: mean over classes 1..K-1;
- ``<stage>/dice_per_image``: the same classes' Dice per image, averaged over images;
- ``<stage>/iou`` and ``<stage>/iou_per_image``: IoU, likewise;
- ``<stage>/dice_c{k}``: dataset-level Dice of class k (multi-class tasks only, k = 0..K-1);
- ``<stage>/dice_torchmetrics``: torchmetrics' ``DiceScore`` (global aggregation, background excluded), an
  independent computation of ``<stage>/dice`` (it does not de-duplicate DDP padding);
- ``<stage>/loss``: the loss averaged over batches, weighted by batch size (a ``MeanMetric``, exact under DDP).

The values are computed from state already gathered from every process, so they are logged as they are; a Dice is
never averaged across processes with ``sync_dist=True`` (a mean of per-process Dice is not the dataset's Dice).

**The empty-mask rule** (``empty="exclude"``, as nnU-Net): when an image has no pixel of a class in its reference
AND none in its prediction, Dice and IoU are 0/0 for that (image, class); the pair is left out of the per-image
means instead of counting as 1 or 0. It adds nothing to the pooled counts either, so dataset-level scores do not
depend on the rule. A class predicted where the reference has none scores 0. ``empty="one"`` / ``"zero"`` count
the case as 1 / 0 instead (see :mod:`segattn.metrics`).

``test_step`` returns ``{"pred": [(h, w) uint8 class map per image, cropped to its original size], "name": [...],
"index": (B,) tensor}`` for callbacks that write per-image reports in ``on_test_batch_end``.

**Large images** are validated and tested in tiles: an eval batch with more than ``eval_max_pixels`` pixels
(batch size x H x W) is run image by image through :func:`~segattn.models.tiling.sliding_window` (tiles of
``eval_tile``, overlap 0.25, Gaussian blending, as ``segattn predict``), at most ``eval_max_pixels`` pixels per
forward pass, so memory no longer grows with the page: a whole 300-dpi A4 scan in one pass does not fit a laptop
(bench/README.md). The blended probabilities are turned back into logits for the loss and the class map, so
``val/*`` and ``test/*`` are computed exactly as for smaller batches, from the tiled prediction.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torchmetrics.aggregation import MeanMetric
from torchmetrics.segmentation import DiceScore

from segattn.labels import IGNORE_INDEX, output_channels, probabilities
from segattn.losses import DiceCELoss
from segattn.metrics import PerImageCounts
from segattn.models import AttentionUnet
from segattn.models.tiling import sliding_window
from segattn.pretrained import resolve as resolve_pretrained
from segattn.schedules import LRSchedulerFactory, WarmupCosineLR
from segattn.scoring import EmptyRule, summarize_counts
from segattn.signatures import keyword_types, typed_dict_of

STAGES = ("val", "test")
EVAL_MAX_PIXELS = 2048 * 2048  # per forward pass in validation / test; a larger batch goes in tiles
EVAL_TILE = 1024
EVAL_OVERLAP, EVAL_SIGMA = 0.25, 0.125  # segattn predict's defaults


AttentionUnetConfig = typed_dict_of(
    "AttentionUnetConfig",
    keyword_types(AttentionUnet.__init__),
    doc=""":class:`AttentionUnet`'s constructor arguments as a mapping, the form ``AttentionUnet.config`` returns.

    Read from the constructor's signature, so that jsonargparse validates a dict given for ``net`` as strictly as
    the ``class_path`` form (with a bare ``dict`` in the union, a misspelt attention name would be accepted as
    "some dict").
    """,
)


class SegmentationModule(L.LightningModule):
    """Trains and scores a segmentation network; see the module docstring for losses, metrics and the empty rule.

    Args:
        net: the network, or its ``config`` dict (as stored in checkpoints); its ``classes`` must equal
            ``output_channels(num_classes)`` (a dict without ``classes`` gets it filled in).
        num_classes: mask classes including background (binary = 2).
        ignore_index: mask value of pixels that count nowhere.
        dice_weight, ce_weight: weights of the Dice and the (binary) cross-entropy terms of the loss.
        optimizer: called with the parameters, e.g. ``torch.optim.AdamW`` or ``functools.partial(AdamW, lr=3e-3)``.
        lr_scheduler: called as ``lr_scheduler(optimizer, total_steps)`` and stepped every optimizer step; ``None``
            keeps the learning rate constant.
        empty: the empty-mask rule for per-image scores ("exclude" | "one" | "zero").
        channels_last: keep the network and the input batches in channels-last memory format (faster convolutions
            on recent CPUs and on tensor-core GPUs).
        init_from: start a new training run from another run's weights: a checkpoint path, or a packaged model's
            name (``walls``). Every network tensor whose name and shape match is copied when ``fit`` starts; the
            others keep their initialisation and are listed in one line. Unlike ``--ckpt_path``, which resumes a
            run (optimizer, schedule, epoch), this starts afresh; a resumed run's own weights win over it.
        eval_max_pixels: the most pixels (batch size x H x W) validation and test put through one forward pass;
            a larger batch is evaluated in tiles (see "Large images" above). ``None``: always whole images.
        eval_tile: side of those tiles.
    """

    def __init__(
        self,
        net: AttentionUnet | AttentionUnetConfig,
        *,
        num_classes: int = 2,
        ignore_index: int = IGNORE_INDEX,
        dice_weight: float = 1.0,
        ce_weight: float = 1.0,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        lr_scheduler: LRSchedulerFactory | None = WarmupCosineLR,
        empty: EmptyRule = "exclude",
        channels_last: bool = True,
        init_from: str | None = None,
        eval_max_pixels: int | None = EVAL_MAX_PIXELS,
        eval_tile: int = EVAL_TILE,
    ) -> None:
        super().__init__()
        if eval_tile < 32 or (eval_max_pixels is not None and eval_max_pixels < 1):
            raise ValueError(f"eval_tile must be >= 32 and eval_max_pixels >= 1, got {eval_tile} and {eval_max_pixels}")
        out = output_channels(num_classes)
        if isinstance(net, dict):
            net = AttentionUnet(**{"classes": out, **net})
        if net.config["classes"] != out:
            raise ValueError(
                f"the network has {net.config['classes']} output channels but num_classes={num_classes} needs {out} "
                "(binary tasks: 1 logit channel; K > 2 classes: K channels)"
            )
        self.net = net.to(memory_format=torch.channels_last) if channels_last else net
        self.save_hyperparameters(ignore=["net"])
        # Under LightningCLI the factories are stored as their class_path/init_args config; Python objects (classes,
        # partials) are left out: they would make the checkpoint unloadable with torch.load(weights_only=True).
        for key in ("optimizer", "lr_scheduler"):
            if not isinstance(self.hparams.get(key), (dict, type(None))):
                self.hparams.pop(key)
        # The architecture as plain data (merged into the hparams above), so load_from_checkpoint(path) needs no
        # argument whether the module was built by the CLI or in Python.
        self.save_hyperparameters({"net": net.config})

        self.num_classes = num_classes
        self.init_from = init_from
        self.ignore_index = ignore_index
        self.empty = empty
        self.channels_last = channels_last
        self.eval_max_pixels, self.eval_tile = eval_max_pixels, eval_tile
        self.optimizer_factory = optimizer
        self.lr_scheduler_factory = lr_scheduler
        self.loss = DiceCELoss(num_classes, dice_weight=dice_weight, ce_weight=ce_weight, ignore_index=ignore_index)
        self.counts = torch.nn.ModuleDict({s: PerImageCounts(num_classes, ignore_index=ignore_index) for s in STAGES})
        self.eval_loss = torch.nn.ModuleDict({s: MeanMetric(nan_strategy="warn") for s in STAGES})
        self.dice_torchmetrics = torch.nn.ModuleDict(
            {
                s: DiceScore(
                    num_classes=num_classes,
                    include_background=False,
                    average="macro",
                    aggregation_level="global",
                    input_format="index",
                )
                for s in STAGES
            }
        )

    def setup(self, stage: str) -> None:
        # before Lightning restores a checkpoint (--ckpt_path), so a resumed run keeps its own weights
        if stage == "fit" and self.init_from:
            self.load_matching(self.init_from)

    def load_matching(self, source: str) -> tuple[list[str], list[str]]:
        """Copy every network tensor of checkpoint ``source`` whose name and shape match; returns (loaded, not)."""
        path = resolve_pretrained(source)
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else None
        if not isinstance(state, dict):
            raise ValueError(f"init_from {source}: {path} holds no state dict; give a checkpoint of `segattn fit`")
        own = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        loaded = [k for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)]
        if not loaded:
            raise ValueError(f"init_from {source}: no tensor of {path} matches this network by name and shape")
        self.net.load_state_dict({k[4:]: state[k] for k in loaded}, strict=False)
        missing = sorted(set(own) - set(loaded))
        shown = ", ".join(k[4:] for k in missing[:6]) + (f", ... ({len(missing)} in all)" if len(missing) > 6 else "")
        rank_zero_info(
            f"init_from {source}: {len(loaded)} of {len(own)} network tensors loaded"
            + (f"; kept their initialisation (name or shape differ): {shown}" if missing else "")
        )
        return loaded, missing

    def forward(self, x: Tensor) -> Tensor:
        """Images (B, C, H, W) -> logits (B, 1 or K, H, W)."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def predict_classes(self, logits: Tensor) -> Tensor:
        """Logits (B, 1 or K, H, W) -> class map (B, H, W) int64."""
        if self.num_classes == 2:
            return (logits[:, 0] > 0).long()
        return logits.argmax(dim=1)

    def eval_logits(self, x: Tensor) -> Tensor:
        """Images (B, C, H, W) -> logits (B, 1 or K, H, W) for validation and test: one forward pass up to
        ``eval_max_pixels`` pixels, else each image in tiles (blended probabilities, returned as logits)."""
        b, _, h, w = x.shape
        if self.eval_max_pixels is None or b * h * w <= self.eval_max_pixels:
            return self(x)
        per_forward = max(1, self.eval_max_pixels // self.eval_tile**2)
        probs = torch.stack(
            [
                sliding_window(
                    lambda tiles: probabilities(self(tiles)),
                    image,
                    tile=self.eval_tile,
                    overlap=EVAL_OVERLAP,
                    sigma=EVAL_SIGMA,
                    tiles_per_forward=per_forward,
                )
                for image in x
            ]
        )  # (B, 1 or K, H, W) float32
        # logit(p) > 0 exactly where p > 0.5, and softmax(log p) = p: the class map and the loss see the blend
        return torch.logit(probs, eps=1e-6) if self.num_classes == 2 else probs.clamp_min(1e-6).log()

    def _step(self, batch: dict[str, Any], stage: str) -> tuple[Tensor, Tensor]:
        logits = self(batch["image"]) if stage == "train" else self.eval_logits(batch["image"])  # (B, 1 or K, H, W)
        loss = self.loss(logits, batch["mask"])
        batch_size = batch["image"].shape[0]
        if stage == "train":
            self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=batch_size)
            return loss, logits
        # a mean of per-batch losses, weighted by batch size; a metric object, not sync_dist=True: Lightning's
        # sync_dist mean floors its integer batch-size total when processes saw different numbers of images, which
        # every-image-once DDP evaluation does (tests/ddp checks the loss against one process)
        self.eval_loss[stage].update(loss.detach(), batch_size)
        self.log(f"{stage}/loss", self.eval_loss[stage], on_step=False, on_epoch=True, batch_size=batch_size)
        pred = self.predict_classes(logits)  # (B, H, W)
        target = self._ignore_padding(batch["mask"], batch.get("orig_size"))  # (B, H, W)
        self.counts[stage].update(pred, target, batch["index"])
        # torchmetrics has no ignore_index: ignored pixels become background in both maps, which adds to no
        # foreground class (background is excluded from its score).
        ignored = target == self.ignore_index
        dice_tm = self.dice_torchmetrics[stage]
        dice_tm.update(pred.masked_fill(ignored, 0), target.masked_fill(ignored, 0))
        self.log(f"{stage}/dice_torchmetrics", dice_tm, on_step=False, on_epoch=True, batch_size=batch_size)
        return loss, pred

    def _ignore_padding(self, mask: Tensor, orig_size: Tensor | None) -> Tensor:
        """Mask (B, H, W) with every pixel outside each image's original (h, w) set to ``ignore_index``."""
        if orig_size is None:
            return mask
        h, w = mask.shape[-2:]
        rows = torch.arange(h, device=mask.device).view(1, h, 1)
        cols = torch.arange(w, device=mask.device).view(1, 1, w)
        inside = (rows < orig_size[:, 0].view(-1, 1, 1)) & (cols < orig_size[:, 1].view(-1, 1, 1))  # (B, H, W)
        return mask.masked_fill(~inside, self.ignore_index)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        if self._trainer is not None and self.trainer.optimizers:
            # logged here, not by LearningRateMonitor, which refuses a Trainer without a logger
            self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=True, on_epoch=False)
        return self._step(batch, "train")[0]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        _, pred = self._step(batch, "test")
        sizes = batch["orig_size"].tolist() if "orig_size" in batch else [pred.shape[-2:]] * pred.shape[0]
        maps = [p[:h, :w].to(torch.uint8).cpu() for p, (h, w) in zip(pred, sizes, strict=True)]
        return {"pred": maps, "name": list(batch["name"]), "index": batch["index"]}

    def on_validation_epoch_end(self) -> None:
        self._log_scores("val")

    def on_test_epoch_end(self) -> None:
        self._log_scores("test")

    def scores(self, stage: str) -> dict[str, float]:
        """The stage's scores from every image seen since the last reset (gathered across processes)."""
        _, counts = self.counts[stage].compute()  # (M, K, 3), one row per image
        summary = summarize_counts(counts.cpu(), empty=self.empty)
        fg = summary["foreground"]
        scores = {
            f"{stage}/dice": fg["dice_dataset"],
            f"{stage}/dice_per_image": fg["dice_mean_per_image"],
            f"{stage}/iou": fg["iou_dataset"],
            f"{stage}/iou_per_image": fg["iou_mean_per_image"],
        }
        if self.num_classes > 2:
            for k, per_class in enumerate(summary["classes"].values()):
                scores[f"{stage}/dice_c{k}"] = per_class["dice_dataset"]
        return scores

    def _log_scores(self, stage: str) -> None:
        # identical on every process (computed from gathered state): no sync_dist
        scores = self.scores(stage)
        self.log(f"{stage}/dice", scores.pop(f"{stage}/dice"), prog_bar=True)
        self.log_dict(scores, prog_bar=False)
        self.counts[stage].reset()

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.lr_scheduler_factory is None:
            return optimizer
        total_steps = int(self.trainer.estimated_stepping_batches)
        scheduler = self.lr_scheduler_factory(optimizer, total_steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
