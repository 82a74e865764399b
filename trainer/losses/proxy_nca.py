"""Proxy-NCA (Movshovitz-Attias et al., "No Fuss Distance Metric Learning using Proxies", ICCV 2017).

One learnable proxy per class. With x and the proxies L2-normalised and multiplied by ``scale``,
and d the squared Euclidean distance:
``L_i = -log(exp(-d(x_i, p_y)) / sum_{z != y} exp(-d(x_i, p_z)))
= d(x_i, p_y) + logsumexp_{z != y}(-d(x_i, p_z))``
(the paper's NCA form: the target proxy is not in the denominator, so the loss can be negative).
The loss is the batch mean; ``logits(x) = -d(x, p_j)`` ranks classes for accuracy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import MetricLoss, check_inputs, class_means


class ProxyNCALoss(MetricLoss):
    """Proxy-NCA with proxies (num_classes, embed_dim) and distance scale ``scale`` (default 3)."""

    needs_classes = True

    def __init__(self, embed_dim: int, num_classes: int, scale: float = 3.0) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError("Proxy-NCA needs at least 2 classes")
        self.embed_dim = embed_dim
        self.num_classes = num_classes
        self.scale = float(scale)
        self.proxies = nn.Parameter(torch.randn(num_classes, embed_dim) / embed_dim**0.5)

    def _check(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        check_inputs(embeddings, labels)
        if embeddings.shape[1] != self.embed_dim:
            raise ValueError(f"embeddings have {embeddings.shape[1]} dims, Proxy-NCA expects {self.embed_dim}")
        if int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
            raise ValueError(f"labels must be in 0..{self.num_classes - 1}")

    def distances(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Squared distances (B, C) between scaled normalised embeddings and proxies."""
        x = self.scale * F.normalize(embeddings, dim=1)
        p = self.scale * F.normalize(self.proxies, dim=1)
        return torch.cdist(x, p, compute_mode="donot_use_mm_for_euclid_dist").pow(2)

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """-d(x, p_j): (B, D) -> (B, C), higher is closer."""
        return -self.distances(embeddings)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scalar batch mean of the NCA loss."""
        self._check(embeddings, labels)
        d = self.distances(embeddings)
        d_pos = d.gather(1, labels[:, None]).squeeze(1)
        others = (-d).scatter(1, labels[:, None], float("-inf"))
        return (d_pos + torch.logsumexp(others, dim=1)).mean()

    @torch.no_grad()
    def init_from_embeddings(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Point the proxies of the classes present in ``labels`` at their mean normalised embedding."""
        self._check(embeddings, labels)
        means = class_means(F.normalize(embeddings.to(self.proxies), dim=1), labels, self.num_classes)
        present = torch.bincount(labels, minlength=self.num_classes) > 0
        self.proxies[present] = F.normalize(means[present], dim=1)
