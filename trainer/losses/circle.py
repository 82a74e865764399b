"""Circle loss (Sun et al., "Circle Loss: A Unified Perspective of Pair Similarity Optimization", CVPR 2020).

Per anchor i with cosine similarities s_p to its positives and s_n to its negatives:
``L_i = softplus(logsumexp_n(gamma a_n (s_n - m)) + logsumexp_p(-gamma a_p (s_p - (1 - m))))``
with the self-paced weights ``a_p = relu(1 + m - s_p)``, ``a_n = relu(s_n + m)`` treated as
constants (detached, as in the paper). The loss is the mean over anchors that have at least one
positive and one negative (0 if none). Defaults are the paper's face-recognition setting
(m = 0.25, gamma = 256).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import MetricLoss, check_inputs, cosine_matrix, label_masks, zero_loss


class CircleLoss(MetricLoss):
    """Pair-based circle loss with relaxation ``m`` and scale ``gamma``."""

    needs_pairs = True

    def __init__(self, m: float = 0.25, gamma: float = 256.0) -> None:
        super().__init__()
        self.m = float(m)
        self.gamma = float(gamma)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scalar mean over valid anchors of the per-anchor circle loss."""
        check_inputs(embeddings, labels)
        s = cosine_matrix(embeddings)
        pos, neg = label_masks(labels)
        valid = pos.any(dim=1) & neg.any(dim=1)
        if not bool(valid.any()):
            return zero_loss(embeddings)
        a_p = F.relu(1.0 + self.m - s).detach()
        a_n = F.relu(s + self.m).detach()
        logit_p = -self.gamma * a_p * (s - (1.0 - self.m))
        logit_n = self.gamma * a_n * (s - self.m)
        lse_p = torch.logsumexp(logit_p.masked_fill(~pos, float("-inf")), dim=1)
        lse_n = torch.logsumexp(logit_n.masked_fill(~neg, float("-inf")), dim=1)
        return F.softplus(lse_p[valid] + lse_n[valid]).mean()
