"""The noise of an accuracy, and when a difference between two is beyond it.

An accuracy measured on n test records is a binomial proportion: `wilson` gives its 95% interval.
Two methods compared on the same test records over the same seeds differ by

    d = mean(a) - mean(b),   its noise  se = sqrt(var_a + var_b)

where each method's variance is the larger of the binomial variance of its mean accuracy
(p(1-p) / (n * seeds)) and the seed spread of its mean (std^2 / seeds, from two seeds on). The
difference is *beyond noise* when |d| > 1.96 se; otherwise the text says "no difference within
noise". Nothing here knows about runs or files: callers pass numbers.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

Z95 = 1.96


def wilson(correct: float, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (correct out of n)."""
    if n <= 0:
        return (0.0, 1.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def sigmas_above(accuracy: float, chance: float, n: int) -> float | None:
    """How many binomial standard deviations of `chance` (on n records) `accuracy` lies above it."""
    if not 0 < chance < 1 or n <= 0:
        return None
    return (accuracy - chance) / math.sqrt(chance * (1 - chance) / n)


def _variance(values: Sequence[float], n: int | None) -> float:
    """Variance of the mean of `values` (one accuracy per seed, each on n records)."""
    k = len(values)
    mean = statistics.fmean(values)
    binomial = mean * (1 - mean) / (n * k) if n else 0.0
    spread = statistics.variance(values) / k if k >= 2 else 0.0
    return max(binomial, spread)


@dataclass(frozen=True)
class Difference:
    diff: float  # mean(a) - mean(b), as a fraction
    se: float  # its standard error (see the module docstring)
    beyond_noise: bool

    @property
    def half_width(self) -> float:
        return Z95 * self.se

    def text(self, a: str, b: str, unit: str = "points") -> str:
        """"A beats B by +3.20 ± 2.10 points", or "no difference within noise (...)"."""
        pm = f"{100 * self.diff:+.2f} ± {100 * self.half_width:.2f} {unit}"
        if not self.beyond_noise:
            return f"{a} vs {b}: no difference within noise ({pm}, 95%)"
        verb = "beats" if self.diff > 0 else "trails"
        return f"{a} {verb} {b} by {pm} (95%), beyond noise"


def compare(a: Sequence[float], b: Sequence[float], n: int | None) -> Difference:
    """`a` and `b`: accuracies (fractions) per seed of two methods on the same n test records
    (n None: seed spread only)."""
    if not a or not b:
        raise ValueError("compare needs at least one accuracy per method")
    diff = statistics.fmean(a) - statistics.fmean(b)
    se = math.sqrt(_variance(a, n) + _variance(b, n))
    return Difference(diff, se, abs(diff) > Z95 * se if se > 0 else diff != 0)
