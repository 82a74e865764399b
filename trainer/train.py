"""Fine-tuning the SFace embedder on enrolled faces: warm-up, partial unfreezing, early stopping.

Schedule: the classification head (and the center-loss centres) start from the pretrained
embeddings' class means (``init_from_embeddings``), so training starts next to the pretrained
solution. ``warmup_epochs`` train the head alone (backbone and embedding layer frozen); then the
embedding layer (``model.head``) and the last ``unfreeze_blocks`` backbone stages train too, at
``lr_backbone``. After every epoch the held-out crops are identified against the training crops
(rank-1, flip test-time augmentation, as the app does); the best epoch by (rank-1, mean
identification margin) is kept, and training stops after ``patience`` epochs without progress.

Reproducibility: every random draw of epoch ``e`` (batch sampling, augmentation, dropout) is
seeded from ``(seed, e)``, so a run resumed from the checkpoint of epoch ``e`` continues exactly
as the uninterrupted run does. The checkpoint (``<checkpoint_dir>/last.pt``, rewritten atomically
after every epoch) holds the model, the loss (head weights and centres), the optimiser, the epoch,
the best state so far, the history and the RNG states.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import nn

from desktop_app.core.evaluation.metrics import rank1
from desktop_app.core.progress import CancelFn

from .corrections import make_sampler
from .data import AugmentConfig, PKSampler, TrainSplit, augment, check_trainable, prepare_crops, to_tensor
from .losses import CombinedLoss, MetricLoss, get_loss, loss_components
from .model.sface import SFaceNet, full_fp32, load_pretrained_sface

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
LAST_CHECKPOINT = "last.pt"


class TrainConfig(BaseModel):
    """Fine-tuning settings (validated, immutable; stored in checkpoints and model metrics as JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    recipe: Literal["frozen_trunk", "partial"] = Field(
        default="frozen_trunk",
        description="frozen_trunk: train only the embedding layer on cached trunk features, then WiSE-FT "
                    "toward the base model (trainer.head_tune); partial: warm-up, then the last "
                    "unfreeze_blocks stages and the embedding layer train end to end.")
    loss: str = Field(default="center+arcface", description="Loss for trainer.losses.get_loss ('+' joins).")
    head_params: dict[str, float] = Field(
        default_factory=dict, description="Arguments of the classification head, e.g. {'s': 64, 'm': 0.5}."
    )
    center_weight: float = Field(default=0.05, ge=0.0, description="Center loss lambda (if the loss has 'center').")
    center_alpha: float = Field(default=0.5, ge=0.0, le=1.0, description="Center loss centre update rate alpha.")
    center_normalize: bool = Field(default=True, description="Center loss on L2-normalised embeddings.")
    epochs: int = Field(default=6, ge=1, le=1000, description="Maximum number of epochs, warm-up included.")
    p: int = Field(default=8, ge=1, description="People per batch (P of P-K sampling).")
    k: int = Field(default=4, ge=1, description="Crops per person per batch (K of P-K sampling).")
    lr_head: float = Field(default=1e-3, gt=0.0, description="AdamW learning rate of the classification head.")
    lr_backbone: float = Field(default=2e-5, gt=0.0, description="AdamW learning rate of the unfrozen layers.")
    weight_decay: float = Field(default=5e-4, ge=0.0, description="AdamW decoupled weight decay.")
    warmup_epochs: int = Field(default=1, ge=0, description="Leading epochs that train the head only.")
    unfreeze_blocks: int = Field(default=2, ge=0, le=14, description="Backbone stages trained after warm-up.")
    freeze_bn: bool = Field(default=True, description="Keep BatchNorm running statistics fixed (small batches).")
    augment: bool = Field(default=True, description="Random flip / affine / brightness / blur jitter.")
    grad_clip: float = Field(default=5.0, gt=0.0, description="Clip the gradient norm of each step to this.")
    holdout_fraction: float = Field(default=0.2, ge=0.0, lt=1.0, description="Share of each person held out.")
    seed: int = Field(default=0, ge=0, description="Seed of every random draw (split, batches, jitter, dropout).")
    device: Literal["cpu", "cuda", "auto"] = Field(default="cpu", description="PyTorch device for training.")
    patience: int = Field(default=3, ge=1, description="Stop after this many epochs without held-out progress.")
    checkpoint_dir: Path | None = Field(default=None, description="Folder for last.pt (None: no checkpoints).")
    base_model: Path | None = Field(default=None, description="SFace ONNX to start from (None: the shipped one).")
    lr_embedding: float = Field(default=2e-4, gt=0.0, description="frozen_trunk: AdamW rate of the embedding layer.")
    l2sp_weight: float = Field(default=1e-3, ge=0.0,
                               description="frozen_trunk: weight of ||W - W_base||^2 on the embedding layer.")
    feature_views: int = Field(default=6, ge=2, le=32,
                               description="frozen_trunk: cached views per crop (crop, mirror, door jitter).")
    wise_steps: int = Field(default=10, ge=0, le=100,
                            description="frozen_trunk: WiSE-FT alpha grid 0..1 in this many steps, chosen on "
                                        "the validation split (0: no interpolation, alpha 1).")
    eval_batch: int = Field(default=64, ge=1, description="Crops per forward pass when evaluating.")
    eval_flip: bool = Field(
        default=False, description="Held-out checks average crop and mirror embeddings (as the app; 2x slower)."
    )

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, value: str) -> str:
        loss_components(value)  # ValueError naming the known losses
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        """Rules between fields (the field bounds are in the ``Field`` declarations)."""
        if self.warmup_epochs > self.epochs:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must not exceed epochs ({self.epochs}): "
                             f"the warm-up epochs are part of the epochs")
        if self.p < 2:
            raise ValueError(f"p (people per batch) must be at least 2, got {self.p}: a batch of one person "
                             f"teaches nothing that separates people")
        pair_based = [c.__name__ for c in loss_components(self.loss) if c.needs_pairs]
        if pair_based and self.k < 2:
            raise ValueError(f"loss {self.loss!r} compares crops of one person ({', '.join(pair_based)}): "
                             f"k (crops per person per batch) must be at least 2, got {self.k}")
        try:
            build_loss(self, num_classes=2)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"head_params {self.head_params} do not fit loss {self.loss!r}: {exc}") from exc
        return self


@dataclass(frozen=True)
class EpochStats:
    """One epoch: epoch 0 is the pretrained starting point (no training).

    phase: "baseline", "warmup" or "finetune"; loss: mean total loss over the epoch's batches;
    terms: mean of each loss component; train_accuracy: head accuracy on the training batches
    (augmented); held_out_rank1: closed-set rank-1 of the held-out crops against the training
    crops (None without held-out crops); held_out_accuracy: head accuracy on the held-out crops;
    held_out_margin: mean over held-out crops of (cosine to the own person's mean training
    embedding - best cosine to another person's); lr: the learning rates used; seconds: wall time.
    """

    epoch: int
    phase: str
    loss: float
    terms: dict[str, float]
    train_accuracy: float
    held_out_rank1: float | None
    held_out_accuracy: float | None
    held_out_margin: float | None
    lr: dict[str, float]
    seconds: float
    batches: int = 0


@dataclass(frozen=True, eq=False)
class TrainResult:
    """Outcome of :func:`train`.

    model: the best epoch's SFaceNet (eval mode, CPU); loss: the loss module of that epoch;
    history: every finished epoch (epoch 0 = pretrained baseline); best_epoch; epochs_run: last
    finished epoch; stopped_early: patience ran out; cancelled: the caller cancelled (the model is
    then the best so far); checkpoint: last.pt path or None; seconds: training wall time.
    """

    model: SFaceNet
    loss: MetricLoss
    config: TrainConfig
    history: tuple[EpochStats, ...]
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    cancelled: bool
    checkpoint: Path | None
    seconds: float
    class_names: tuple[str, ...] = field(default_factory=tuple)
    wise_alpha: float | None = None

    @property
    def baseline(self) -> EpochStats:
        return self.history[0]

    @property
    def best(self) -> EpochStats:
        return next(s for s in self.history if s.epoch == self.best_epoch)

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (config, best epoch, history)."""
        return {
            "config": self.config.model_dump(mode="json"),
            "best_epoch": self.best_epoch,
            "wise_alpha": self.wise_alpha,
            "epochs_run": self.epochs_run,
            "stopped_early": self.stopped_early,
            "cancelled": self.cancelled,
            "seconds": round(self.seconds, 2),
            "history": [dataclasses.asdict(s) for s in self.history],
        }


ProgressCallback = Callable[[EpochStats], None]


# --------------------------------------------------------------------------------------------------
# helpers


def resolve_device(device: str) -> torch.device:
    """"auto" -> cuda when available else cpu; "cuda" without CUDA raises ValueError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but PyTorch sees no CUDA GPU; use --device cpu")
    return torch.device(device)


def build_loss(config: TrainConfig, num_classes: int, embed_dim: int = 128) -> MetricLoss:
    """The loss named in the config: the center loss gets lambda / alpha / normalize, every other
    component the ``head_params``."""
    parts = [p.strip().lower() for p in config.loss.split("+") if p.strip()]
    center = {"weight": config.center_weight, "alpha": config.center_alpha, "normalize": config.center_normalize}
    if len(parts) == 1:
        kw: dict[str, Any] = center if parts[0] == "center" else dict(config.head_params)
        return get_loss(parts[0], embed_dim=embed_dim, num_classes=num_classes, **kw)
    comp = {p: (center if p == "center" else dict(config.head_params)) for p in parts}
    return get_loss(config.loss, embed_dim=embed_dim, num_classes=num_classes, **comp)


def _loss_terms(loss: MetricLoss, emb: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    if isinstance(loss, CombinedLoss):
        return loss.terms(emb, labels)
    return {"loss": loss(emb, labels)}


def _logits(loss: MetricLoss, emb: torch.Tensor) -> torch.Tensor | None:
    fn = getattr(loss, "logits", None)
    if fn is None:
        return None
    try:
        out: torch.Tensor = fn(emb)
    except ValueError:
        return None
    return out


def _set_mode(model: SFaceNet, loss: MetricLoss, training: bool, freeze_bn: bool) -> None:
    model.train(training)
    loss.train(training)
    if training and freeze_bn:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def embed_crops(model: SFaceNet, crops: np.ndarray, *, batch: int = 64, flip: bool = True,
                device: torch.device | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of prepared (N, 112, 112, 3) uint8 crops with the PyTorch model, eval mode, no grad.

    Returns (raw (N, 128) float32 network output of the crops, unit (N, 128) float32: the app's
    template, i.e. the L2-normalised sum of the normalised crop and mirror-image embeddings when
    ``flip``, else the normalised raw output).
    """
    dev = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    raws, units = [], []
    try:
        with torch.no_grad(), full_fp32():
            for i in range(0, len(crops), batch):
                chunk = crops[i:i + batch]
                raw = model(to_tensor(chunk).to(dev))
                unit = F.normalize(raw, dim=1)
                if flip:
                    mirrored = model(to_tensor(chunk[:, :, ::-1]).to(dev))
                    unit = F.normalize(unit + F.normalize(mirrored, dim=1), dim=1)
                raws.append(raw.cpu().numpy())
                units.append(unit.cpu().numpy())
    finally:
        model.train(was_training)
    if not raws:
        return np.zeros((0, model.embed_dim), np.float32), np.zeros((0, model.embed_dim), np.float32)
    return np.concatenate(raws).astype(np.float32), np.concatenate(units).astype(np.float32)


def identification_margin(probes: np.ndarray, probe_labels: np.ndarray, gallery: np.ndarray,
                          gallery_labels: np.ndarray) -> float:
    """Mean over probes of cos(probe, own person's mean gallery vector) - max cos to another person's.

    probes (P, D), gallery (G, D) unit vectors; labels int. Positive = identified with room to spare.
    """
    classes = np.unique(gallery_labels)
    cent = np.stack([gallery[gallery_labels == c].mean(axis=0) for c in classes])
    cent /= np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), 1e-12)
    sims = probes @ cent.T
    own = np.searchsorted(classes, probe_labels)
    ok = (own < classes.size) & (classes[np.minimum(own, classes.size - 1)] == probe_labels)
    if not ok.any() or classes.size < 2:
        return 0.0
    rows = np.flatnonzero(ok)
    own_sim = sims[rows, own[rows]]
    other = sims[rows].copy()
    other[np.arange(rows.size), own[rows]] = -np.inf
    return float(np.mean(own_sim - other.max(axis=1)))


@contextmanager
def _deterministic() -> Iterator[None]:
    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919) % (2**63 - 1)


def _lrs(config: TrainConfig, epoch: int) -> dict[str, float]:
    """Learning rates of epoch ``epoch`` (1-based): constant warm-up, then cosine decay to 10 %."""
    if epoch <= config.warmup_epochs:
        return {"head": config.lr_head, "backbone": 0.0}
    n = max(1, config.epochs - config.warmup_epochs)
    t = (epoch - config.warmup_epochs - 1) / n
    f = 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * t))
    return {"head": config.lr_head * f, "backbone": config.lr_backbone * f}


def _clone_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _atomic_save(obj: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    torch.save(obj, tmp)
    tmp.replace(path)


def _numpy_state() -> list[Any]:
    """numpy's global (legacy) RNG state as plain Python values (loadable with weights_only)."""
    name, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return [str(name), [int(v) for v in key], int(pos), int(has_gauss), float(gauss)]


def _set_numpy_state(state: list[Any]) -> None:
    name, key, pos, has_gauss, gauss = state
    np.random.set_state((name, np.array(key, np.uint32), pos, has_gauss, gauss))


def _stats_from_dict(d: dict[str, Any]) -> EpochStats:
    return EpochStats(**d)


# --------------------------------------------------------------------------------------------------
# training


class _Trainer:
    """State of one run (kept in a class so that resuming restores one object)."""

    def __init__(self, config: TrainConfig, split: TrainSplit) -> None:
        check_trainable(split)
        self.config = config
        self.split = split
        self.device = resolve_device(config.device)
        self.train_crops = prepare_crops(split.train.crops)
        self.held_crops = prepare_crops(split.held_out.crops)
        self.train_labels = split.train.labels
        self.held_labels = split.held_out.labels
        torch.manual_seed(config.seed)
        self.model = load_pretrained_sface(config.base_model).to(self.device)
        self.loss = build_loss(config, split.num_classes, self.model.embed_dim).to(self.device)
        self.sampler: PKSampler = make_sampler(split, config.p, config.k)  # hard negatives paired (corrections.py)
        self.aug = AugmentConfig()
        head_params = list(self.loss.parameters())
        self.optimizer = torch.optim.AdamW(
            [
                {"params": head_params, "lr": config.lr_head, "name": "head"},
                {"params": self._net_params(), "lr": config.lr_backbone, "name": "backbone"},
            ],
            lr=config.lr_head, weight_decay=config.weight_decay,
        )
        self.history: list[EpochStats] = []
        self.epoch = 0
        self.best_key: tuple[float, float] = (-math.inf, -math.inf)
        self.best_epoch = 0
        self.best_model = _clone_state(self.model)
        self.best_loss = _clone_state(self.loss)
        self.bad_epochs = 0
        self.stopped_early = False
        self._eval_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._init_units: np.ndarray | None = None

    def _net_params(self) -> list[nn.Parameter]:
        n = self.model.num_blocks
        blocks = [self.model.blocks[i] for i in range(n - self.config.unfreeze_blocks, n)]
        params = [p for b in blocks for p in b.parameters()]
        return params + list(self.model.head.parameters())

    # ------------------------------------------------------------------ evaluation
    def init_head(self) -> None:
        """Point the head's class weights and the centres at the pretrained class means."""
        raw, unit = embed_crops(self.model, self.train_crops, batch=self.config.eval_batch, flip=False)
        self._init_units = unit  # the baseline evaluation's gallery when it uses no flip
        init = getattr(self.loss, "init_from_embeddings", None)
        if init is not None:
            init(torch.from_numpy(raw).to(self.device), torch.from_numpy(self.train_labels).to(self.device))
        self.best_loss = _clone_state(self.loss)

    def evaluate(self, network_changed: bool = True) -> tuple[float | None, float | None, float | None]:
        """(held-out rank-1, head accuracy, identification margin); Nones without held-out crops.

        With ``network_changed`` False (a warm-up epoch: only the head trained) the embeddings of
        the previous evaluation are reused.
        """
        if len(self.held_labels) == 0:
            return None, None, None
        if network_changed or self._eval_cache is None:
            bs, flip = self.config.eval_batch, self.config.eval_flip
            if self._init_units is not None and not flip:
                gal = self._init_units
            else:
                _, gal = embed_crops(self.model, self.train_crops, batch=bs, flip=flip)
            self._init_units = None  # valid for the untrained network only
            raw, probes = embed_crops(self.model, self.held_crops, batch=bs, flip=flip)
            self._eval_cache = (gal, raw, probes)
        gal, raw, probes = self._eval_cache
        r1 = rank1(probes, self.held_labels, gal, self.train_labels)
        margin = identification_margin(probes, self.held_labels, gal, self.train_labels)
        acc: float | None = None
        self.loss.eval()
        with torch.no_grad():
            logits = _logits(self.loss, torch.from_numpy(raw).to(self.device))
        if logits is not None:
            acc = float((logits.argmax(dim=1).cpu().numpy() == self.held_labels).mean())
        return r1, acc, margin

    # ------------------------------------------------------------------ one epoch
    def set_phase(self, epoch: int) -> str:
        if epoch <= self.config.warmup_epochs:
            self.model.freeze(0, train_head=False)
            return "warmup"
        self.model.freeze(self.config.unfreeze_blocks, train_head=True)
        return "finetune"

    def run_epoch(self, epoch: int, cancelled: CancelFn | None) -> EpochStats | None:
        """Train one epoch; None when cancelled before it finished."""
        t0 = time.perf_counter()
        cfg = self.config
        phase = self.set_phase(epoch)
        lrs = _lrs(cfg, epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lrs[group["name"]]
        seed = _epoch_seed(cfg.seed, epoch)
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)
        _set_mode(self.model, self.loss, True, cfg.freeze_bn)
        sums: dict[str, float] = {}
        total, correct, seen, nb = 0.0, 0, 0, 0
        for idx in self.sampler.batches(rng):
            if cancelled is not None and cancelled():
                return None
            crops = self.train_crops[idx]
            images = augment(crops, rng, self.aug) if cfg.augment else crops.astype(np.float32)
            x = to_tensor(images).to(self.device)
            y = torch.from_numpy(self.train_labels[idx]).to(self.device)
            emb = self.model(x)
            terms = _loss_terms(self.loss, emb, y)
            loss = torch.stack(list(terms.values())).sum()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {float(loss)} at epoch {epoch}; lower the learning rates")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            self.optimizer.step()
            total += float(loss.detach())
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            with torch.no_grad():
                logits = _logits(self.loss, emb.detach())
            if logits is not None:
                correct += int((logits.argmax(dim=1) == y).sum())
            seen += int(y.numel())
            nb += 1
        r1, acc, margin = self.evaluate(network_changed=phase != "warmup")
        return EpochStats(
            epoch=epoch, phase=phase, loss=total / max(nb, 1), terms={k: v / max(nb, 1) for k, v in sums.items()},
            train_accuracy=correct / max(seen, 1), held_out_rank1=r1, held_out_accuracy=acc,
            held_out_margin=margin, lr=lrs, seconds=time.perf_counter() - t0, batches=nb,
        )

    def baseline(self) -> EpochStats:
        t0 = time.perf_counter()
        r1, acc, margin = self.evaluate()
        return EpochStats(epoch=0, phase="baseline", loss=float("nan"), terms={}, train_accuracy=float("nan"),
                          held_out_rank1=r1, held_out_accuracy=acc, held_out_margin=margin,
                          lr={"head": 0.0, "backbone": 0.0}, seconds=time.perf_counter() - t0)

    def record(self, stats: EpochStats) -> None:
        """Add an epoch to the history; update the best state and the patience counter."""
        self.history.append(stats)
        self.epoch = stats.epoch
        if stats.epoch == 0:
            return
        if stats.held_out_rank1 is None:
            key = (float(stats.epoch), 0.0)  # no held-out data: the latest epoch is the best
        else:
            key = (stats.held_out_rank1, stats.held_out_margin or 0.0)
        if key > self.best_key:
            self.best_key = key
            self.best_epoch = stats.epoch
            self.best_model = _clone_state(self.model)
            self.best_loss = _clone_state(self.loss)
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.config.patience:
                self.stopped_early = True

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.model_dump(mode="json"),
            "class_names": list(self.split.train.class_names),
            "epoch": self.epoch,
            "model": _clone_state(self.model),
            "loss": _clone_state(self.loss),
            "optimizer": self.optimizer.state_dict(),
            "best": {"key": list(self.best_key), "epoch": self.best_epoch, "model": self.best_model,
                     "loss": self.best_loss},
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early,
            "history": [dataclasses.asdict(s) for s in self.history],
            "rng": {"torch": torch.get_rng_state(), "numpy": _numpy_state()},
        }

    def save(self) -> Path | None:
        if self.config.checkpoint_dir is None:
            return None
        path = Path(self.config.checkpoint_dir) / LAST_CHECKPOINT
        _atomic_save(self.state(), path)
        return path

    def load(self, path: Path) -> None:
        ckpt = load_checkpoint(path)
        old = ckpt["config"]
        for key in ("loss", "head_params", "center_normalize", "unfreeze_blocks", "seed", "p", "k"):
            if old.get(key) != self.config.model_dump(mode="json").get(key):
                raise ValueError(f"checkpoint {path} was made with {key}={old.get(key)!r}, "
                                 f"this run has {getattr(self.config, key)!r}; resume with the same settings")
        if list(ckpt["class_names"]) != list(self.split.train.class_names):
            raise ValueError(f"checkpoint {path} was trained on other people than the current database "
                             f"({len(ckpt['class_names'])} vs {self.split.num_classes}); start a new run")
        self.model.load_state_dict(ckpt["model"])
        self.loss.load_state_dict(ckpt["loss"])
        self.set_phase(int(ckpt["epoch"]) + 1)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        best = ckpt["best"]
        self.best_key = (float(best["key"][0]), float(best["key"][1]))
        self.best_epoch = int(best["epoch"])
        self.best_model = best["model"]
        self.best_loss = best["loss"]
        self.bad_epochs = int(ckpt["bad_epochs"])
        self.stopped_early = bool(ckpt["stopped_early"])
        self.history = [_stats_from_dict(d) for d in ckpt["history"]]
        self.epoch = int(ckpt["epoch"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        _set_numpy_state(ckpt["rng"]["numpy"])


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`train` (ValueError when it is not one)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged files
        raise ValueError(f"{path} is not a readable training checkpoint: {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a FaceGate training checkpoint (format {CHECKPOINT_FORMAT})")
    return ckpt


def train(config: TrainConfig, dataset: TrainSplit, progress: ProgressCallback | None = None,
          cancelled: CancelFn | None = None, resume: Path | None = None) -> TrainResult:
    """Fine-tune SFace on ``dataset.train``, selecting the epoch on ``dataset.held_out``.

    Args:
        config: the settings; ``base_model`` is the ONNX embedder to start from.
        dataset: training and held-out crops of the same classes (at least two people).
        progress: called with the :class:`EpochStats` of the baseline (epoch 0, unless resuming)
            and of every finished epoch.
        cancelled: polled before every batch; True stops the run (the last finished epoch stays
            in the checkpoint, so it can be resumed).
        resume: a ``last.pt`` checkpoint of an earlier run with the same settings and people;
            training goes on from the epoch after the saved one.

    Returns:
        :class:`TrainResult` with the best epoch's model (eval mode, on the CPU).
    """
    if config.recipe == "frozen_trunk":
        if resume is not None:
            raise ValueError("the frozen_trunk recipe takes seconds and keeps no checkpoint; start it again "
                             "instead of resuming")
        from .head_tune import train_frozen_trunk

        with _deterministic():
            return train_frozen_trunk(config, dataset, progress, cancelled)
    start = time.perf_counter()
    with _deterministic():
        tr = _Trainer(config, dataset)
        if resume is not None:
            tr.load(Path(resume))
        else:
            tr.init_head()
            stats = tr.baseline()
            tr.record(stats)
            if progress is not None:
                progress(stats)
        was_cancelled = False
        while tr.epoch < config.epochs and not tr.stopped_early:
            stats_or_none = tr.run_epoch(tr.epoch + 1, cancelled)
            if stats_or_none is None:
                was_cancelled = True
                break
            tr.record(stats_or_none)
            tr.save()
            if progress is not None:
                progress(stats_or_none)
        checkpoint = (Path(config.checkpoint_dir) / LAST_CHECKPOINT) if config.checkpoint_dir else None
        tr.model.load_state_dict(tr.best_model)  # the pretrained weights while no epoch has finished
        tr.loss.load_state_dict(tr.best_loss)
        model = tr.model.cpu()
        model.unfreeze()
        model.eval()
        return TrainResult(
            model=model, loss=tr.loss.cpu().eval(), config=config, history=tuple(tr.history),
            best_epoch=tr.best_epoch, epochs_run=tr.epoch, stopped_early=tr.stopped_early,
            cancelled=was_cancelled, checkpoint=checkpoint if checkpoint and checkpoint.is_file() else None,
            seconds=time.perf_counter() - start, class_names=dataset.train.class_names,
        )
