"""Triplet margin loss with in-batch mining (FaceNet, Schroff et al. 2015; Hermans et al. 2017).

Distances are Euclidean between (by default L2-normalised) embeddings; a triplet (a, p, n) costs
``relu(d(a, p) - d(a, n) + margin)``. Mining options:

* ``batch_hard``: per anchor with a positive and a negative, its farthest positive and nearest
  negative; mean over those anchors.
* ``semi_hard``: per positive pair (a, p), the nearest negative farther than p
  (``d(a, n) > d(a, p)``); if none, the farthest negative (as TensorFlow's
  ``triplet_semihard_loss``); mean over the positive pairs whose anchor has a negative.
* ``all``: every valid triplet, averaged over the triplets with a non-zero cost.

With no valid triplet the loss is 0 (still attached to the graph).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from .base import MetricLoss, avg_nonzero, check_inputs, label_masks, pairwise_distance, zero_loss

Mining = Literal["batch_hard", "semi_hard", "all"]
MINING_MODES: tuple[str, ...] = ("batch_hard", "semi_hard", "all")


class TripletLoss(MetricLoss):
    """Triplet loss; ``margin`` (default 0.2, FaceNet's) in distance units."""

    needs_pairs = True

    def __init__(self, margin: float = 0.2, mining: Mining = "batch_hard", normalize: bool = True) -> None:
        super().__init__()
        if mining not in MINING_MODES:
            raise ValueError(f"mining must be one of {MINING_MODES}, got {mining!r}")
        self.margin = float(margin)
        self.mining: Mining = mining
        self.normalize = bool(normalize)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scalar mean triplet cost over the mined triplets."""
        check_inputs(embeddings, labels)
        x = F.normalize(embeddings, dim=1) if self.normalize else embeddings
        d = pairwise_distance(x)
        pos, neg = label_masks(labels)
        if self.mining == "batch_hard":
            return self._batch_hard(d, pos, neg, embeddings)
        if self.mining == "semi_hard":
            return self._semi_hard(d, pos, neg, embeddings)
        return self._all(d, pos, neg, embeddings)

    def _batch_hard(self, d: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        valid = pos.any(dim=1) & neg.any(dim=1)
        if not bool(valid.any()):
            return zero_loss(like)
        inf = torch.finfo(d.dtype).max
        hardest_pos = d.masked_fill(~pos, -inf).amax(dim=1)
        hardest_neg = d.masked_fill(~neg, inf).amin(dim=1)
        return F.relu(hardest_pos - hardest_neg + self.margin)[valid].mean()

    def _semi_hard(self, d: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        # pairs (a, p) with a negative for a; for each, d(a, n) over negatives n: (B, B, B) [a, p, n]
        pairs = pos & neg.any(dim=1, keepdim=True)
        if not bool(pairs.any()):
            return zero_loss(like)
        inf = torch.finfo(d.dtype).max
        d_ap = d[:, :, None]  # (B, B, 1)
        d_an = d[:, None, :]  # (B, 1, B)
        neg3 = neg[:, None, :]
        outside = neg3 & (d_an > d_ap)
        nearest_outside = torch.where(outside, d_an, inf).amin(dim=2)  # (B, B)
        farthest = torch.where(neg3, d_an, -inf).amax(dim=2).expand_as(nearest_outside)
        chosen = torch.where(outside.any(dim=2), nearest_outside, farthest)
        return F.relu(d - chosen + self.margin)[pairs].mean()

    def _all(self, d: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        valid = pos[:, :, None] & neg[:, None, :]  # [a, p, n]
        if not bool(valid.any()):
            return zero_loss(like)
        cost = F.relu(d[:, :, None] - d[:, None, :] + self.margin)
        return avg_nonzero(cost[valid], like)
