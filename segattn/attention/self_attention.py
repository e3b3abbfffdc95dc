"""Self-attention over all positions, SAGAN / fast.ai style (Zhang et al. 2018, "Self-Attention Generative
Adversarial Networks", arXiv:1805.08318; the ``SelfAttention`` layer of fastai's UNet).

    q = Wq x,  k = Wk x              (B, d, N)   1x1 convs to d = C / 8 channels, N = H·W positions
    v = Wv x                         (B, C, N)   1x1 conv C -> C
    a_ij = softmax_j(q_i · k_j)      (B, N, N)   no 1/sqrt(d) scaling: SAGAN has none
    o_i = Σ_j a_ij v_j               (B, C, N)
    y = x + γ · o                    (B, C, H, W)   γ a learnable scalar, initialised to 0 (a fresh block is x)

The query/key width is ``d = make_divisible(C · rd_ratio, rd_divisor)`` floored at ``min_channels`` (defaults
1/8, 1, 1: the paper's C / 8, rounded, and 1 for C < 8), or ``rd_channels``. ``spectral_norm=True`` wraps the
three convs in ``torch.nn.utils.parametrizations.spectral_norm`` as SAGAN does. The convs have no bias, as in
fastai (a key bias would only add a per-query constant that the softmax removes).

Two paths behind ``fused`` compute the same formula:

- ``fused=True``: ``F.scaled_dot_product_attention`` with ``scale=1``, which never builds the N x N matrix.
  The CPU flash kernel only runs when q, k and v share one head width (with q, k at d and v at C it silently
  falls back to the math kernel, N x N included). So k is zero-padded to C columns, and q, also C wide,
  takes its extra columns from the first C - d columns of v: they only ever meet k's zeros, so q · k is
  unchanged and no memory is spent on q's padding. One linear layer writes [k | 0 | q | v] in one buffer.
  Measured alternatives (bench/self_attention.py): one head at width C beats splitting v into C/d heads that
  share q, k (8 softmaxes instead of 1).
- ``fused=False``: the readable reference, explicit ``bmm`` + ``softmax`` with the N x N matrix in memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as apply_spectral_norm

from .layers import reduced_channels


class SelfAttention(nn.Module):
    """SAGAN self-attention ``x + γ · softmax(qᵀk) v`` over all H·W positions (arXiv:1805.08318).

    Args:
        channels: C, the input's channel count (any C >= 1).
        rd_ratio: query/key width as a fraction of C (SAGAN: 1 / 8).
        rd_divisor: the query/key width is rounded to a multiple of this.
        rd_channels: explicit query/key width (1..C), overrides ``rd_ratio``.
        min_channels: floor of the query/key width (default ``rd_divisor``).
        spectral_norm: spectral-normalise the query, key and value convs (SAGAN).
        fused: ``F.scaled_dot_product_attention`` (True) or the explicit bmm + softmax reference (False).
    """

    def __init__(
        self,
        channels: int,
        *,
        rd_ratio: float = 1 / 8,
        rd_divisor: int = 1,
        rd_channels: int | None = None,
        min_channels: int | None = None,
        spectral_norm: bool = False,
        fused: bool = True,
    ) -> None:
        super().__init__()
        owner = "SelfAttention"
        qk = reduced_channels(
            channels,
            rd_ratio=rd_ratio,
            rd_divisor=rd_divisor,
            rd_channels=rd_channels,
            min_channels=min_channels,
            owner=owner,
        )
        if qk > channels:
            raise ValueError(
                f"{owner}: the query/key width must be <= channels ({channels}), got {qk} "
                f"(from rd_channels={rd_channels}, rd_ratio={rd_ratio}, rd_divisor={rd_divisor})"
            )
        self.channels, self.qk_channels, self.fused = channels, qk, fused
        convs = [nn.Conv2d(channels, width, 1, bias=False) for width in (qk, qk, channels)]
        if spectral_norm:
            convs = [apply_spectral_norm(conv) for conv in convs]
        self.query, self.key, self.value = convs
        self.gamma = nn.Parameter(torch.zeros(()))  # zero-initialised: a fresh block returns x exactly

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, C, H, W)
        o = self._attend_fused(x) if self.fused else self._attend_reference(x)  # (B, C, H, W)
        return torch.addcmul(x, o, self.gamma)  # x + γ·o in one output buffer

    def _attend_reference(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2)  # (B, d, N)
        k = self.key(x).flatten(2)  # (B, d, N)
        v = self.value(x).flatten(2)  # (B, C, N)
        attn = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, N, N): row i = weights a_ij over positions j
        o = v @ attn.transpose(1, 2)  # (B, C, N): o_i = Σ_j a_ij v_j
        return o.view(b, c, h, w)

    def _attend_fused(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        d = self.qk_channels
        # Each weight is read exactly once per forward, as in the reference (one spectral-norm power iteration).
        wq, wk, wv = (conv.weight.flatten(1) for conv in (self.query, self.key, self.value))  # (d|C, C)
        w_all = torch.cat([wk, wk.new_zeros(c - d, c), wq, wv])  # (2C + d, C): rows give [k | 0 | q | v]
        kqv = F.linear(x.flatten(2).transpose(1, 2), w_all).unsqueeze(1)  # (B, 1, N, 2C + d)
        k = kqv[..., :c]  # (B, 1, N, C): k, then C - d zero columns
        q = kqv[..., c : 2 * c]  # (B, 1, N, C): q, then v's first C - d columns (they meet k's zeros)
        v = kqv[..., c + d :]  # (B, 1, N, C)
        o = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # (B, 1, N, C)
        return o.squeeze(1).transpose(1, 2).reshape(b, c, h, w)  # (B, C, H, W), a view

    def extra_repr(self) -> str:
        return f"channels={self.channels}, qk_channels={self.qk_channels}, fused={self.fused}"
