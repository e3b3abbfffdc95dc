"""``explain(segmenter, image)``: every attention, the same maps every time, the network left as it was, tiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segattn.attention import ATTENTION_NAMES
from segattn.explain import NoAttentionError, explain

from .helpers import plan_image, segmenter, tiny_net


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_every_registered_attention_is_explained(name: str) -> None:
    seg = segmenter(tiny_net(name))
    ex = explain(seg, plan_image(), points=[(5, 6)])
    assert ex.attention and ex.tiles == 1
    assert ex.points[-1].kind == "user" and (ex.points[-1].x, ex.points[-1].y) == (5, 6)
    for maps in ex.attention:
        assert maps.name == name and maps.feature_size[0] > 0
        assert maps.spatial or maps.channel or maps.points  # every site shows something
        for values in maps.spatial.values():
            assert values.shape == (64, 64) and values.dtype == np.float32 and np.isfinite(values).all()
        for label, per_point in maps.points.items():
            assert len(per_point) == len(ex.points), label
            assert all(v.shape == (64, 64) for v in per_point)
        if name == "self_attention":
            for v in maps.points["attention"]:  # one weight per cell, each cell drawn over stride² pixels
                stride = 64 // maps.feature_size[0]
                assert v[::stride, ::stride].sum() == pytest.approx(1, abs=1e-5)
    assert ex.pred.shape == (64, 64) and ex.probs.shape == (1, 64, 64)


def test_same_image_same_maps_and_the_network_is_left_as_it_was() -> None:
    net = tiny_net([{"name": "self_attention"}, "cbam", "scse"])
    seg = segmenter(net)
    net.decoder.blocks[1].train()  # a module in train mode must come back in train mode

    def hooks():
        return [(n, dict(m._forward_hooks), dict(m._forward_pre_hooks)) for n, m in net.named_modules()]

    state = {k: v.clone() for k, v in net.state_dict().items()}
    before, modes = hooks(), [m.training for m in net.modules()]
    first = explain(seg, plan_image(seed=3))
    second = explain(seg, plan_image(seed=3))
    assert hooks() == before and [m.training for m in net.modules()] == modes
    assert state.keys() == net.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert first.points == second.points
    np.testing.assert_array_equal(first.probs, second.probs)
    for a, b in zip(first.attention, second.attention, strict=True):
        for store in ("spatial", "channel"):
            for k in getattr(a, store):
                np.testing.assert_array_equal(getattr(a, store)[k], getattr(b, store)[k])
        for k in a.points:
            for u, v in zip(a.points[k], b.points[k], strict=True):
                np.testing.assert_array_equal(u, v)


def test_a_model_without_attention_is_a_clear_error() -> None:
    with pytest.raises(NoAttentionError, match="no attention in its decoder"):
        explain(segmenter(tiny_net(None)), plan_image())


def test_a_point_outside_the_image_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="x=70, y=3 lies outside"):
        explain(segmenter(tiny_net("cbam")), plan_image(), points=[(70, 3)])


def test_large_images_are_tiled_as_in_prediction() -> None:
    net = tiny_net(["self_attention", "cbam", "cbam"])
    seg = segmenter(net, tile=64)
    image = plan_image(100, 150)
    ex = explain(seg, image, points=[(149, 99)], overlap=0.25)
    assert ex.tiles == 6 and ex.probs.shape == (1, 100, 150)
    np.testing.assert_allclose(ex.probs, seg.probabilities(image)[None, 0].numpy(), atol=1e-6)  # prediction's own
    spatial = ex.attention[1].spatial["spatial gate"]
    assert spatial.shape == (100, 150) and np.isfinite(spatial).all()
    # blended like probabilities: where one tile alone covers a pixel, the map is that tile's own map
    alone = explain(seg, image[:64, :64], auto_points=0).attention[1].spatial["spatial gate"]
    np.testing.assert_allclose(spatial[:30, :30], alone[:30, :30], atol=1e-6)
    # a point's maps come from the tile that holds it, the last one here, and cover that tile
    assert ex.boxes[-1] == (36, 86, 100, 150)
    assert ex.attention[0].points["attention"][-1].shape == (64, 64)
