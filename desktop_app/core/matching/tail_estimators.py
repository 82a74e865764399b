"""Tail estimators of a score distribution: the threshold exceeded by a given share of the scores.

All take the largest scores sorted descending (float32 (K,)), optionally their weights (K,) (the
multiplicities a probe bootstrap gives them) and the total weight of *all* scores, also those
not given. Used by :mod:`desktop_app.core.matching.calibration`.
"""

from __future__ import annotations

import math

import numpy as np


def empirical_threshold(
    sorted_desc: np.ndarray, n_total: float, rate: float, weights: np.ndarray | None = None
) -> float:
    """Smallest t with (weighted) count(x >= t) / n_total <= rate.

    sorted_desc: the largest values (K,) sorted descending, weights: (K,) their multiplicities
    (None = 1 each), n_total: total weight of all values, also those not given. When the given
    values carry too little weight to locate t, the smallest given value is returned (stricter).
    """
    allowed = math.floor(rate * n_total + 1e-9)
    if allowed >= n_total:
        return -1.0
    if sorted_desc.size == 0:
        return 1.0
    cum = np.cumsum(weights) if weights is not None else np.arange(1, sorted_desc.size + 1)
    j = int(np.searchsorted(cum, allowed, side="right"))
    if j >= sorted_desc.size:
        return float(sorted_desc[-1])
    return float(np.nextafter(np.float32(sorted_desc[j]), np.float32(np.inf)))


def exp_tail_threshold(
    sorted_desc: np.ndarray, n_total: float, k: int, rate: float, weights: np.ndarray | None = None
) -> tuple[float, float, float]:
    """Exponential peaks-over-threshold estimate of the (1 - rate) quantile.

    u = sorted_desc[k] (the (k+1)-th largest), beta = (weighted) mean excess of the top k over u;
    P(X >= t) ~= (k / n) exp(-(t - u) / beta)  =>  t = u + beta ln(k / (n rate)).
    Returns (t, u, beta)."""
    u = float(sorted_desc[k])
    w = np.ones(k) if weights is None else weights[:k].astype(np.float64)
    kw = float(w.sum())
    if kw <= 0.0:
        return u, u, 0.0
    beta = float(np.sum(w * (sorted_desc[:k].astype(np.float64) - u)) / kw)
    if beta <= 0.0:
        return float(np.nextafter(np.float32(u), np.float32(np.inf))), u, 0.0
    return u + beta * math.log(kw / (n_total * rate)), u, beta


def norm_ppf(q: np.ndarray) -> np.ndarray:
    """Standard normal quantile function (Acklam's rational approximation, |rel. error| < 1.2e-9),
    for q in (0, 1), float64 array in and out."""
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    q = np.asarray(q, dtype=np.float64)
    out = np.empty_like(q)
    lo, hi = q < 0.02425, q > 1 - 0.02425
    mid = ~(lo | hi)
    r = q[mid] - 0.5
    r2 = r * r
    num = (((((a[0] * r2 + a[1]) * r2 + a[2]) * r2 + a[3]) * r2 + a[4]) * r2 + a[5]) * r
    den = ((((b[0] * r2 + b[1]) * r2 + b[2]) * r2 + b[3]) * r2 + b[4]) * r2 + 1.0
    out[mid] = num / den
    for mask, sign, qq in ((lo, 1.0, q[lo]), (hi, -1.0, 1.0 - q[hi])):
        t = np.sqrt(-2.0 * np.log(qq))
        num = ((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]
        den = (((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1.0
        out[mask] = sign * num / den
    return out


def gauss_tail_threshold(
    sorted_desc: np.ndarray, n_total: float, k: int, rate: float, weights: np.ndarray | None = None
) -> tuple[float, float, float]:
    """Gaussian tail fit: (weighted) least squares of the top k scores on their normal quantiles
    z_i = Phi^-1(1 - q_i), q_i the mid-rank exceedance share; extrapolated to z = Phi^-1(1 - rate).
    Returns (t, intercept, slope)."""
    w = np.ones(k) if weights is None else weights[:k].astype(np.float64)
    keep = w > 0
    if keep.sum() < 3:
        return float(sorted_desc[0]), float(sorted_desc[0]), 0.0
    q = (np.cumsum(w) - w / 2.0) / n_total
    z = norm_ppf(np.clip(1.0 - q[keep], 1e-300, 1.0 - 1e-16))
    y = sorted_desc[:k][keep].astype(np.float64)
    ww = w[keep]
    zm, ym = np.average(z, weights=ww), np.average(y, weights=ww)
    var = float(np.sum(ww * (z - zm) ** 2))
    slope = float(np.sum(ww * (z - zm) * (y - ym)) / var) if var > 0 else 0.0
    icpt = float(ym - slope * zm)
    zt = float(norm_ppf(np.array([1.0 - rate]))[0])
    return icpt + slope * zt, icpt, slope
