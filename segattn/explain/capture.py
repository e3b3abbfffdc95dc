"""Capture what every decoder attention computes, with forward hooks that exist only inside ``Capture``.

A *site* is one attention module of an :class:`~segattn.models.AttentionUnet` decoder: block ``i`` (stage ``i``,
deepest first) and its slot, ``pre`` (``attention1``), ``post`` (``attention2``) or ``skip`` (``skip_gate``, the
Oktay gate). For each registered attention a probe hooks the submodule that computes the attention's own
quantity and keeps that tensor, only reshaped (a channel gate as (B, C), a spatial gate as (B, h, w)); where the
readable form is a summary (gather-excite's per-channel, per-position gate) the tensor itself is kept as ``raw``:

=================  =====================================  ===========================================================
attention          hooked output                          kept (B = batch, C channels, h x w the feature map)
=================  =====================================  ===========================================================
``se``             ``gate`` (sigmoid after ``fc2``)       channel ``gate`` (B, C): y = x · gate
``eca``            ``gate`` (sigmoid after the 1-d conv)  channel ``gate`` (B, C)
``cbam``           ``channel.gate``, ``spatial.gate``     channel ``channel gate`` (B, C), spatial ``spatial gate``
                                                          (B, h, w): y = x · Mc · Ms
``scse``           ``cse.gate``, ``sse_gate``             channel ``cSE`` (B, C), spatial ``sSE`` (B, h, w):
                                                          y = x · cSE + x · sSE
``ge``             ``gate`` (sigmoid of the resized       raw (B, C, h, w) (extent > 0) or (B, C, 1, 1); with
                   context)                               extent > 0 spatial ``gate, mean over channels`` and channel
                                                          ``gate, mean over positions``; extent 0: channel ``gate``
``gate``           ``gate_act`` (α)                       spatial ``α`` (B, h, w): skip' = skip · α
``self_attention`` the module (its input x)               γ; for requested points the rows a_i· (B, P, h, w), softmax
                                                          over all positions: o = x + γ · v aᵀ
``psa``            ``collect.attention``,                 γ; for requested points the collect weights a_i· = m_i[· - i]
                   ``distribute.attention`` (maps m)      and distribute weights a_i· = m_·[i - ·] (B, P, gh, gw)
=================  =====================================  ===========================================================

Self-attention's fused path (SDPA) never builds the attention matrix, so its rows are computed here, in the hook
only and only for the requested query points: ``softmax(q_i · k)`` with the module's own ``query`` and ``key``
convolutions on the module's own input, the reference path restricted to those rows. PSA's maps are the tensors
its branches compute; the per-point weights are gathered from them with the module's own offset index.

Points are (y, x) pixel positions of the network input; the network pads its input to a multiple of
``pad_multiple``, and a point falls in the feature cell ``floor(y · h / H_padded)``. Nothing is added to any
module's ``forward``: outside ``with Capture(net)`` the network has no hook and runs as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from segattn.attention import ATTENTION_NAMES, get_attention_class
from segattn.attention.psa import offset_index

Slot = Literal["pre", "post", "skip"]
_SLOTS: tuple[tuple[Slot, str], ...] = (("skip", "skip_gate"), ("pre", "attention1"), ("post", "attention2"))


@dataclass(frozen=True)
class Site:
    """One attention module in the decoder."""

    stage: int  # decoder block, deepest first
    slot: Slot
    name: str  # its name in the attention registry
    module: nn.Module = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"stage{self.stage}_{self.slot}"


@dataclass
class SiteMaps:
    """What one site computed in the forward passes since the last :meth:`Capture.take` (batches concatenated)."""

    raw: dict[str, Tensor] = field(default_factory=dict)  # hooked tensors as computed, e.g. "gate" (B, C, 1, 1)
    spatial: dict[str, Tensor] = field(default_factory=dict)  # label -> (B, h, w) multiplier per position
    channel: dict[str, Tensor] = field(default_factory=dict)  # label -> (B, C) multiplier per channel
    points: dict[str, Tensor] = field(default_factory=dict)  # label -> (B, P, h, w) weights of each query point
    gamma: float | None = None  # the residual scale of self-attention / PSA
    size: tuple[int, int] = (0, 0)  # (h, w) of the feature map the module works on


def find_sites(net: nn.Module) -> list[Site]:
    """Every attention module of ``net``'s decoder, deepest stage first (empty for a UNet without attention)."""
    blocks = getattr(getattr(net, "decoder", None), "blocks", None)
    if blocks is None:
        raise ValueError(f"explain needs an AttentionUnet (a decoder with blocks), got {type(net).__name__}")
    sites = []
    for stage, block in enumerate(blocks):
        for slot, attr in _SLOTS:
            module = getattr(block, attr, None)
            if module is None or isinstance(module, nn.Identity):
                continue
            sites.append(Site(stage, slot, attention_name(module), module))
    return sites


def attention_name(module: nn.Module) -> str:
    """The registry name of an attention module (its class, or the registered class it derives from)."""
    classes = {name: get_attention_class(name) for name in ATTENTION_NAMES}
    for name, cls in classes.items():
        if type(module) is cls:
            return name
    for name, cls in classes.items():
        if isinstance(module, cls):
            return name
    raise ValueError(f"{type(module).__name__} is not a registered attention module; explain cannot read it")


class Capture:
    """``with Capture(net, points=...) as cap: net(x); maps = cap.take()`` — the hooks live only inside the block.

    ``points``: (y, x) positions in the network input at which self-attention rows and PSA maps are read (the
    same points for every image of the batch); none by default, which skips that work entirely.
    """

    def __init__(self, net: nn.Module, *, points: list[tuple[int, int]] | None = None) -> None:
        self.net, self.points = net, list(points or [])
        self.sites = find_sites(net)
        self.pad_multiple = int(getattr(net, "pad_multiple", 1))
        self._maps: dict[str, SiteMaps] = {}
        self._handles: list[RemovableHandle] = []
        self._input_size: tuple[int, int] = (0, 0)  # padded (H, W) of the current forward

    def __enter__(self) -> Capture:
        try:
            self._handles.append(self.net.register_forward_pre_hook(self._record_input))
            for site in self.sites:
                self._handles.append(site.module.register_forward_pre_hook(self._record_size(site)))
                self._handles += PROBES[site.name](self, site)
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._remove()

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def take(self) -> dict[str, SiteMaps]:
        """The maps of every site (by :attr:`Site.key`) since the last call, then forget them."""
        maps, self._maps = self._maps, {}
        return maps

    def _record_input(self, module: nn.Module, args: tuple) -> None:
        h, w = args[0].shape[-2:]
        m = self.pad_multiple
        self._input_size = (-(-h // m) * m, -(-w // m) * m)

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) of the last forward's input after the network's own padding: what the feature maps cover."""
        return self._input_size

    def _record_size(self, site: Site) -> Callable[[nn.Module, tuple], None]:
        def record(_m: nn.Module, args: tuple) -> None:
            self.maps(site).size = tuple(args[0].shape[-2:])

        return record

    def maps(self, site: Site) -> SiteMaps:
        return self._maps.setdefault(site.key, SiteMaps())

    def cells(self, height: int, width: int) -> Tensor:
        """Flat indices (P,) of the cells of an ``height`` x ``width`` feature grid that hold the points."""
        big_h, big_w = self._input_size
        rows = [min(height - 1, y * height // big_h) for y, _ in self.points]
        cols = [min(width - 1, x * width // big_w) for _, x in self.points]
        return torch.tensor([r * width + c for r, c in zip(rows, cols, strict=True)], dtype=torch.long)


def _put(store: dict[str, Tensor], label: str, value: Tensor) -> None:
    value = value.detach()
    store[label] = value if label not in store else torch.cat([store[label], value])


def _on_output(module: nn.Module, fn: Callable[[Tensor], None]) -> RemovableHandle:
    return module.register_forward_hook(lambda _m, _args, out: fn(out))


# ---- the probes: one per registered attention; each returns the handles of the hooks it installed -----------------


def _channel_probe(attr: str, label: str) -> Callable[[Capture, Site], list[RemovableHandle]]:
    """SE / ECA: the gate's output is the channel multiplier ((B, C, 1, 1) for SE, (B, 1, C) for ECA)."""

    def install(cap: Capture, site: Site) -> list[RemovableHandle]:
        def keep(gate: Tensor) -> None:
            maps = cap.maps(site)
            _put(maps.raw, "gate", gate)
            _put(maps.channel, label, gate.reshape(gate.shape[0], -1))  # (B, C)

        return [_on_output(getattr(site.module, attr), keep)]

    return install


def _cbam(cap: Capture, site: Site) -> list[RemovableHandle]:
    def channel(gate: Tensor) -> None:  # (B, C, 1, 1)
        _put(cap.maps(site).channel, "channel gate", gate.flatten(1))

    def spatial(gate: Tensor) -> None:  # (B, 1, h, w)
        _put(cap.maps(site).spatial, "spatial gate", gate[:, 0])

    m = site.module
    return [_on_output(m.channel.gate, channel), _on_output(m.spatial.gate, spatial)]


def _scse(cap: Capture, site: Site) -> list[RemovableHandle]:
    def channel(gate: Tensor) -> None:  # (B, C, 1, 1)
        _put(cap.maps(site).channel, "cSE", gate.flatten(1))

    def spatial(gate: Tensor) -> None:  # (B, 1, h, w)
        _put(cap.maps(site).spatial, "sSE", gate[:, 0])

    m = site.module
    return [_on_output(m.cse.gate, channel), _on_output(m.sse_gate, spatial)]


def _ge(cap: Capture, site: Site) -> list[RemovableHandle]:
    """GE's gate is (B, C, h, w): its spatial map is the mean over channels, its channel weights the mean over
    positions; with a global gather (extent 0) it is a channel gate, (B, C, 1, 1), and has no spatial map."""

    def keep(gate: Tensor) -> None:
        maps = cap.maps(site)
        _put(maps.raw, "gate", gate)
        if site.module.extent == 0:
            _put(maps.channel, "gate", gate.flatten(1))  # (B, C)
        else:
            _put(maps.spatial, "gate, mean over channels", gate.mean(dim=1))  # (B, h, w)
            _put(maps.channel, "gate, mean over positions", gate.mean(dim=(2, 3)))  # (B, C)

    return [_on_output(site.module.gate, keep)]


def _attention_gate(cap: Capture, site: Site) -> list[RemovableHandle]:
    def keep(alpha: Tensor) -> None:  # (B, 1, h, w)
        _put(cap.maps(site).spatial, "α", alpha[:, 0])

    return [_on_output(site.module.gate_act, keep)]


def _self_attention(cap: Capture, site: Site) -> list[RemovableHandle]:
    module = site.module

    def keep(_m: nn.Module, args: tuple, _out: Tensor) -> None:
        maps = cap.maps(site)
        maps.gamma = float(module.gamma)
        if not cap.points:
            return
        x = args[0]  # (B, C, h, w): the module's input
        b, _, h, w = x.shape
        with torch.no_grad():
            idx = cap.cells(h, w).to(x.device)  # (P,)
            q = module.query(x).flatten(2)[:, :, idx]  # (B, d, P): only the requested query rows
            k = module.key(x).flatten(2)  # (B, d, N)
            rows = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, P, N), as the reference path (no 1/sqrt(d))
        _put(maps.points, "attention", rows.view(b, len(idx), h, w))

    return [module.register_forward_hook(keep)]


def _psa(cap: Capture, site: Site) -> list[RemovableHandle]:
    module = site.module
    grid = module.grid

    def branch(mode: str) -> Callable[[Tensor], None]:
        def keep(m: Tensor) -> None:  # (B, (2G-1)², gh, gw): the over-complete map predicted at every position
            maps = cap.maps(site)
            maps.gamma = float(module.gamma)
            if cap.points:
                _put(maps.points, mode, psa_point_weights(m, grid, mode, cap.cells(*m.shape[-2:])))

        return keep

    return [
        _on_output(module.collect.attention, branch("collect")),
        _on_output(module.distribute.attention, branch("distribute")),
    ]


def psa_point_weights(maps: Tensor, grid: int, mode: str, cells: Tensor) -> Tensor:
    """PSANet's weights a_ij of query positions ``cells`` (P,) over every position j, (B, P, gh, gw).

    ``maps``: (B, (2G-1)², gh, gw). collect: a_ij = m_i[j - i] (i's own map); distribute: a_ij = m_j[i - j]
    (what each j sends to i). With these, the branch output is z_i = 1/N Σ_j a_ij f_j.
    """
    b, _, h, w = maps.shape
    flat = maps.flatten(2)  # (B, (2G-1)², N)
    index = offset_index(h, w, grid, maps.device)  # (N, N): index[p, q] = offset q - p
    cells = cells.to(maps.device)
    if mode == "collect":
        offsets = index[cells]  # (P, N): offset j - i for every j
        weights = flat[:, offsets, cells[:, None]]  # (B, P, N): m_i[j - i]
    elif mode == "distribute":
        offsets = index[:, cells].T  # (P, N): offset i - j for every j
        weights = flat[:, offsets, torch.arange(h * w, device=maps.device)[None, :]]  # (B, P, N): m_j[i - j]
    else:
        raise ValueError(f"mode must be 'collect' or 'distribute', got {mode!r}")
    return weights.reshape(b, len(cells), h, w)


PROBES: dict[str, Callable[[Capture, Site], list[RemovableHandle]]] = {
    "se": _channel_probe("gate", "gate"),
    "eca": _channel_probe("gate", "gate"),
    "cbam": _cbam,
    "scse": _scse,
    "ge": _ge,
    "gate": _attention_gate,
    "self_attention": _self_attention,
    "psa": _psa,
}
