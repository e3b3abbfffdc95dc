"""Hand-computed cases for segattn.scoring.counts and PerImageCounts, plus cross-checks against an independent
reference."""

from __future__ import annotations

import math

import pytest
import torch

from segattn.metrics import PerImageCounts
from segattn.scoring.counts import (
    confusion_counts,
    dice_from_counts,
    iou_from_counts,
    precision_from_counts,
    recall_from_counts,
    summarize_counts,
)


def _t(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long)


def test_partial_overlap_by_hand() -> None:
    # class 1: pred covers 3 pixels, target covers 3 pixels, 2 shared -> tp 2, fp 1, fn 1 -> Dice 4/6, IoU 2/4
    pred = _t([[1, 1, 1, 0], [0, 0, 0, 0]])
    target = _t([[0, 1, 1, 1], [0, 0, 0, 0]])
    counts = confusion_counts(pred, target, 2)
    assert counts[1].tolist() == [2, 1, 1]
    assert counts[0].tolist() == [4, 1, 1]
    assert dice_from_counts(counts)[1].item() == pytest.approx(4 / 6)
    assert iou_from_counts(counts)[1].item() == pytest.approx(2 / 4)
    assert precision_from_counts(counts)[1].item() == pytest.approx(2 / 3)
    assert recall_from_counts(counts)[1].item() == pytest.approx(2 / 3)


def test_complete_miss_scores_zero_under_every_rule() -> None:
    pred = _t([[0, 0], [0, 0]])
    target = _t([[1, 0], [0, 0]])
    counts = confusion_counts(pred, target, 2)
    for rule in ("exclude", "one", "zero"):
        assert dice_from_counts(counts, empty=rule)[1].item() == 0.0
        assert precision_from_counts(counts, empty=rule)[1].item() == 0.0
        assert recall_from_counts(counts, empty=rule)[1].item() == 0.0


def test_false_positive_on_empty_reference_scores_zero() -> None:
    counts = confusion_counts(_t([[1, 0]]), _t([[0, 0]]), 2)
    assert counts[1].tolist() == [0, 1, 0]
    for rule in ("exclude", "one", "zero"):
        assert dice_from_counts(counts, empty=rule)[1].item() == 0.0
        assert recall_from_counts(counts, empty=rule)[1].item() == 0.0


def test_both_empty_follows_the_rule() -> None:
    counts = confusion_counts(_t([[0, 0]]), _t([[0, 0]]), 2)
    assert counts[1].tolist() == [0, 0, 0]
    assert math.isnan(dice_from_counts(counts, empty="exclude")[1].item())
    assert dice_from_counts(counts, empty="one")[1].item() == 1.0
    assert dice_from_counts(counts, empty="zero")[1].item() == 0.0
    with pytest.raises(ValueError, match="empty-mask rule"):
        dice_from_counts(counts, empty="skip")  # type: ignore[arg-type]


def test_class_absent_from_an_image_in_multiclass() -> None:
    # class 2 appears nowhere in this image: excluded from the per-image mean, not counted as 0 or 1
    pred = _t([[0, 1], [1, 0]])
    target = _t([[0, 1], [1, 1]])
    counts = confusion_counts(pred, target, 3)
    assert counts[2].tolist() == [0, 0, 0]
    dice = dice_from_counts(counts)
    assert dice[1].item() == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))
    assert math.isnan(dice[2].item())


def test_ignore_index_pixels_do_not_count_either_way() -> None:
    pred = _t([[1, 1, 0, 1]])
    target = _t([[1, 255, 0, 255]])
    counts = confusion_counts(pred, target, 2, ignore_index=255)
    assert counts[1].tolist() == [1, 0, 0]
    assert counts[0].tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match="outside"):
        confusion_counts(pred, target, 2, ignore_index=None)


def test_batched_counts_equal_per_image_counts_and_an_independent_reference() -> None:
    g = torch.Generator().manual_seed(0)
    pred = torch.randint(0, 4, (5, 13, 17), generator=g)
    target = torch.randint(0, 4, (5, 13, 17), generator=g)
    target[0, :3] = 255
    counts = confusion_counts(pred, target, 4)
    assert counts.shape == (5, 4, 3)
    for b in range(5):
        valid = target[b] != 255
        for c in range(4):
            p, t = (pred[b] == c) & valid, (target[b] == c) & valid
            assert counts[b, c].tolist() == [int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())]


def test_pooled_dice_matches_torchmetrics_dicescore() -> None:
    from torchmetrics.segmentation import DiceScore

    g = torch.Generator().manual_seed(1)
    pred = torch.randint(0, 3, (4, 16, 16), generator=g)
    target = torch.randint(0, 3, (4, 16, 16), generator=g)
    ours = dice_from_counts(confusion_counts(pred, target, 3).sum(0))
    ref = DiceScore(
        num_classes=3, include_background=True, average="none", input_format="index", aggregation_level="global"
    )
    ref.update(pred, target)
    torch.testing.assert_close(ours.float(), ref.compute().float(), atol=1e-6, rtol=0)


def test_per_image_counts_deduplicates_repeated_indices() -> None:
    m = PerImageCounts(num_classes=2)
    ones = torch.ones(1, 3, 3, dtype=torch.long)
    zeros = torch.zeros(1, 3, 3, dtype=torch.long)
    m.update(ones, ones, torch.tensor([2]))
    m.update(zeros, ones, torch.tensor([0]))
    m.update(ones, ones, torch.tensor([2]))  # a padding sampler repeating image 2
    index, counts = m.compute()
    assert index.tolist() == [0, 2]
    assert counts[:, 1].tolist() == [[0, 0, 9], [9, 0, 0]]
    m.reset()
    index, counts = m.compute()
    assert index.numel() == 0 and counts.shape == (0, 2, 3)


def test_summary_pooled_vs_mean_per_image_and_empty_counts() -> None:
    # image 0: perfect (Dice 1), image 1: tp 1 fn 3 (Dice 2/5), image 2: both empty (excluded)
    counts = torch.tensor(
        [
            [[10, 0, 0], [4, 0, 0]],
            [[12, 3, 0], [1, 0, 3]],
            [[16, 0, 0], [0, 0, 0]],
        ]
    )
    s = summarize_counts(counts, classes=["background", "wall"])
    wall = s["classes"]["wall"]
    assert wall["dice_dataset"] == pytest.approx(2 * 5 / (2 * 5 + 0 + 3))
    assert wall["dice_mean_per_image"] == pytest.approx((1.0 + 2 / 5) / 2)
    assert wall["n_images_scored"] == 2 and wall["n_both_empty"] == 1
    assert s["foreground"]["dice_dataset"] == wall["dice_dataset"]
    assert s["empty_rule"] == "exclude" and s["n_images"] == 3
    s_one = summarize_counts(counts, empty="one")
    assert s_one["classes"]["1"]["dice_mean_per_image"] == pytest.approx((1.0 + 2 / 5 + 1.0) / 3)


def test_docstring_examples_run() -> None:
    import doctest

    import segattn.scoring.counts

    result = doctest.testmod(segattn.scoring.counts)
    assert result.attempted >= 2 and result.failed == 0
