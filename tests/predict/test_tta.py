"""Test-time augmentation: every transform is inverted exactly; equivariant models are unchanged by TTA."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from segattn.predict.tta import TTA_MODES, apply_transform, invert_transform, predict_with_tta, transforms_for


@pytest.mark.parametrize("mode", TTA_MODES)
def test_each_inverse_restores_the_input(mode: str) -> None:
    x = torch.rand(2, 3, 7, 7)
    for t in transforms_for(mode):
        torch.testing.assert_close(invert_transform(apply_transform(x, t), t), x, rtol=0, atol=0)


def test_d4_has_eight_distinct_transforms_and_flip_four() -> None:
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    images = {tuple(apply_transform(x, t).flatten().tolist()) for t in transforms_for("d4")}
    assert len(images) == 8
    flips = {tuple(apply_transform(x, t).flatten().tolist()) for t in transforms_for("flip")}
    assert flips == {tuple(v.flatten().tolist()) for v in (x, x.flip(-1), x.flip(-2), x.flip(-1, -2))}


class _Isotropic(nn.Module):
    """Per-pixel 1x1 conv then a D4-symmetric 3x3 filter: equivariant to every rotation and flip."""

    def __init__(self) -> None:
        super().__init__()
        self.pointwise = nn.Conv2d(3, 2, 1)
        k = torch.tensor([[0.05, 0.2, 0.05], [0.2, 1.0, 0.2], [0.05, 0.2, 0.05]])
        self.register_buffer("kernel", k.expand(2, 1, 3, 3).clone())

    def forward(self, x: Tensor) -> Tensor:
        y = nn.functional.conv2d(self.pointwise(x), self.kernel, padding=1, groups=2)
        return y.softmax(dim=1)


@pytest.mark.parametrize("mode", ["flip", "d4"])
def test_tta_of_an_equivariant_model_equals_no_tta(mode: str) -> None:
    torch.manual_seed(0)
    net, x = _Isotropic().eval(), torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(predict_with_tta(net, x, mode), predict_with_tta(net, x, "none"))


def test_tta_changes_a_model_that_is_not_equivariant() -> None:
    torch.manual_seed(0)
    net, x = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Softmax(dim=1)).eval(), torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(predict_with_tta(net, x, "d4"), predict_with_tta(net, x, "none"), atol=1e-4)


def test_tta_averages_probabilities() -> None:
    # a model that ignores its input and answers a left-to-right ramp: the inverse horizontal flip
    # mirrors the ramp, so the mean over the four flips is 0.5 everywhere
    ramp = torch.linspace(0, 1, 4).expand(1, 1, 4, 4)
    out = predict_with_tta(lambda t: ramp.clone(), torch.rand(1, 1, 4, 4), "flip")
    torch.testing.assert_close(out, torch.full_like(ramp, 0.5))


def test_tta_leaves_the_input_untouched() -> None:
    x = torch.rand(1, 2, 4, 4)
    before = x.clone()
    torch.testing.assert_close(predict_with_tta(lambda t: t, x, "d4"), before)
    torch.testing.assert_close(x, before, rtol=0, atol=0)


def test_unknown_mode_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="none"):
        transforms_for("rot")


def test_rotations_need_square_tiles() -> None:
    with pytest.raises(ValueError, match="square"):
        predict_with_tta(lambda t: t, torch.rand(1, 1, 4, 6), "d4")
    assert predict_with_tta(lambda t: t, torch.rand(1, 1, 4, 6), "flip").shape == (1, 1, 4, 6)
