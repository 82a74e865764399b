"""Plain softmax classifier: logits = W x + b, cross-entropy (the baseline head)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import ClassificationHead


class SoftmaxHead(ClassificationHead):
    """Linear classifier (weight (C, D), bias (C,)) + cross-entropy; no normalisation, no margin."""

    def __init__(self, embed_dim: int, num_classes: int, bias: bool = True) -> None:
        super().__init__(embed_dim, num_classes)
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's default
        self.bias = nn.Parameter(torch.zeros(num_classes)) if bias else None

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """W x + b: (B, D) -> (B, C)."""
        return F.linear(embeddings, self.weight, self.bias)

    def margin_logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """No margin: the same as :meth:`logits`."""
        return self.logits(embeddings)
