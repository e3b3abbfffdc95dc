"""FLOPs of one forward pass, counted by ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts 2).

PyTorch's counter knows matmuls, convolutions and the SDPA kernels it has formulas for; on CPUs the fused
self-attention runs ``_scaled_dot_product_flash_attention_for_cpu``, which it does not know, so without the
mapping below a model's self-attention would count as free. Only matmul / conv / attention FLOPs are counted
(not norms, activations or pooling), as in every paper's table.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count


def _sdpa_cpu_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:  # shapes, not tensors
    return sdpa_flop_count(query, key, value)


def _sdpa_cpu_backward_flops(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


CPU_SDPA_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_cpu_backward_flops,
}


def count_flops(module: nn.Module, x: Tensor) -> int:
    """FLOPs of ``module(x)`` without gradients (see the module docstring for what counts)."""
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=CPU_SDPA_FLOPS) as counter:
        module(x)
    return int(counter.get_total_flops())
