"""L-Softmax (Liu et al., "Large-Margin Softmax Loss for CNNs", ICML 2016).

Logits are ``|W_j| |x| cos(theta_j)`` (= W x, unnormalised); the target class gets
``|W_y| |x| psi(theta_y)`` with the integer multiplicative margin m (see ``angular_margin``),
blended with the plain logit as ``(lambda |W||x| cos + |W||x| psi) / (1 + lambda)`` while lambda
anneals (as in the paper's implementation; default ends at lambda_min = 0, the pure L-Softmax).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .angular_margin import LambdaSchedule, psi
from .base import ClassificationHead


class LSoftmaxHead(ClassificationHead):
    """L-Softmax head. ``iteration`` (a buffer) counts training-mode forward passes for lambda."""

    iteration: torch.Tensor

    def __init__(
        self,
        embed_dim: int,
        num_classes: int,
        m: int = 4,
        schedule: LambdaSchedule = LambdaSchedule(lambda_min=0.0),  # noqa: B008 (frozen dataclass)
    ) -> None:
        super().__init__(embed_dim, num_classes)
        if int(m) != m or m < 1:
            raise ValueError(f"L-Softmax needs an integer margin m >= 1, got {m}")
        self.m = int(m)
        self.schedule = schedule
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    def current_lambda(self) -> float:
        """lambda for the next forward pass."""
        return self.schedule.value(int(self.iteration))

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """|W_j| |x| cos(theta_j) = W x: (B, D) -> (B, C)."""
        return embeddings @ self.weight.t()

    def margin_logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Target entry ``|W_y||x| (lambda cos + psi) / (1 + lambda)``; advances ``iteration`` in training."""
        lam = self.current_lambda()
        if self.training:
            self.iteration += 1
        logits = self.logits(embeddings)
        norms = embeddings.norm(dim=1) * self.weight.norm(dim=1)[labels]  # (B,)
        cos_t = self.cosine(embeddings).gather(1, labels[:, None]).squeeze(1)
        target = norms * (lam * cos_t + psi(cos_t, self.m)) / (1.0 + lam)
        return self.replace_target(logits, labels, target)
