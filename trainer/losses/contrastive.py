"""Contrastive loss with positive and negative margins (pytorch-metric-learning style).

Over all unordered pairs i < j of the batch, with d the Euclidean distance between (by default
L2-normalised) embeddings: positive pairs cost ``relu(d - pos_margin)``, negative pairs
``relu(neg_margin - d)``; each group is averaged over its non-zero terms (or over all its pairs
with ``avg_nonzero=False``) and the two averages are added. A group with no pair costs 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import MetricLoss, avg_nonzero, check_inputs, label_masks, pairwise_distance, zero_loss


class ContrastiveLoss(MetricLoss):
    """Pair loss; defaults ``pos_margin=0``, ``neg_margin=1`` on the unit sphere (distances 0..2)."""

    needs_pairs = True

    def __init__(
        self,
        pos_margin: float = 0.0,
        neg_margin: float = 1.0,
        normalize: bool = True,
        avg_nonzero: bool = True,
    ) -> None:
        super().__init__()
        self.pos_margin = float(pos_margin)
        self.neg_margin = float(neg_margin)
        self.normalize = bool(normalize)
        self.avg_nonzero = bool(avg_nonzero)

    def _reduce(self, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        if self.avg_nonzero:
            return avg_nonzero(values, like)
        return values.mean() if values.numel() else zero_loss(like)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scalar: reduced positive-pair cost + reduced negative-pair cost."""
        check_inputs(embeddings, labels)
        x = F.normalize(embeddings, dim=1) if self.normalize else embeddings
        d = pairwise_distance(x)
        pos, neg = label_masks(labels)
        upper = torch.ones_like(pos).triu(diagonal=1)
        pos_cost = F.relu(d[pos & upper] - self.pos_margin)
        neg_cost = F.relu(self.neg_margin - d[neg & upper])
        return self._reduce(pos_cost, embeddings) + self._reduce(neg_cost, embeddings)
