"""Base classes and shared helpers of the heads and losses.

Every loss is a :class:`MetricLoss`: ``loss(embeddings, labels)`` with embeddings (B, D) float
and labels (B,) int64 class indices, returning a scalar tensor. Classification heads
(:class:`ClassificationHead`) own one weight row per class, compute cosine logits from normalised
features and normalised weights, apply their margin to the target-class entry only (the
insightface ``arcface_torch`` way), and expose ``logits(embeddings)`` (margin-free, for accuracy).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn


def check_inputs(embeddings: torch.Tensor, labels: torch.Tensor) -> None:
    """Raise ValueError unless embeddings is (B, D) floating and labels is (B,) integer, B >= 1."""
    if embeddings.ndim != 2 or not embeddings.is_floating_point():
        raise ValueError(f"embeddings must be a (B, D) float tensor, got {tuple(embeddings.shape)} {embeddings.dtype}")
    if labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
        raise ValueError(f"labels must be (B,) = ({embeddings.shape[0]},), got {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices, got {labels.dtype}")
    if embeddings.shape[0] == 0:
        raise ValueError("empty batch")


def zero_loss(embeddings: torch.Tensor) -> torch.Tensor:
    """A scalar 0 still attached to the graph (backward gives zero gradients, not an error)."""
    return embeddings.sum() * 0.0


def pairwise_distance(x: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between the rows of x (B, D) -> (B, B), exact zeros on the diagonal.

    Computed from differences (not the Gram trick), so identical rows give exactly 0 and the
    gradient there is 0, not NaN.
    """
    return torch.cdist(x, x, p=2.0, compute_mode="donot_use_mm_for_euclid_dist")


def cosine_matrix(x: torch.Tensor) -> torch.Tensor:
    """Cosine similarities between the rows of x (B, D) -> (B, B) in [-1, 1]."""
    xn = F.normalize(x, dim=1)
    return xn @ xn.t()


def label_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) (B, B) bool masks: same label without the diagonal, different label."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def avg_nonzero(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Mean of the strictly positive entries of ``values`` (any shape); 0 (attached to ``like``) if none."""
    positive = values > 0
    count = int(positive.sum())
    if count == 0:
        return zero_loss(like)
    return values[positive].sum() / count


class MetricLoss(nn.Module):
    """(embeddings (B, D) float, labels (B,) int64) -> scalar loss.

    Class attributes: ``needs_classes`` (the constructor takes ``embed_dim`` and ``num_classes``);
    ``needs_pairs`` (the loss compares crops of one batch, so a batch needs at least two crops of
    a person and at least two people).
    """

    needs_classes: ClassVar[bool] = False
    needs_pairs: ClassVar[bool] = False

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class ClassificationHead(MetricLoss):
    """Base of the softmax-family heads: a (num_classes, embed_dim) weight and cross-entropy.

    Subclasses implement :meth:`margin_logits` (training logits, margin on the target class) and
    may override :meth:`logits` (prediction logits, no margin; default ``scale * cosine``).
    """

    needs_classes: ClassVar[bool] = True

    def __init__(self, embed_dim: int, num_classes: int, scale: float = 1.0) -> None:
        super().__init__()
        if embed_dim < 1 or num_classes < 2:
            raise ValueError(f"need embed_dim >= 1 and num_classes >= 2, got {embed_dim}, {num_classes}")
        self.embed_dim = embed_dim
        self.num_classes = num_classes
        self.scale = float(scale)
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        nn.init.normal_(self.weight, std=embed_dim**-0.5)  # rows of about unit norm

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """cos(theta_j) between each embedding and each class weight: (B, D) -> (B, C) in [-1, 1]."""
        return F.linear(F.normalize(embeddings, dim=1), F.normalize(self.weight, dim=1)).clamp(-1.0, 1.0)

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Margin-free class scores (B, C) for prediction / accuracy (argmax = predicted class)."""
        return self.scale * self.cosine(embeddings)

    def margin_logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Training logits (B, C): like :meth:`logits` but with the margin on each target entry."""
        raise NotImplementedError

    def check_labels(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Raise ValueError on bad shapes, a wrong embedding size, or labels outside 0..C-1."""
        check_inputs(embeddings, labels)
        if embeddings.shape[1] != self.embed_dim:
            raise ValueError(f"embeddings have {embeddings.shape[1]} dims, the head expects {self.embed_dim}")
        if int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
            raise ValueError(
                f"labels must be in 0..{self.num_classes - 1}, got {int(labels.min())}..{int(labels.max())}"
            )

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of :meth:`margin_logits` against ``labels``."""
        self.check_labels(embeddings, labels)
        return F.cross_entropy(self.margin_logits(embeddings, labels), labels)

    @staticmethod
    def replace_target(logits: torch.Tensor, labels: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Copy of logits (B, C) with entry (i, labels[i]) set to target[i] (B,); differentiable."""
        return logits.scatter(1, labels[:, None], target[:, None])

    @torch.no_grad()
    def init_from_embeddings(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Point each class weight present in ``labels`` at its mean normalised embedding.

        Keeps the current mean row norm (so scaled heads keep their scale); a good start when
        fine-tuning a pretrained embedder. embeddings (N, D), labels (N,) in 0..C-1.
        """
        self.check_labels(embeddings, labels)
        means = class_means(F.normalize(embeddings.to(self.weight), dim=1), labels, self.num_classes)
        present = torch.bincount(labels, minlength=self.num_classes) > 0
        norm = self.weight.norm(dim=1).mean()
        self.weight[present] = F.normalize(means[present], dim=1) * norm


def class_means(x: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-class mean of the rows of x (N, D) -> (num_classes, D); zero rows for absent classes."""
    sums = torch.zeros(num_classes, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, labels, x)
    counts = torch.bincount(labels, minlength=num_classes).to(x.dtype)
    return sums / counts.clamp_min(1.0)[:, None]
