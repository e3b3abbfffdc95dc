"""Bootstrap interval and Wilcoxon p-value against scipy and known inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from segattn.scoring.stats import bootstrap_ci, paired_difference, wilcoxon_p


def _dice_like(n: int, seed: int) -> np.ndarray:
    return np.clip(np.random.default_rng(seed).normal(0.75, 0.1, n), 0, 1)


def test_bootstrap_matches_scipy_percentile_bootstrap() -> None:
    x = _dice_like(40, 1)
    ours = bootstrap_ci(x, n_resamples=5000, seed=3)
    ref = stats.bootstrap(
        (x,), np.mean, method="percentile", n_resamples=5000, confidence_level=0.95, rng=np.random.default_rng(3)
    )
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=1e-12)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=1e-12)


def test_bootstrap_covers_the_mean_and_is_deterministic() -> None:
    x = _dice_like(25, 2)
    a, b = bootstrap_ci(x, seed=7), bootstrap_ci(x, seed=7)
    assert a == b
    assert a.low < x.mean() < a.high
    assert a.mean == pytest.approx(x.mean())
    assert bootstrap_ci(x, seed=8) != a  # the seed matters
    wider = bootstrap_ci(x, seed=7, confidence=0.99)
    assert wider.low <= a.low and wider.high >= a.high


def test_bootstrap_constant_and_empty_inputs() -> None:
    ci = bootstrap_ci([0.5] * 10)
    assert (ci.mean, ci.low, ci.high) == (0.5, 0.5, 0.5)
    assert bootstrap_ci([]).n == 0
    with pytest.raises(ValueError, match="finite"):
        bootstrap_ci([0.5, float("nan")])


def test_wilcoxon_matches_scipy() -> None:
    a, b = _dice_like(30, 4), _dice_like(30, 5)
    assert wilcoxon_p(b - a) == pytest.approx(stats.wilcoxon(b - a).pvalue)
    # exact small case by hand: differences +1, +2, +3 -> W- = 0; exact two-sided p = 2 * (1 / 2**3) = 0.25
    assert wilcoxon_p([1.0, 2.0, 3.0]) == pytest.approx(0.25)
    assert wilcoxon_p([0.0, 0.0]) is None


def test_paired_difference_of_a_known_shift() -> None:
    a = np.linspace(0.5, 0.7, 20)
    gain = np.linspace(0.01, 0.03, 20)  # distinct, all positive
    d = paired_difference(a, a + gain)
    assert d.difference.mean == pytest.approx(0.02)
    assert 0.01 < d.difference.low < 0.02 < d.difference.high < 0.03
    assert d.n_pairs == 20 and d.n_nonzero == 20
    assert d.p_value == pytest.approx(2 / 2**20)  # every difference positive: exact two-sided p = 2 * 2^-20
    with pytest.raises(ValueError, match="same number"):
        paired_difference(a, a[:5])
