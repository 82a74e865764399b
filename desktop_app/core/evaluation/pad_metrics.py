"""Presentation-attack detection metrics of ISO/IEC 30107-3. Pure numpy, no I/O.

- APCER (attack presentation classification error rate): the share of attack presentations of
  one attack type (PAI species) that were accepted as bona fide; the overall APCER of a system is
  the highest over the types (the standard's worst case, not a mean).
- BPCER (bona fide presentation classification error rate): the share of bona fide
  presentations that were not accepted (rejected, or left undecided when a decision was due).
- Time to decision: seconds from a presentation's first frame to its decision.

A presentation is *accepted* when its decision is ``True`` (live). ``False`` (attack) and
``None`` (no decision) are both not accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


def _accepted(decisions: Sequence[bool | None]) -> np.ndarray:
    return np.array([d is True for d in decisions], dtype=bool)


def apcer(decisions: Sequence[bool | None]) -> float:
    """Share (0..1) of the attack presentations of one type accepted as live; ValueError when empty."""
    if len(decisions) == 0:
        raise ValueError("APCER needs at least one attack presentation.")
    return float(_accepted(decisions).mean())


def bpcer(decisions: Sequence[bool | None]) -> float:
    """Share (0..1) of bona fide presentations not accepted as live; ValueError when empty."""
    if len(decisions) == 0:
        raise ValueError("BPCER needs at least one bona fide presentation.")
    return float(1.0 - _accepted(decisions).mean())


def apcer_per_type(decisions: Mapping[str, Sequence[bool | None]]) -> dict[str, float]:
    """APCER of each attack type, {type: rate}; ValueError when no type or an empty type is given."""
    if not decisions:
        raise ValueError("APCER needs at least one attack type.")
    return {kind: apcer(ds) for kind, ds in decisions.items()}


def apcer_max(decisions: Mapping[str, Sequence[bool | None]]) -> tuple[str, float]:
    """(type, APCER) of the worst attack type: the overall APCER of ISO/IEC 30107-3."""
    rates = apcer_per_type(decisions)
    kind = max(rates, key=lambda k: (rates[k], k))
    return kind, rates[kind]


def upper_bound(errors: int, n: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound (Clopper-Pearson) of an error rate with ``errors`` of ``n``;
    for zero errors this is 1 - (1 - confidence) ** (1 / n) (about 3 / n: the "rule of three")."""
    if n <= 0:
        raise ValueError("n must be positive.")
    if not 0 <= errors <= n:
        raise ValueError(f"errors must be between 0 and n ({n}), got {errors}.")
    if errors == n:
        return 1.0
    alpha = 1.0 - confidence
    lo, hi = errors / n, 1.0
    for _ in range(60):  # bisection on the binomial tail P(X <= errors; p) = alpha
        mid = (lo + hi) / 2.0
        if _binom_cdf(errors, n, mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


def _binom_cdf(k: int, n: int, p: float) -> float:
    i = np.arange(k + 1)
    logc = np.array([_log_comb(n, int(j)) for j in i])
    with np.errstate(divide="ignore"):
        terms = logc + i * np.log(p) + (n - i) * np.log1p(-p)
    return float(np.exp(terms).sum())


def _log_comb(n: int, k: int) -> float:
    from math import lgamma

    return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)


@dataclass(frozen=True)
class DecisionTimes:
    """Seconds to a decision over presentations that were decided: count, mean, median, 95th
    percentile and max (NaN when none was decided), and how many were left undecided."""

    decided: int
    undecided: int
    mean_s: float
    p50_s: float
    p95_s: float
    max_s: float


def decision_times(times: Sequence[float | None]) -> DecisionTimes:
    """Summary of the time to decision; ``None`` marks a presentation left undecided."""
    done = np.array([t for t in times if t is not None], dtype=np.float64)
    undecided = sum(t is None for t in times)
    if done.size == 0:
        nan = float("nan")
        return DecisionTimes(0, undecided, nan, nan, nan, nan)
    return DecisionTimes(int(done.size), int(undecided), float(done.mean()), float(np.percentile(done, 50)),
                         float(np.percentile(done, 95)), float(done.max()))
