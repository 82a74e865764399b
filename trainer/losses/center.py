"""Center loss (Wen et al., "A Discriminative Feature Learning Approach for Deep Face Recognition", 2016).

``L_C = weight * 1/2 * mean_i |x_i - c_{y_i}|^2`` pulls each embedding toward its class centre.
The centres are a buffer, not parameters: the main optimiser never sees them. They follow the
paper's own update, applied in every training-mode forward pass after the loss is computed:
``c_j <- c_j - alpha * sum_{i: y_i = j} (c_j - x_i) / (1 + n_j)``. Use it jointly with a head,
e.g. ``get_loss("center+arcface", ...)`` (the paper pairs it with softmax; weight = lambda).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import MetricLoss, check_inputs, class_means


class CenterLoss(MetricLoss):
    """Center loss with paper-style centre updates (rate ``alpha``) and weight ``weight`` (lambda).

    ``normalize=True`` measures distances between L2-normalised embeddings (and keeps normalised
    embeddings' centres), which suits angular heads; the paper uses raw features (default).
    """

    needs_classes = True
    centers: torch.Tensor

    def __init__(
        self,
        embed_dim: int,
        num_classes: int,
        weight: float = 0.003,
        alpha: float = 0.5,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"the centre update rate alpha must be in [0, 1], got {alpha}")
        self.embed_dim = embed_dim
        self.num_classes = num_classes
        self.weight = float(weight)
        self.alpha = float(alpha)
        self.normalize = bool(normalize)
        self.register_buffer("centers", torch.zeros(num_classes, embed_dim))

    def _features(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.normalize(embeddings, dim=1) if self.normalize else embeddings

    def _check(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        check_inputs(embeddings, labels)
        if embeddings.shape[1] != self.embed_dim:
            raise ValueError(f"embeddings have {embeddings.shape[1]} dims, center loss expects {self.embed_dim}")
        if int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
            raise ValueError(f"labels must be in 0..{self.num_classes - 1}")

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """weight / 2 * mean squared distance to the class centres; updates the centres in training."""
        self._check(embeddings, labels)
        x = self._features(embeddings)
        centers = self.centers.to(x.dtype)
        loss = 0.5 * self.weight * (x - centers[labels]).pow(2).sum(dim=1).mean()
        if self.training:
            self.update_centers(x.detach(), labels)
        return loss

    @torch.no_grad()
    def update_centers(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """One paper update: ``c_j -= alpha * (n_j c_j - sum_{y_i=j} x_i) / (1 + n_j)``.

        features (B, D) are already normalised when ``normalize`` is set; labels (B,).
        """
        f = features.to(self.centers.dtype)
        counts = torch.bincount(labels, minlength=self.num_classes).to(f.dtype)[:, None]  # (C, 1)
        sums = torch.zeros_like(self.centers).index_add_(0, labels, f)
        delta = (counts * self.centers - sums) / (1.0 + counts)
        self.centers -= self.alpha * delta

    @torch.no_grad()
    def init_from_embeddings(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Set the centres of the classes present in ``labels`` to their mean (normalised) embedding."""
        self._check(embeddings, labels)
        x = self._features(embeddings).to(self.centers.dtype)
        present = torch.bincount(labels, minlength=self.num_classes) > 0
        self.centers[present] = class_means(x, labels, self.num_classes)[present]
