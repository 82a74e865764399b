"""ArcFace (Deng et al. 2019): logits ``s cos(theta_j)``, target ``s cos(theta_y + m)``.

As in insightface: ``cos(theta + m) = cos cos_m - sin sin_m``; when ``theta + m > pi`` (that is
``cos(theta) <= th = cos(pi - m)``) the target is ``cos(theta) - mm`` with ``mm = sin(pi - m) m``
instead, keeping the target monotonic in theta; ``easy_margin`` applies the margin only where
``cos(theta) > 0``.
"""

from __future__ import annotations

import math

import torch

from .base import ClassificationHead


class ArcFaceHead(ClassificationHead):
    """Additive angular margin: scale ``s`` (default 64), margin ``m`` radians (default 0.5)."""

    def __init__(
        self, embed_dim: int, num_classes: int, s: float = 64.0, m: float = 0.5, easy_margin: bool = False
    ) -> None:
        super().__init__(embed_dim, num_classes, scale=s)
        self.m = float(m)
        self.easy_margin = bool(easy_margin)
        self.cos_m = math.cos(self.m)
        self.sin_m = math.sin(self.m)
        self.th = math.cos(math.pi - self.m)
        self.mm = math.sin(math.pi - self.m) * self.m

    def target_cosine(self, cos_t: torch.Tensor) -> torch.Tensor:
        """The margin-modified target cosine (B,) from cos(theta_y) (B,)."""
        sin_t = torch.sqrt((1.0 - cos_t * cos_t).clamp_min(1e-12))
        phi = cos_t * self.cos_m - sin_t * self.sin_m
        if self.easy_margin:
            return torch.where(cos_t > 0, phi, cos_t)
        return torch.where(cos_t > self.th, phi, cos_t - self.mm)

    def margin_logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """s * cos with each target cosine replaced by :meth:`target_cosine`: (B, D) -> (B, C)."""
        cos = self.cosine(embeddings)
        target = self.target_cosine(cos.gather(1, labels[:, None]).squeeze(1))
        return self.scale * self.replace_target(cos, labels, target)
