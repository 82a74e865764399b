"""A-Softmax / SphereFace (Liu et al., "SphereFace: Deep Hypersphere Embedding", CVPR 2017).

Class weights are normalised (|W_j| = 1, no bias); logits are ``|x| cos(theta_j)``; the target
gets ``|x| psi(theta_y)`` with the integer multiplicative angular margin m (default 4), blended as
``|x| (lambda cos + psi) / (1 + lambda)`` with the paper's annealing
``lambda = max(5, 1000 (1 + 0.12 it) ** -1)``.
"""

from __future__ import annotations

import torch

from .angular_margin import LambdaSchedule, psi
from .base import ClassificationHead


class ASoftmaxHead(ClassificationHead):
    """A-Softmax head. ``iteration`` (a buffer) counts training-mode forward passes for lambda."""

    iteration: torch.Tensor

    def __init__(
        self,
        embed_dim: int,
        num_classes: int,
        m: int = 4,
        schedule: LambdaSchedule = LambdaSchedule(),  # noqa: B008 (frozen dataclass)
    ) -> None:
        super().__init__(embed_dim, num_classes)
        if int(m) != m or m < 1:
            raise ValueError(f"A-Softmax needs an integer margin m >= 1, got {m}")
        self.m = int(m)
        self.schedule = schedule
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    def current_lambda(self) -> float:
        """lambda for the next forward pass."""
        return self.schedule.value(int(self.iteration))

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """|x| cos(theta_j): (B, D) -> (B, C)."""
        out: torch.Tensor = embeddings.norm(dim=1, keepdim=True) * self.cosine(embeddings)
        return out

    def margin_logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Target entry ``|x| (lambda cos + psi) / (1 + lambda)``; advances ``iteration`` in training."""
        lam = self.current_lambda()
        if self.training:
            self.iteration += 1
        xnorm = embeddings.norm(dim=1)
        cos = self.cosine(embeddings)
        cos_t = cos.gather(1, labels[:, None]).squeeze(1)
        target = xnorm * (lam * cos_t + psi(cos_t, self.m)) / (1.0 + lam)
        return self.replace_target(xnorm[:, None] * cos, labels, target)
