"""Dice, IoU, precision and recall from per-image, per-class confusion counts (pure functions, no state).

Everything here is built on one tensor: ``counts`` of shape ``(..., K, 3)`` holding ``[tp, fp, fn]`` for each of the
``K`` classes (background included), one row per image. From it:

    Dice_k = 2·TP_k / (2·TP_k + FP_k + FN_k)        IoU_k = TP_k / (TP_k + FP_k + FN_k)
    precision_k = TP_k / (TP_k + FP_k)               recall_k = TP_k / (TP_k + FN_k)

*Dataset-level* ("pooled") scores sum the counts over images first, then apply the formula; the *mean per-image*
score applies the formula per image and averages. The two differ, and both are reported.

**The empty-mask rule.** When a class is absent from both the reference and the prediction of an image, every
formula above is 0/0. ``empty`` decides what that case means:

- ``"exclude"`` (default, as nnU-Net): the (image, class) pair gets NaN and is left out of per-image means;
- ``"one"``: counted as a perfect score (1.0);
- ``"zero"``: counted as a miss (0.0).

A class absent from the reference but predicted (FP > 0) scores 0 under every rule; a class present in the
reference but not predicted scores 0. Pooled scores are 0/0 only if the class never occurs anywhere; the same rule
applies to them.

Example:
    >>> import torch
    >>> pred = torch.tensor([[[0, 1], [1, 1]]])
    >>> target = torch.tensor([[[0, 1], [0, 1]]])
    >>> counts = confusion_counts(pred, target, num_classes=2)
    >>> counts[0, 1].tolist()  # class 1: tp, fp, fn
    [2, 1, 0]
    >>> round(dice_from_counts(counts)[0, 1].item(), 4)
    0.8
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from segattn.labels import IGNORE_INDEX

EmptyRule = Literal["exclude", "one", "zero"]
EMPTY_RULES: tuple[str, ...] = ("exclude", "one", "zero")


def confusion_counts(
    pred: Tensor, target: Tensor, num_classes: int, *, ignore_index: int | None = IGNORE_INDEX
) -> Tensor:
    """Per-image, per-class ``[tp, fp, fn]`` of two class maps.

    Args:
        pred: ``(B, H, W)`` or ``(H, W)`` integer class map.
        target: same shape as ``pred``; pixels equal to ``ignore_index`` are not counted (the prediction there is
            ignored too).
        num_classes: ``K``, background included (binary tasks: 2).

    Returns:
        ``(B, K, 3)`` int64 (``(K, 3)`` for 2-D inputs).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    squeeze = pred.ndim == 2
    if squeeze:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
    b = pred.shape[0]
    pred = pred.reshape(b, -1).long()  # (B, N)
    target = target.reshape(b, -1).long()  # (B, N)
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    bad_target = valid & ((target < 0) | (target >= num_classes))
    if bad_target.any():
        raise ValueError(f"target holds values outside 0..{num_classes - 1}: {torch.unique(target[bad_target])[:10]}")
    # Predictions outside the classes cannot be true positives; count them in no class (they still miss the target).
    pred = torch.where((pred >= 0) & (pred < num_classes), pred, torch.full_like(pred, num_classes))
    # Joint histogram of (target, pred) per image: index = target * (K + 1) + pred.
    k1 = num_classes + 1
    joint = target.clamp(0, num_classes - 1) * k1 + pred  # (B, N)
    joint = torch.where(valid, joint, torch.full_like(joint, num_classes * k1))  # ignored pixels -> spare bin
    offsets = torch.arange(b, device=joint.device).unsqueeze(1) * (num_classes * k1 + 1)
    hist = torch.bincount((joint + offsets).flatten(), minlength=b * (num_classes * k1 + 1))
    hist = hist.reshape(b, num_classes * k1 + 1)[:, : num_classes * k1].reshape(b, num_classes, k1)  # (B, Kt, Kp+1)
    tp = torch.diagonal(hist[:, :, :num_classes], dim1=1, dim2=2)  # (B, K)
    ref = hist.sum(dim=2)  # (B, K) reference pixels per class
    predicted = hist[:, :, :num_classes].sum(dim=1)  # (B, K) predicted pixels per class (valid pixels only)
    counts = torch.stack([tp, predicted - tp, ref - tp], dim=-1)  # (B, K, 3)
    return counts[0] if squeeze else counts


def _ratio(num: Tensor, den: Tensor, empty: EmptyRule) -> Tensor:
    if empty not in EMPTY_RULES:
        raise ValueError(f"unknown empty-mask rule {empty!r}; choose from {list(EMPTY_RULES)}")
    num, den = num.double(), den.double()
    out = num / den.clamp_min(1)
    fill = {"exclude": float("nan"), "one": 1.0, "zero": 0.0}[empty]
    return torch.where(den == 0, torch.full_like(out, fill), out)


def _split(counts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    if counts.shape[-1] != 3:
        raise ValueError(f"counts must end in a [tp, fp, fn] axis of size 3, got shape {tuple(counts.shape)}")
    return counts[..., 0], counts[..., 1], counts[..., 2]


def dice_from_counts(counts: Tensor, *, empty: EmptyRule = "exclude") -> Tensor:
    """``2·TP / (2·TP + FP + FN)`` over the last axis of ``counts`` (float64; the 0/0 case follows ``empty``)."""
    tp, fp, fn = _split(counts)
    return _ratio(2 * tp, 2 * tp + fp + fn, empty)


def iou_from_counts(counts: Tensor, *, empty: EmptyRule = "exclude") -> Tensor:
    """``TP / (TP + FP + FN)`` (float64; the 0/0 case follows ``empty``)."""
    tp, fp, fn = _split(counts)
    return _ratio(tp, tp + fp + fn, empty)


def precision_from_counts(counts: Tensor, *, empty: EmptyRule = "exclude") -> Tensor:
    """``TP / (TP + FP)``; 0/0 (nothing predicted) follows ``empty`` only when the reference is empty too, else 0."""
    tp, fp, fn = _split(counts)
    out = _ratio(tp, tp + fp, empty)
    return torch.where((tp + fp == 0) & (fn > 0), torch.zeros_like(out), out)


def recall_from_counts(counts: Tensor, *, empty: EmptyRule = "exclude") -> Tensor:
    """``TP / (TP + FN)``; 0/0 (empty reference) follows ``empty`` only when nothing was predicted either, else 0."""
    tp, fp, fn = _split(counts)
    out = _ratio(tp, tp + fn, empty)
    return torch.where((tp + fn == 0) & (fp > 0), torch.zeros_like(out), out)


def summarize_counts(
    counts: Tensor, *, empty: EmptyRule = "exclude", classes: list[str] | None = None
) -> dict[str, object]:
    """Dataset summary of per-image counts ``(M, K, 3)``: per class pooled and mean per-image Dice and IoU.

    Returns a JSON-ready dict: ``{"empty_rule", "n_images", "classes": {name: {...}}, "foreground": {...}}`` where
    ``foreground`` averages classes ``1..K-1`` (for binary tasks: class 1 alone).
    """
    if counts.ndim != 3:
        raise ValueError(f"counts must be (images, classes, 3), got shape {tuple(counts.shape)}")
    m, k, _ = counts.shape
    names = classes if classes is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} class names given for {k} classes")
    pooled = counts.sum(dim=0)  # (K, 3)
    dice_img = dice_from_counts(counts, empty=empty)  # (M, K)
    iou_img = iou_from_counts(counts, empty=empty)  # (M, K)
    tp, fp, fn = _split(counts)
    both_empty = (tp + fp + fn) == 0  # (M, K)
    per_class: dict[str, dict[str, float | int]] = {}
    for c, name in enumerate(names):
        per_class[name] = {
            "dice_dataset": _f(dice_from_counts(pooled[c], empty=empty)),
            "dice_mean_per_image": _f(_nanmean(dice_img[:, c])),
            "iou_dataset": _f(iou_from_counts(pooled[c], empty=empty)),
            "iou_mean_per_image": _f(_nanmean(iou_img[:, c])),
            "n_images_scored": int((~torch.isnan(dice_img[:, c])).sum()),
            "n_both_empty": int(both_empty[:, c].sum()),
            "n_reference_empty": int(((tp + fn)[:, c] == 0).sum()),
            "n_prediction_empty": int(((tp + fp)[:, c] == 0).sum()),
        }
    fg = names[1:] if k > 1 else names
    foreground = {
        key: _f(_nanmean(torch.tensor([per_class[n][key] for n in fg], dtype=torch.float64)))
        for key in ("dice_dataset", "dice_mean_per_image", "iou_dataset", "iou_mean_per_image")
    }
    return {"empty_rule": empty, "n_images": m, "classes": per_class, "foreground": foreground}


def _nanmean(x: Tensor) -> Tensor:
    keep = ~torch.isnan(x)
    return x[keep].mean() if keep.any() else torch.tensor(float("nan"), dtype=torch.float64)


def _f(x: Tensor) -> float:
    return float(x.item())
