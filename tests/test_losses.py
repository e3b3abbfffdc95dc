"""DiceCELoss: ignored pixels count in neither term; the terms are the textbook formulas."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segattn.losses import DiceCELoss


@pytest.mark.parametrize("num_classes", [2, 4])
def test_ignored_pixels_change_nothing(num_classes: int) -> None:
    torch.manual_seed(0)
    channels = 1 if num_classes == 2 else num_classes
    logits = torch.randn(2, channels, 8, 12, requires_grad=True)
    target = torch.randint(0, num_classes, (2, 8, 12))
    padded = target.clone()
    padded[:, :, 7:] = 255  # the right part is padding
    loss_fn = DiceCELoss(num_classes)

    loss = loss_fn(logits, padded)
    # the same as scoring the valid part alone ...
    torch.testing.assert_close(loss, loss_fn(logits[..., :7], target[..., :7]))
    # ... whatever the logits and labels are in the padding
    other_logits = logits.detach().clone()
    other_logits[..., 7:] = 50.0
    torch.testing.assert_close(loss, loss_fn(other_logits, padded))
    loss.backward()
    assert logits.grad[..., 7:].abs().max() == 0
    assert logits.grad[..., :7].abs().max() > 0


def test_binary_terms_match_formulas() -> None:
    torch.manual_seed(1)
    logits = torch.randn(3, 1, 6, 6)
    target = torch.randint(0, 2, (3, 6, 6))
    p, t = torch.sigmoid(logits[:, 0]), target.float()
    dice = 1 - 2 * (p * t).sum() / (p.sum() + t.sum())
    bce = F.binary_cross_entropy_with_logits(logits[:, 0], t)
    torch.testing.assert_close(DiceCELoss(2, ce_weight=0.0)(logits, target), dice, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(DiceCELoss(2, dice_weight=0.0)(logits, target), bce)
    torch.testing.assert_close(DiceCELoss(2, dice_weight=0.3, ce_weight=2.0)(logits, target), 0.3 * dice + 2 * bce)


def test_multiclass_ce_term_is_cross_entropy() -> None:
    torch.manual_seed(2)
    logits = torch.randn(2, 3, 5, 5)
    target = torch.randint(0, 3, (2, 5, 5))
    target[0, 0] = 255
    expected = F.cross_entropy(logits, target, ignore_index=255)
    torch.testing.assert_close(DiceCELoss(3, dice_weight=0.0)(logits, target), expected)


def test_all_ignored_batch_is_finite_zero() -> None:
    logits = torch.randn(1, 1, 4, 4, requires_grad=True)
    loss = DiceCELoss(2)(logits, torch.full((1, 4, 4), 255))
    assert loss.item() == 0.0
    loss.backward()


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="num_classes"):
        DiceCELoss(1)
    with pytest.raises(ValueError, match="weights"):
        DiceCELoss(2, dice_weight=0.0, ce_weight=0.0)
    with pytest.raises(ValueError, match="3 channels"):
        DiceCELoss(3)(torch.randn(1, 1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))
