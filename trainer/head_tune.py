"""The default fine-tuning recipe: frozen trunk, embedding layer only, WiSE-FT toward the base model.

Why: a door roster gives a handful of photos per person. Training the backbone on ~100 crops moves
the whole embedding space and buys nothing on new photos (the old recipe: 92/100 before and
after on 20 LFW people). Here the 13 backbone stages and the BatchNorms stay exactly as shipped;
only the embedding layer ``head.fc`` (50176 -> 128) learns, which is cheap and keeps the
network's function for everybody else close to the pretrained one.

Steps of :func:`train_frozen_trunk`:

1. **Feature cache.** The frozen trunk's output (``head.bn`` of ``forward_features``, flattened:
   (50176,) per crop) is computed once for ``feature_views`` views of every training and
   validation crop: view 0 the crop, view 1 its mirror image (the app's flip test-time
   augmentation), views 2.. the door jitter :data:`DOOR_AUGMENT` (flip, small shifts / zoom /
   rotation, brightness and contrast, a little blur). Stored as float16: ``N * V * 100 KB``.
2. **Training** of ``head.fc`` only (``head.features``, the BatchNorm1d, stays in eval mode, so
   the raw embedding is affine in the fc weights): P-K batches (:class:`trainer.data.PKSampler`,
   one random view per drawn crop) through the configured loss (default: ArcFace with a margin
   on cosine logits, scale ``s``, plus center loss on unit embeddings), AdamW at ``lr_embedding``
   for fc and ``lr_head`` for the class weights, and an L2-SP pull (``l2sp_weight``) of fc toward
   its pretrained weights instead of weight decay toward zero.
3. **Early stopping** on the validation split (``TrainSplit.held_out``: the roster's own crops,
   never the evaluation's held-out photos): rank-1 of the validation crops against the training
   crops with flip TTA, ties broken by the identification margin; ``patience`` epochs.
4. **WiSE-FT** (Wortsman et al. 2022): the deployed fc is ``(1 - alpha) W_base + alpha W_tuned``.
   Because the raw embedding is affine in fc, the embeddings of every alpha are the same blend of
   the two models' raw embeddings, so the alpha grid (``wise_steps``) is scored on the validation
   split at no cost; the best (rank-1, margin) wins, the smallest alpha on ties.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from desktop_app.core.evaluation.metrics import rank1
from desktop_app.core.progress import CancelFn

from .data import AugmentConfig, PKSampler, TrainSplit, augment, check_trainable, prepare_crops, to_tensor
from .model.sface import SFaceNet, full_fp32, load_pretrained_sface

if TYPE_CHECKING:
    from .train import EpochStats, TrainConfig, TrainResult

DOOR_AUGMENT = AugmentConfig(flip_p=0.5, rotate_deg=4.0, scale=0.04, shift_px=3.0, brightness=30.0, contrast=0.25,
                             blur_p=0.2, blur_sigma=(0.4, 1.0))
"""Jitter of a door camera's aligned crops: mirror, small alignment error, lighting changes, focus."""

ARCFACE_DEFAULTS: dict[str, float] = {"s": 32.0, "m": 0.3}
"""ArcFace head parameters of this recipe when ``TrainConfig.head_params`` is empty: s = 32 (the
logit scale for a few dozen classes) and m = 0.3 rad (a margin that a frozen trunk can satisfy)."""


# --------------------------------------------------------------------------------------------------
# pure helpers (tested against naive references)


def flip_tta(raw_plain: torch.Tensor, raw_mirror: torch.Tensor) -> torch.Tensor:
    """The app's template from the raw embeddings (N, D) of the crops and of their mirror images:
    ``normalize(normalize(plain) + normalize(mirror))`` (N, D) unit rows."""
    return F.normalize(F.normalize(raw_plain, dim=1) + F.normalize(raw_mirror, dim=1), dim=1)


def interpolate_state(base: Mapping[str, torch.Tensor], tuned: Mapping[str, torch.Tensor],
                      alpha: float) -> dict[str, torch.Tensor]:
    """WiSE-FT weights: ``(1 - alpha) * base + alpha * tuned`` for every floating tensor; integer
    tensors (BatchNorm's ``num_batches_tracked``) are taken from ``tuned``. Same keys required."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if set(base) != set(tuned):
        raise ValueError("the two state dicts have different keys")
    out: dict[str, torch.Tensor] = {}
    for key, t in tuned.items():
        b = base[key]
        if b.shape != t.shape:
            raise ValueError(f"{key}: shapes {tuple(b.shape)} and {tuple(t.shape)} differ")
        out[key] = ((1.0 - alpha) * b + alpha * t).to(t.dtype) if t.is_floating_point() else t.clone()
    return out


def alpha_grid(steps: int) -> tuple[float, ...]:
    """``steps + 1`` evenly spaced alphas from 0 to 1 (``steps`` 0: just 1.0, no interpolation)."""
    if steps <= 0:
        return (1.0,)
    return tuple(round(i / steps, 6) for i in range(steps + 1))


def choose_alpha(scores: Mapping[float, tuple[float, float]]) -> float:
    """The alpha with the best (validation rank-1, margin) key; the smallest alpha among equals."""
    if not scores:
        raise ValueError("no alpha was scored")
    best = max(scores.values())
    return min(a for a, key in scores.items() if key == best)


def identification_margin_t(probes: np.ndarray, probe_labels: np.ndarray, gallery: np.ndarray,
                            gallery_labels: np.ndarray) -> float:
    """See :func:`trainer.train.identification_margin` (imported lazily to avoid a cycle)."""
    from .train import identification_margin

    return identification_margin(probes, probe_labels, gallery, gallery_labels)


# --------------------------------------------------------------------------------------------------
# feature cache


@dataclass(frozen=True, eq=False)
class TrunkFeatures:
    """Frozen-trunk outputs of crops under several views.

    feats: (N, V, F) float16, F = 50176 (the flattened ``head.bn`` output the fc layer takes);
    view 0 is the crop, view 1 its mirror image, views 2.. random door jitter.
    """

    feats: torch.Tensor

    @property
    def views(self) -> int:
        return int(self.feats.shape[1])

    def __len__(self) -> int:
        return int(self.feats.shape[0])


def trunk_features(model: SFaceNet, crops: np.ndarray, views: int, rng: np.random.Generator,
                   aug: AugmentConfig = DOOR_AUGMENT, batch: int = 32,
                   cancelled: CancelFn | None = None) -> TrunkFeatures | None:
    """:class:`TrunkFeatures` of prepared (N, 112, 112, 3) uint8 crops (``views`` >= 2); None when
    cancelled. The model runs in eval mode without gradients."""
    if views < 2:
        raise ValueError(f"views must be at least 2 (the crop and its mirror image), got {views}")
    model.eval()
    dev = next(model.parameters()).device
    n = len(crops)
    dim = model.head.fc.in_features
    out = torch.empty((n, views, dim), dtype=torch.float16)
    with torch.no_grad(), full_fp32():
        for v in range(views):
            for i in range(0, n, batch):
                if cancelled is not None and cancelled():
                    return None
                chunk = crops[i:i + batch]
                if v == 0:
                    images: np.ndarray = chunk
                elif v == 1:
                    images = np.ascontiguousarray(chunk[:, :, ::-1])
                else:
                    images = augment(chunk, rng, aug)
                f = model.head.bn(model.forward_features(to_tensor(images).to(dev)))
                out[i:i + len(chunk), v] = torch.flatten(f, 1).to(torch.float16).cpu()
    return TrunkFeatures(out)


def raw_embeddings(fc: nn.Linear, bn: nn.BatchNorm1d, feats: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """(M, F) trunk features (any float dtype) -> (M, D) float32 raw embeddings ``bn(fc(x))``, no grad."""
    outs = []
    with torch.no_grad():
        for i in range(0, feats.shape[0], batch):
            outs.append(bn(fc(feats[i:i + batch].to(fc.weight.dtype))))
    return torch.cat(outs) if outs else torch.zeros((0, fc.out_features))


# --------------------------------------------------------------------------------------------------
# training


def _app_templates(fc: nn.Linear, bn: nn.BatchNorm1d, tf: TrunkFeatures) -> tuple[torch.Tensor, torch.Tensor]:
    """(raw plain (N, D), raw mirror (N, D)) of views 0 and 1."""
    return raw_embeddings(fc, bn, tf.feats[:, 0]), raw_embeddings(fc, bn, tf.feats[:, 1])


def _score(gal: torch.Tensor, gal_labels: np.ndarray, probes: torch.Tensor, probe_labels: np.ndarray
           ) -> tuple[float, float]:
    g, p = gal.numpy(), probes.numpy()
    return rank1(p, probe_labels, g, gal_labels), identification_margin_t(p, probe_labels, g, gal_labels)


def train_frozen_trunk(config: TrainConfig, split: TrainSplit, progress: Callable[[EpochStats], None] | None = None,
                       cancelled: CancelFn | None = None) -> TrainResult:
    """Run the recipe of the module docstring; returns the WiSE-FT model (eval mode, CPU).

    ``TrainResult.wise_alpha`` is the chosen alpha; ``history`` holds the baseline (epoch 0) and
    every epoch's validation figures of the un-interpolated fc.
    """
    from .train import EpochStats, TrainResult, _epoch_seed, build_loss, resolve_device

    start = time.perf_counter()
    check_trainable(split)
    dev = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model = load_pretrained_sface(config.base_model).to(dev).eval()
    base_fc = {k: v.detach().clone() for k, v in model.head.fc.state_dict().items()}
    bn = model.head.features.eval()
    bn.requires_grad_(False)
    rng = np.random.default_rng(_epoch_seed(config.seed, 0))
    tr_labels, va_labels = split.train.labels, split.held_out.labels
    has_val = len(va_labels) > 0

    def result(epochs_run: int, best_epoch: int, history: list[EpochStats], alpha: float | None,
               was_cancelled: bool, stopped: bool, loss: nn.Module) -> TrainResult:
        model.cpu().eval()
        model.unfreeze()
        return TrainResult(model=model, loss=loss.cpu().eval(), config=config, history=tuple(history),  # type: ignore[arg-type]
                           best_epoch=best_epoch, epochs_run=epochs_run, stopped_early=stopped,
                           cancelled=was_cancelled, checkpoint=None, seconds=time.perf_counter() - start,
                           class_names=split.train.class_names, wise_alpha=alpha)

    t0 = time.perf_counter()
    train_tf = trunk_features(model, prepare_crops(split.train.crops), config.feature_views, rng, DOOR_AUGMENT,
                              config.eval_batch, cancelled)
    val_tf = trunk_features(model, prepare_crops(split.held_out.crops), 2, rng, DOOR_AUGMENT, config.eval_batch,
                            cancelled) if has_val else None
    head_kw = dict(config.head_params) or (ARCFACE_DEFAULTS if "arcface" in config.loss.lower() else {})
    loss = build_loss(config.model_copy(update={"head_params": head_kw}), split.num_classes,
                      model.embed_dim).to(dev)
    if train_tf is None or (has_val and val_tf is None):
        return result(0, 0, [], None, True, False, loss)

    fc = model.head.fc
    tr_plain, tr_mirror = _app_templates(fc, bn, train_tf)
    init = getattr(loss, "init_from_embeddings", None)
    if init is not None:
        init(tr_plain.to(dev), torch.from_numpy(tr_labels).to(dev))
    base_train = (tr_plain, tr_mirror)
    base_val = _app_templates(fc, bn, val_tf) if val_tf is not None else None

    def validate() -> tuple[float | None, float | None, tuple[torch.Tensor, torch.Tensor] | None]:
        if val_tf is None:
            return None, None, None
        gp, gm = _app_templates(fc, bn, train_tf)
        vp, vm = _app_templates(fc, bn, val_tf)
        r1, margin = _score(flip_tta(gp, gm), tr_labels, flip_tta(vp, vm), va_labels)
        return r1, margin, (vp, vm)

    r1, margin, _ = validate()
    history: list[EpochStats] = [EpochStats(
        epoch=0, phase="baseline", loss=float("nan"), terms={}, train_accuracy=float("nan"), held_out_rank1=r1,
        held_out_accuracy=None, held_out_margin=margin, lr={"head": 0.0, "backbone": 0.0},
        seconds=time.perf_counter() - t0)]
    if progress is not None:
        progress(history[0])

    fc.requires_grad_(True)
    w0 = base_fc["weight"].to(dev)
    b0 = base_fc["bias"].to(dev)
    opt = torch.optim.AdamW([
        {"params": list(loss.parameters()), "lr": config.lr_head, "weight_decay": config.weight_decay},
        {"params": list(fc.parameters()), "lr": config.lr_embedding, "weight_decay": 0.0},
    ])
    sampler = PKSampler(tr_labels, config.p, config.k)
    best_key = (-math.inf, -math.inf)
    best_epoch, bad = 0, 0
    best_fc = {k: v.detach().cpu().clone() for k, v in fc.state_dict().items()}
    best_loss = copy.deepcopy(loss.state_dict())
    stopped = False
    epoch = 0
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        erng = np.random.default_rng(_epoch_seed(config.seed, epoch))
        torch.manual_seed(_epoch_seed(config.seed, epoch))
        f_ = 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / config.epochs))
        lrs = {"head": config.lr_head * f_, "embedding": config.lr_embedding * f_}
        opt.param_groups[0]["lr"], opt.param_groups[1]["lr"] = lrs["head"], lrs["embedding"]
        loss.train()
        total, nb, correct, seen = 0.0, 0, 0, 0
        sums: dict[str, float] = {}
        for idx in sampler.batches(erng):
            if cancelled is not None and cancelled():
                fc.load_state_dict(best_fc)
                loss.load_state_dict(best_loss)
                return result(epoch - 1, best_epoch, history, None, True, False, loss)
            view = erng.integers(0, train_tf.views, size=idx.size)
            x = train_tf.feats[torch.from_numpy(idx), torch.from_numpy(view)].to(dev, torch.float32)
            y = torch.from_numpy(tr_labels[idx]).to(dev)
            emb = bn(fc(x))
            terms = _terms(loss, emb, y)
            if config.l2sp_weight > 0:
                terms["l2sp"] = config.l2sp_weight * ((fc.weight - w0).pow(2).sum() + (fc.bias - b0).pow(2).sum())
            value = torch.stack(list(terms.values())).sum()
            if not torch.isfinite(value):
                raise FloatingPointError(f"the loss became {float(value)} at epoch {epoch}; lower the learning rates")
            opt.zero_grad(set_to_none=True)
            value.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], config.grad_clip)
            opt.step()
            total += float(value.detach())
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            logits = _logits(loss, emb.detach())
            if logits is not None:
                correct += int((logits.argmax(dim=1) == y).sum())
            seen += int(y.numel())
            nb += 1
        r1, margin, _ = validate()
        stats = EpochStats(epoch=epoch, phase="embedding", loss=total / max(nb, 1),
                           terms={k: v / max(nb, 1) for k, v in sums.items()},
                           train_accuracy=correct / max(seen, 1), held_out_rank1=r1, held_out_accuracy=None,
                           held_out_margin=margin, lr=lrs, seconds=time.perf_counter() - t0, batches=nb)
        history.append(stats)
        if progress is not None:
            progress(stats)
        key = (float(epoch), 0.0) if r1 is None else (r1, margin or 0.0)
        if key > best_key:
            best_key, best_epoch, bad = key, epoch, 0
            best_fc = {k: v.detach().cpu().clone() for k, v in fc.state_dict().items()}
            best_loss = copy.deepcopy(loss.state_dict())
        else:
            bad += 1
            if bad >= config.patience:
                stopped = True
                break
    fc.requires_grad_(False)
    loss.load_state_dict(best_loss)
    tuned_fc = best_fc
    # WiSE-FT: score the alpha grid on the validation split (raw embeddings blend linearly in alpha)
    alpha = 1.0
    if base_val is not None and config.wise_steps > 0:
        fc.load_state_dict(tuned_fc)
        tuned_train = _app_templates(fc, bn, train_tf)
        tuned_val = _app_templates(fc, bn, val_tf) if val_tf is not None else base_val
        scores: dict[float, tuple[float, float]] = {}
        for a in alpha_grid(config.wise_steps):
            g = flip_tta(*((1 - a) * b + a * t for b, t in zip(base_train, tuned_train, strict=True)))
            p = flip_tta(*((1 - a) * b + a * t for b, t in zip(base_val, tuned_val, strict=True)))
            scores[a] = _score(g, tr_labels, p, va_labels)
        alpha = choose_alpha(scores)
    fc.load_state_dict(interpolate_state({k: v.cpu() for k, v in base_fc.items()}, tuned_fc, alpha))
    return result(epoch if not stopped else len(history) - 1, best_epoch, history, alpha, False, stopped, loss)


def _terms(loss: nn.Module, emb: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    from .train import _loss_terms

    return _loss_terms(loss, emb, y)  # type: ignore[arg-type]


def _logits(loss: nn.Module, emb: torch.Tensor) -> torch.Tensor | None:
    from .train import _logits as logits_of

    return logits_of(loss, emb)  # type: ignore[arg-type]
