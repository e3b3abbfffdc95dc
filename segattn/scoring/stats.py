"""Uncertainty of a mean Dice and of a paired difference between two runs scored on the same images.

- ``bootstrap_ci``: percentile bootstrap (Efron & Tibshirani 1993, ch. 13) of the mean — resample the images
  with replacement ``n_resamples`` times, take the ``(1 - c)/2`` and ``(1 + c)/2`` quantiles of the resampled
  means. Deterministic for a given ``seed``.
- ``paired_difference``: the same interval on the per-image differences ``b - a``, plus the two-sided Wilcoxon
  signed-rank p-value (``scipy.stats.wilcoxon``, zero differences dropped as in Wilcoxon's original test).

These describe the variation over *images* for fixed trained models; seed-to-seed variation of training is a
different question, answered by training several seeds (``segattn ablate --seeds``).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap confidence interval over ``n`` values."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class PairedDifference:
    """Mean of ``b - a`` over paired images with its bootstrap interval and the Wilcoxon p-value."""

    difference: Interval
    p_value: float | None  # None when undefined: fewer than one non-zero difference
    n_pairs: int
    n_nonzero: int

    def to_dict(self) -> dict[str, object]:
        return {
            **self.difference.to_dict(),
            "p_value": self.p_value,
            "n_pairs": self.n_pairs,
            "n_nonzero": self.n_nonzero,
        }


def _finite(values: np.ndarray | list[float], what: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise ValueError(f"{what} must be finite (drop excluded images first); got {bad} NaN/inf values")
    return x


def bootstrap_ci(
    values: np.ndarray | list[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    chunk: int = 1_000,
) -> Interval:
    """Percentile bootstrap confidence interval of the mean of ``values`` (1-D, finite)."""
    x = _finite(values, "bootstrap values")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    n = x.size
    if n == 0:
        nan = float("nan")
        return Interval(nan, nan, nan, 0, confidence)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, chunk):  # chunks keep memory at chunk * n indices
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))  # (chunk, n) resampled image indices
        means[start:stop] = x[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(float(x.mean()), float(low), float(high), n, confidence)


def wilcoxon_p(differences: np.ndarray | list[float]) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value of paired differences; None when every difference is zero."""
    d = _finite(differences, "paired differences")
    if np.count_nonzero(d) == 0:
        return None
    with warnings.catch_warnings():  # scipy warns that the exact test is unavailable with ties; it falls back
        warnings.simplefilter("ignore", UserWarning)
        return float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_difference(
    a: np.ndarray | list[float],
    b: np.ndarray | list[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> PairedDifference:
    """``b - a`` per pair: bootstrap interval of its mean and the Wilcoxon signed-rank p-value."""
    a, b = _finite(a, "baseline scores"), _finite(b, "compared scores")
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same number of images, got {a.size} and {b.size}")
    d = b - a
    ci = bootstrap_ci(d, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return PairedDifference(ci, wilcoxon_p(d) if d.size else None, int(d.size), int(np.count_nonzero(d)))


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values (family-wise error) for several comparisons; None entries are skipped."""
    idx = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    out: list[float | None] = [None] * len(p_values)
    running, m = 0.0, len(idx)
    for rank, (p, i) in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out
