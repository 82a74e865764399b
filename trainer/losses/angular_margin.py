"""Shared parts of the multiplicative angular margins (L-Softmax, A-Softmax / SphereFace).

``psi(theta) = (-1)^k cos(m theta) - 2k`` for ``theta`` in ``[k pi / m, (k + 1) pi / m]``,
``k = 0 .. m-1``: a monotonically decreasing extension of ``cos(m theta)`` to ``[0, pi]``.
Both papers train with the target logit blended as ``(lambda * cos + psi) / (1 + lambda)`` and
anneal ``lambda = max(lambda_min, base * (1 + gamma * iteration) ** -power)`` from very large
(plain softmax) down to ``lambda_min``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LambdaSchedule:
    """Annealing of the softmax/margin blend: ``max(lambda_min, base * (1 + gamma * it) ** -power)``.

    The defaults are SphereFace's (base 1000, gamma 0.12, power 1, lambda_min 5). ``base = 0``
    with ``lambda_min = 0`` switches the blend off (pure margin from the first step).
    """

    base: float = 1000.0
    gamma: float = 0.12
    power: float = 1.0
    lambda_min: float = 5.0

    def value(self, iteration: int) -> float:
        """lambda at training iteration ``iteration`` (0-based, one per training forward pass)."""
        return float(max(self.lambda_min, self.base * (1.0 + self.gamma * iteration) ** (-self.power)))


def chebyshev_cos(cos: torch.Tensor, m: int) -> torch.Tensor:
    """cos(m theta) from cos(theta) by the Chebyshev recurrence (no acos in the gradient path)."""
    prev, cur = torch.ones_like(cos), cos
    if m == 0:
        return prev
    for _ in range(m - 1):
        prev, cur = cur, 2.0 * cos * cur - prev
    return cur


def psi(cos: torch.Tensor, m: int) -> torch.Tensor:
    """The k-piecewise ``psi(theta)`` from ``cos(theta)`` (any shape, values in [-1, 1])."""
    if m < 1:
        raise ValueError(f"the angular margin m must be an integer >= 1, got {m}")
    cos = cos.clamp(-1.0, 1.0)
    with torch.no_grad():
        k = torch.floor(m * torch.acos(cos) / math.pi).clamp(0, m - 1)
        sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
    return sign * chebyshev_cos(cos, m) - 2.0 * k
