"""Classification heads and metric-learning losses, by name.

Every entry is a :class:`MetricLoss`: ``loss(embeddings (B, D) float, labels (B,) int64) -> scalar``.
Heads (and Proxy-NCA) also have ``logits(embeddings) -> (B, C)`` for accuracy. Build one by name:

    loss = get_loss("arcface", embed_dim=128, num_classes=40, s=64.0, m=0.5)
    loss = get_loss("center+arcface", embed_dim=128, num_classes=40,
                    center={"weight": 0.003}, arcface={"m": 0.4}, weights={"center": 1.0})

Names: ``softmax``, ``lsoftmax``, ``asoftmax`` (= ``sphereface``), ``cosface`` (= ``amsoftmax``),
``arcface``, ``center``, ``contrastive``, ``triplet``, ``circle``, ``multi_similarity``,
``proxy_nca``; "+" joins several into a :class:`CombinedLoss`. Parameters (``loss.parameters()``:
class weights, proxies) must go to an optimiser; the center loss's centres are a buffer that
updates itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .angular_margin import LambdaSchedule
from .arcface import ArcFaceHead
from .asoftmax import ASoftmaxHead
from .base import ClassificationHead, MetricLoss
from .center import CenterLoss
from .circle import CircleLoss
from .combined import CombinedLoss
from .contrastive import ContrastiveLoss
from .cosface import CosFaceHead
from .lsoftmax import LSoftmaxHead
from .multi_similarity import MultiSimilarityLoss
from .proxy_nca import ProxyNCALoss
from .softmax import SoftmaxHead
from .triplet import TripletLoss

LOSSES: dict[str, type[MetricLoss]] = {
    "softmax": SoftmaxHead,
    "lsoftmax": LSoftmaxHead,
    "asoftmax": ASoftmaxHead,
    "sphereface": ASoftmaxHead,
    "cosface": CosFaceHead,
    "amsoftmax": CosFaceHead,
    "arcface": ArcFaceHead,
    "center": CenterLoss,
    "contrastive": ContrastiveLoss,
    "triplet": TripletLoss,
    "circle": CircleLoss,
    "multi_similarity": MultiSimilarityLoss,
    "proxy_nca": ProxyNCALoss,
}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def loss_components(name: str) -> tuple[type[MetricLoss], ...]:
    """The registry classes of a loss name (registry keys joined by "+", case and "-"/"_" ignored).

    ValueError, naming the known losses, for an empty name, an unknown component or a repeated one.
    """
    parts = [_key(p) for p in name.split("+") if p.strip()]
    if not parts:
        raise ValueError(f"empty loss name; choose from {describe_losses()}")
    unknown = [p for p in parts if p not in LOSSES]
    if unknown:
        raise ValueError(f"unknown loss {', '.join(map(repr, unknown))}; choose from {describe_losses()} "
                         f"(join several with '+')")
    if len(set(parts)) != len(parts):
        raise ValueError(f"loss {name!r} names a component twice")
    return tuple(LOSSES[p] for p in parts)


def describe_losses() -> str:
    """The registry's names in one line, aliases in parentheses: ``"softmax, asoftmax (= sphereface), ..."``."""
    groups: dict[type[MetricLoss], list[str]] = {}
    for name, cls in LOSSES.items():
        groups.setdefault(cls, []).append(name)
    return ", ".join(names[0] + (f" (= {', '.join(names[1:])})" if len(names) > 1 else "")
                     for names in groups.values())


def _build(name: str, embed_dim: int | None, num_classes: int | None, kw: Mapping[str, Any]) -> MetricLoss:
    key = _key(name)
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(LOSSES)} (join several with '+')")
    cls = LOSSES[key]
    if cls.needs_classes:
        if embed_dim is None or num_classes is None:
            raise ValueError(f"loss {name!r} needs embed_dim and num_classes")
        return cls(embed_dim, num_classes, **kw)
    return cls(**kw)


def get_loss(name: str, *, embed_dim: int | None = None, num_classes: int | None = None, **kw: Any) -> MetricLoss:
    """Build the loss called ``name`` (a registry key, or keys joined by "+").

    Single name: ``kw`` are its constructor arguments. Joined names: ``kw`` maps each component
    name to a dict of its arguments, plus an optional ``weights`` dict (name -> multiplier).
    ``embed_dim`` / ``num_classes`` are passed to the components that need them.
    Raises ValueError for unknown names or arguments.
    """
    parts = [p.strip().lower() for p in name.split("+") if p.strip()]
    if not parts:
        raise ValueError("empty loss name")
    if len(parts) == 1:
        return _build(parts[0], embed_dim, num_classes, kw)
    if len(set(parts)) != len(parts):
        raise ValueError(f"loss {name!r} names a component twice")
    weights = kw.pop("weights", None)
    unknown = set(kw) - set(parts)
    if unknown:
        raise ValueError(
            f"arguments {sorted(unknown)} are not component names of {name!r}; pass "
            f"per-component dicts, e.g. {parts[0]}={{...}}"
        )
    components = {p: _build(p, embed_dim, num_classes, dict(kw.get(p) or {})) for p in parts}
    return CombinedLoss(components, weights)


__all__ = [
    "LOSSES",
    "ASoftmaxHead",
    "ArcFaceHead",
    "CenterLoss",
    "CircleLoss",
    "ClassificationHead",
    "CombinedLoss",
    "ContrastiveLoss",
    "CosFaceHead",
    "LSoftmaxHead",
    "LambdaSchedule",
    "MetricLoss",
    "MultiSimilarityLoss",
    "ProxyNCALoss",
    "SoftmaxHead",
    "TripletLoss",
    "describe_losses",
    "get_loss",
    "loss_components",
]
