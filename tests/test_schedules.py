"""WarmupCosineLR: the documented curve, and it fits the (optimizer, total_steps) factory contract."""

from __future__ import annotations

import math

import pytest
import torch

from segattn.schedules import WarmupCosineLR


def _lrs(total: int, **kwargs) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = WarmupCosineLR(opt, total, **kwargs)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_then_cosine() -> None:
    lrs = _lrs(100, warmup_fraction=0.1, start_factor=0.0, final_factor=0.05)
    assert lrs[0] == 0.0
    assert lrs[5] == pytest.approx(2.0 * 5 / 10)  # linear warm-up over 10 steps
    assert lrs[10] == pytest.approx(2.0)  # peak right after warm-up
    mid = 10 + (99 - 10) / 2
    assert lrs[55] == pytest.approx(2.0 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (55 - 10) / 89))))
    assert lrs[int(mid)] < 2.0 * 0.6
    assert lrs[-1] == pytest.approx(2.0 * 0.05)  # the last step reaches the final factor
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))  # monotone decay


def test_no_warmup_starts_at_peak() -> None:
    assert _lrs(10, warmup_fraction=0.0)[0] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "kwargs", [{"total_steps": 0}, {"warmup_fraction": 1.0}, {"start_factor": -0.1}, {"final_factor": 2.0}]
)
def test_bad_arguments(kwargs: dict) -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    args = {"total_steps": 10, **kwargs}
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        WarmupCosineLR(opt, args.pop("total_steps"), **args)
