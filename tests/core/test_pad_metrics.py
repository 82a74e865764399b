"""ISO/IEC 30107-3 metrics against naive counting on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from desktop_app.core.evaluation.pad_metrics import (
    apcer,
    apcer_max,
    apcer_per_type,
    bpcer,
    decision_times,
    upper_bound,
)


def _random_decisions(rng: np.random.Generator, n: int) -> list[bool | None]:
    return [[True, False, None][int(i)] for i in rng.integers(0, 3, n)]


def test_rates_match_naive_counts() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        ds = _random_decisions(rng, int(rng.integers(1, 30)))
        accepted = 0
        for d in ds:
            if d is True:
                accepted += 1
        assert apcer(ds) == pytest.approx(accepted / len(ds))
        assert bpcer(ds) == pytest.approx((len(ds) - accepted) / len(ds))  # undecided bona fide: rejected


def test_overall_apcer_is_the_worst_type() -> None:
    rng = np.random.default_rng(3)
    types = {k: _random_decisions(rng, 20) for k in ("print", "screen", "replay")}
    rates = apcer_per_type(types)
    naive = {k: sum(1 for d in v if d is True) / len(v) for k, v in types.items()}
    assert rates == pytest.approx(naive)
    kind, worst = apcer_max(types)
    assert worst == max(naive.values()) and naive[kind] == worst


def test_empty_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        apcer([])
    with pytest.raises(ValueError):
        bpcer([])
    with pytest.raises(ValueError):
        apcer_per_type({})
    with pytest.raises(ValueError):
        upper_bound(1, 0)


def test_upper_bound_rule_of_three_and_monotone() -> None:
    assert upper_bound(0, 100) == pytest.approx(1 - 0.05 ** (1 / 100), rel=1e-6)
    assert upper_bound(0, 300) == pytest.approx(3 / 300, rel=0.01)
    bounds = [upper_bound(k, 50) for k in range(6)]
    assert all(b > k / 50 for k, b in enumerate(bounds))
    assert bounds == sorted(bounds)
    # against a naive binomial tail: P(X <= k; p=bound) is alpha
    k, n = 2, 40
    p = upper_bound(k, n)
    tail = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
    assert tail == pytest.approx(0.05, abs=1e-6)


def test_decision_times_summary() -> None:
    t = decision_times([1.0, None, 3.0, 2.0, None])
    assert (t.decided, t.undecided) == (3, 2)
    assert t.mean_s == pytest.approx(2.0) and t.p50_s == pytest.approx(2.0) and t.max_s == 3.0
    assert math.isnan(decision_times([None]).mean_s)
