"""A weighted sum of losses sharing one batch, e.g. center loss + a classification head."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .base import MetricLoss


class CombinedLoss(MetricLoss):
    """``sum_k weights[k] * components[k](embeddings, labels)``.

    ``components`` keeps its order; ``logits`` / ``head`` come from the first component that has
    ``logits`` (the classification head), so accuracy can be measured on a combined loss too.
    Each component keeps its own weighting (the center loss carries its lambda as ``weight``);
    ``weights`` (default 1 each) multiply on top.
    """

    def __init__(self, components: Mapping[str, MetricLoss], weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        if not components:
            raise ValueError("CombinedLoss needs at least one component")
        self.components = nn.ModuleDict(dict(components))
        weights = dict(weights or {})
        unknown = set(weights) - set(components)
        if unknown:
            raise ValueError(f"weights given for unknown components {sorted(unknown)}")
        self.weights = {name: float(weights.get(name, 1.0)) for name in components}

    @property
    def needs_classes(self) -> bool:  # type: ignore[override]
        return any(getattr(c, "needs_classes", False) for c in self.components.values())

    @property
    def head(self) -> MetricLoss | None:
        """The first component with a ``logits`` method, or None."""
        for component in self.components.values():
            if hasattr(component, "logits"):
                assert isinstance(component, MetricLoss)
                return component
        return None

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Class scores (B, C) of :attr:`head`; ValueError when no component has logits."""
        head = self.head
        if head is None:
            raise ValueError(f"none of {list(self.components)} produces class logits")
        out: torch.Tensor = head.logits(embeddings)  # type: ignore[operator]
        return out

    def terms(self, embeddings: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each component's weighted scalar loss, by name (for logging); their sum is the loss."""
        return {name: self.weights[name] * c(embeddings, labels) for name, c in self.components.items()}

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scalar: the sum of :meth:`terms`."""
        return torch.stack(list(self.terms(embeddings, labels).values())).sum()

    @torch.no_grad()
    def init_from_embeddings(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Call ``init_from_embeddings`` on every component that has it."""
        for component in self.components.values():
            init = getattr(component, "init_from_embeddings", None)
            if init is not None:
                init(embeddings, labels)
