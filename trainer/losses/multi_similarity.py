"""Multi-similarity loss with its pair mining (Wang et al., CVPR 2019).

Cosine similarities S. For anchor i, its positives P_i and negatives N_i are mined:
negative n kept if ``S_in > min_p S_ip - epsilon``, positive p kept if ``S_ip < max_n S_in + epsilon``.
``L_i = 1/alpha log(1 + sum_{P_i} exp(-alpha (S_ip - base)))
+ 1/beta log(1 + sum_{N_i} exp(beta (S_in - base)))``
for anchors with at least one kept positive and one kept negative; the loss is the sum of those
L_i divided by the batch size, as in the authors' code (0 if no anchor qualifies).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import MetricLoss, check_inputs, cosine_matrix, label_masks, zero_loss


def _log1p_sum_exp(z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log(1 + sum_{mask} exp(z)) per row, stably: (B, B), (B, B) bool -> (B,)."""
    z = z.masked_fill(~mask, float("-inf"))
    return F.softplus(torch.logsumexp(z, dim=1))


class MultiSimilarityLoss(MetricLoss):
    """Multi-similarity loss; defaults alpha 2, beta 50, base (lambda) 0.5, epsilon 0.1."""

    needs_pairs = True

    def __init__(self, alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, epsilon: float = 0.1) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.base = float(base)
        self.epsilon = float(epsilon)

    def mine(self, s: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Kept (positive, negative) pair masks (B, B) from similarities s (B, B) and labels (B,)."""
        pos, neg = label_masks(labels)
        with torch.no_grad():
            min_pos = s.masked_fill(~pos, float("inf")).amin(dim=1, keepdim=True)
            max_neg = s.masked_fill(~neg, float("-inf")).amax(dim=1, keepdim=True)
        keep_neg = neg & (s + self.epsilon > min_pos)
        keep_pos = pos & (s - self.epsilon < max_neg)
        return keep_pos, keep_neg

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scalar: sum of per-anchor losses / batch size."""
        check_inputs(embeddings, labels)
        s = cosine_matrix(embeddings)
        keep_pos, keep_neg = self.mine(s, labels)
        valid = keep_pos.any(dim=1) & keep_neg.any(dim=1)
        if not bool(valid.any()):
            return zero_loss(embeddings)
        pos_term = _log1p_sum_exp(-self.alpha * (s - self.base), keep_pos) / self.alpha
        neg_term = _log1p_sum_exp(self.beta * (s - self.base), keep_neg) / self.beta
        return (pos_term + neg_term)[valid].sum() / embeddings.shape[0]
