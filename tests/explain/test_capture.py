"""The captured maps are the modules' real multipliers and weights: with them, each module's output is rebuilt."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segattn.attention import ATTENTION_NAMES
from segattn.explain import Capture, find_sites
from segattn.explain.capture import PROBES

from .helpers import tiny_net


def _run(net, x, *, points=None):
    """(maps by site key, {site key: (module input, module output)}) of one forward under the capture."""
    seen = {}
    handles = [
        s.module.register_forward_hook(lambda m, a, o, k=s.key: seen.__setitem__(k, (a[0], o))) for s in find_sites(net)
    ]
    try:
        with torch.no_grad(), Capture(net, points=points) as cap:
            net(x)
            maps = cap.take()
    finally:
        for h in handles:
            h.remove()
    return maps, seen


def test_every_registered_attention_has_a_probe() -> None:
    assert set(PROBES) == set(ATTENTION_NAMES)


X = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
S = 32  # self-attention tests: a 32² input, stages 8², 16², 32²


@pytest.mark.parametrize(
    "spec",
    ["se", "eca", "cbam", "scse", {"name": "scse", "aggregation": "max"}, "ge", {"name": "ge", "extent": 2}, "gate"],
    ids=["se", "eca", "cbam", "scse", "scse-max", "ge", "ge-extent2", "gate"],
)
def test_gate_maps_times_the_input_are_the_output(spec) -> None:
    net = tiny_net(spec)
    maps, seen = _run(net, X)
    name = spec if isinstance(spec, str) else spec["name"]
    assert set(maps) == set(seen) and seen
    for key, (x, y) in seen.items():
        m = maps[key]
        channel = {k: v[:, :, None, None] for k, v in m.channel.items()}  # (B, C, 1, 1)
        spatial = {k: v[:, None] for k, v in m.spatial.items()}  # (B, 1, h, w)
        if name in ("se", "eca"):
            rebuilt = x * channel["gate"]
        elif name == "cbam":
            rebuilt = x * channel["channel gate"] * spatial["spatial gate"]
        elif name == "scse":
            a, b = x * channel["cSE"], x * spatial["sSE"]
            rebuilt = torch.maximum(a, b) if spec != "scse" else a + b
        elif name == "ge":
            rebuilt = x * m.raw["gate"]
            if spec == "ge":  # global gather: a channel gate, no spatial map
                assert not m.spatial and torch.equal(m.channel["gate"], m.raw["gate"].flatten(1))
            else:  # the documented summaries of its (B, C, h, w) gate
                assert m.raw["gate"].shape == x.shape
                torch.testing.assert_close(m.spatial["gate, mean over channels"], m.raw["gate"].mean(1))
                torch.testing.assert_close(m.channel["gate, mean over positions"], m.raw["gate"].mean((2, 3)))
        else:  # the Oktay gate rescales the skip
            rebuilt = x * spatial["α"]
        torch.testing.assert_close(rebuilt, y, rtol=0, atol=1e-6)
        for v in [*m.channel.values(), *m.spatial.values()]:
            assert v.min() > 0 and v.max() < 1  # sigmoid gates


def test_self_attention_rows_sum_to_one_and_rebuild_the_fused_output() -> None:
    net = tiny_net("self_attention")
    assert all(s.module.fused for s in find_sites(net))  # the SDPA path: the matrix is never built there
    points = [(y, x) for y in range(S) for x in range(S)]  # every pixel: every row of every stage
    maps, seen = _run(net, X[:, :, :S, :S], points=points)
    for site in find_sites(net):
        x, y = seen[site.key]
        b, c, h, w = x.shape
        rows = maps[site.key].points["attention"]  # (B, P, h, w): P = S² pixels, several per cell
        stride = S // h
        cells = rows.flatten(2)[:, [r * S * stride + q * stride for r in range(h) for q in range(w)]]  # (B, N, N)
        torch.testing.assert_close(cells.sum(-1), torch.ones(b, h * w), rtol=0, atol=1e-5)
        v = site.module.value(x).flatten(2)  # (B, C, N)
        with torch.no_grad():
            rebuilt = x + site.module.gamma * (v @ cells.transpose(1, 2)).view(b, c, h, w)  # o = x + γ · v aᵀ
        torch.testing.assert_close(rebuilt, y, rtol=0, atol=1e-5)
        assert maps[site.key].gamma == pytest.approx(0.7)


def test_self_attention_rows_of_chosen_points_are_those_rows() -> None:
    net = tiny_net("self_attention")
    every, _ = _run(net, X[:, :, :S, :S], points=[(y, x) for y in range(S) for x in range(S)])
    chosen, _ = _run(net, X[:, :, :S, :S], points=[(5, 30), (20, 3)])
    for key, m in chosen.items():
        rows = m.points["attention"]
        torch.testing.assert_close(rows[:, 0], every[key].points["attention"][:, 5 * S + 30])
        torch.testing.assert_close(rows[:, 1], every[key].points["attention"][:, 20 * S + 3])


def test_psa_maps_rebuild_its_output() -> None:
    net = tiny_net("psa")  # stages 16² (= the grid: no pooling), 32² and 64² (pooled to 16²)
    features = {}
    handles = []
    for s in find_sites(net):
        for mode in ("collect", "distribute"):
            branch = getattr(s.module, mode).reduce
            handles.append(branch.register_forward_hook(lambda m, a, o, k=(s.key, mode): features.__setitem__(k, o)))
    points = [(y, x) for y in range(0, 64, 4) for x in range(0, 64, 4)]  # one pixel in each cell of a 16² grid
    try:
        maps, seen = _run(net, X, points=points)
    finally:
        for h in handles:
            h.remove()
    for site in find_sites(net):
        x, y = seen[site.key]
        psa = site.module
        zs = []
        for mode in ("collect", "distribute"):
            f = features[(site.key, mode)]  # (B, C', g, g)
            b, c, g, _ = f.shape
            weights = maps[site.key].points[mode]  # (B, P, g, g): P = 256 points, in raster order of the grid
            a = weights.flatten(2)  # (B, N_i, N_j): a_ij
            zs.append((f.flatten(2) @ a.transpose(1, 2) / (g * g)).view(b, c, g, g))  # z_i = 1/N Σ_j a_ij f_j
        with torch.no_grad():
            z = psa.project(torch.cat(zs, dim=1))
            if z.shape[-2:] != x.shape[-2:]:
                z = F.interpolate(z, size=x.shape[-2:], mode="bilinear", align_corners=False)
            rebuilt = x + psa.gamma * z
        torch.testing.assert_close(rebuilt, y, rtol=0, atol=1e-5)


def test_no_hook_is_left_after_a_capture_even_when_the_forward_fails() -> None:
    net = tiny_net("cbam")

    def hooks():
        return [(n, dict(m._forward_hooks), dict(m._forward_pre_hooks)) for n, m in net.named_modules()]

    before = hooks()
    with pytest.raises(RuntimeError), Capture(net):
        net(torch.zeros(1, 5, 64, 64))  # wrong channel count
    assert hooks() == before
