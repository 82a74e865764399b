"""CosFace / AM-Softmax (Wang et al. 2018): logits ``s cos(theta_j)``, target ``s (cos(theta_y) - m)``."""

from __future__ import annotations

import torch

from .base import ClassificationHead


class CosFaceHead(ClassificationHead):
    """Additive cosine margin: scale ``s`` (default 64), margin ``m`` (default 0.35)."""

    def __init__(self, embed_dim: int, num_classes: int, s: float = 64.0, m: float = 0.35) -> None:
        super().__init__(embed_dim, num_classes, scale=s)
        self.m = float(m)

    def margin_logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """s * cos with ``m`` subtracted from each target cosine: (B, D) -> (B, C)."""
        cos = self.cosine(embeddings)
        target = cos.gather(1, labels[:, None]).squeeze(1) - self.m
        return self.scale * self.replace_target(cos, labels, target)
