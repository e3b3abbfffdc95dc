"""SAGAN self-attention: the SDPA path equals the bmm + softmax reference, both equal the paper's formula written
out here, the fused path really runs the CPU flash kernel, gradients are right, a fresh block is the identity."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from segattn.attention import create_attention
from segattn.attention.self_attention import SelfAttention

SIZES = ((7, 9), (1, 1), (5, 3), (16, 16))


def build(channels: int, *, gamma: float = 0.7, seed: int = 0, **options) -> SelfAttention:
    torch.manual_seed(seed)
    module = SelfAttention(channels, **options)
    with torch.no_grad():
        module.gamma.fill_(gamma)  # zero-initialised: without this both paths would trivially return x
    return module


def paired(module: SelfAttention) -> tuple[SelfAttention, SelfAttention]:
    """The same weights (and spectral-norm state) once fused, once reference."""
    fused, reference = copy.deepcopy(module), copy.deepcopy(module)
    fused.fused, reference.fused = True, False
    return fused, reference


def sagan_formula(module: SelfAttention, x: torch.Tensor) -> torch.Tensor:
    """y_i = x_i + γ Σ_j softmax_j(q_i · k_j) v_j with q, k, v from the module's 1x1 conv weights."""
    wq, wk, wv = (conv.weight[:, :, 0, 0] for conv in (module.query, module.key, module.value))
    feats = x.flatten(2)  # (B, C, N)
    q, k, v = (torch.einsum("oc,bcn->bno", w, feats) for w in (wq, wk, wv))  # (B, N, d|d|C)
    logits = torch.einsum("bid,bjd->bij", q, k)  # (B, N, N), no 1/sqrt(d)
    o = torch.einsum("bij,bjc->bci", logits.softmax(dim=-1), v)  # (B, C, N)
    return x + module.gamma * o.view_as(x)


@pytest.mark.parametrize("spectral_norm", [False, True], ids=["plain", "spectral"])
@pytest.mark.parametrize("channels", [1, 3, 16, 64])
@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
def test_fused_matches_reference_float32(size: tuple[int, int], channels: int, spectral_norm: bool) -> None:
    fused, reference = paired(build(channels, spectral_norm=spectral_norm))
    x = torch.randn(2, channels, *size)
    x_f, x_r = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_f, y_r = fused(x_f), reference(x_r)
    torch.testing.assert_close(y_f, y_r, atol=1e-5, rtol=1e-5)

    grad = torch.randn_like(y_f)
    y_f.backward(grad)
    y_r.backward(grad)
    torch.testing.assert_close(x_f.grad, x_r.grad, atol=1e-4, rtol=1e-4)
    for (name, p_f), p_r in zip(fused.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p_f.grad, p_r.grad, atol=1e-4, rtol=1e-4, msg=f"gradient of {name}")
    if spectral_norm:  # one power iteration per forward in both paths: the state stays equal
        torch.testing.assert_close(fused.state_dict(), reference.state_dict())


@pytest.mark.parametrize("spectral_norm", [False, True], ids=["plain", "spectral"])
@pytest.mark.parametrize("size", [(7, 9), (4, 6)], ids=["7x9", "4x6"])
def test_fused_and_reference_match_the_formula_float64(size: tuple[int, int], spectral_norm: bool) -> None:
    module = build(24, spectral_norm=spectral_norm).double().eval()  # eval: spectral norm keeps its vectors
    fused, reference = paired(module)
    x = torch.randn(2, 24, *size, dtype=torch.float64)
    expected = sagan_formula(module, x)
    torch.testing.assert_close(fused(x), expected, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(reference(x), expected, atol=1e-12, rtol=1e-12)


def test_fused_path_runs_the_flash_kernel_on_cpu() -> None:
    """Restricted to flash attention, SDPA raises if the shapes need the math kernel (which builds N x N)."""
    module = build(64)
    x = torch.randn(2, 64, 7, 9)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        y = module(x)
    assert y.shape == x.shape


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
def test_gradcheck(fused: bool) -> None:
    module = build(4, fused=fused).double()
    x = torch.randn(1, 4, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,))


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
def test_gradcheck_spectral_norm_eval(fused: bool) -> None:
    # eval(): in train() every call runs a power iteration, so repeated calls would not be one function
    module = build(8, fused=fused, spectral_norm=True).double().eval()
    x = torch.randn(1, 8, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,))


@pytest.mark.parametrize("spectral_norm", [False, True], ids=["plain", "spectral"])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("size", [(7, 9), (1, 1), (100, 37)], ids=["7x9", "1x1", "100x37"])
def test_fresh_module_is_the_identity(size: tuple[int, int], fused: bool, spectral_norm: bool) -> None:
    torch.manual_seed(0)
    module = SelfAttention(8, fused=fused, spectral_norm=spectral_norm)
    x = torch.randn(2, 8, *size)
    assert torch.equal(module(x), x)
    assert [n for n, p in module.named_parameters() if not p.any()] == ["gamma"]


@pytest.mark.parametrize("spectral_norm", [False, True], ids=["plain", "spectral"])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
def test_every_parameter_gets_a_gradient(fused: bool, spectral_norm: bool) -> None:
    module = build(16, fused=fused, spectral_norm=spectral_norm)
    x = torch.randn(2, 16, 7, 9)
    (module(x) * torch.randn(2, 16, 7, 9)).sum().backward()
    zero = [n for n, p in module.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not zero


def test_output_dtype_is_kept_under_autocast() -> None:
    module = build(16)
    x = torch.randn(2, 16, 7, 9)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = module(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, module(x), atol=0.1, rtol=0.05)


@pytest.mark.parametrize(("channels", "qk"), [(1, 1), (3, 1), (8, 1), (12, 2), (64, 8), (256, 32)])
def test_query_key_width_and_parameter_count(channels: int, qk: int) -> None:
    module = create_attention("self_attention", channels)
    assert module.qk_channels == qk
    # no biases: 2 C d (query, key) + C² (value) + γ
    assert sum(p.numel() for p in module.parameters()) == 2 * channels * qk + channels**2 + 1


def test_options() -> None:
    assert SelfAttention(64, rd_channels=16).qk_channels == 16
    assert SelfAttention(64, rd_ratio=1 / 4, rd_divisor=8).qk_channels == 16
    with pytest.raises(ValueError, match="query/key width must be <= channels"):
        SelfAttention(4, rd_channels=8)
    with pytest.raises(ValueError, match="rd_channels must be an int >= 1"):
        SelfAttention(4, rd_channels=0)
    with pytest.raises(TypeError, match="heads"):
        create_attention("self_attention", 8, heads=2)
