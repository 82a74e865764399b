"""Deploy a fine-tuned model: export, parity check, evaluate, gate, register, switch, prior, recalibrate.

:func:`deploy_candidate` runs these named steps (:class:`~trainer.progress.RetrainStage`) in order
and reports each through typed :class:`~trainer.progress.RetrainProgress` records. It reaches the
core only through :class:`~desktop_app.core.service.FaceGate`. On a gate pass the candidate is
registered with its evaluation as ``metrics_json``, the gallery is re-embedded with it and it is
activated atomically (``FaceGate.switch_model``), its score prior and stranger pool are prepared and
the threshold is recalibrated. On a fail the current model stays active, and the refusal is audited.
Rolling back later is ``FaceGate.rollback_model()``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import numpy as np

from desktop_app.core.errors import FaceGateError, ModelError
from desktop_app.core.progress import CancelFn
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.records import ModelRecord

from .corrections import corrections_check, with_check
from .data import CropCache, TrainSplit, to_tensor
from .evaluate import Comparison, EvalData, build_eval_data, compare_models, save_report, stranger_crops
from .gate import GateConfig, GateDecision, decide
from .model.sface import SFaceNet, export_onnx, onnx_parity
from .progress import RetrainProgress, RetrainProgressFn, RetrainStage
from .train import TrainResult

log = logging.getLogger(__name__)

PARITY_LIMIT = 1e-4
"""Largest allowed |PyTorch - ONNX Runtime| difference of the raw embeddings of an export."""
STRANGER_SOURCE = "lfw-single-image"
"""Label of the LFW faces added to a new model's stranger pool."""


class RetrainStatus(StrEnum):
    """How a retraining run ended."""

    DEPLOYED = "deployed"
    """the candidate is active"""
    REFUSED = "refused"
    """the gate said no; the current model stays"""
    DRY_RUN = "dry-run"
    """trained and evaluated, nothing deployed"""
    CANCELLED = "cancelled"
    """stopped by the caller (or the switch did not finish); the current model stays"""


@dataclass(frozen=True)
class DeployOptions:
    """How a candidate is evaluated and deployed (validated on construction).

    work_dir: the run's folder (None: ``<database folder>/training/<timestamp>``); lfw_dir: LFW
    folder with pairs.txt, adding LFW verification on ``lfw_folds`` folds (2..10) of
    ``lfw_pairs_per_fold`` pairs each (None: all), ``n_strangers`` single-image LFW people as
    strangers, and a score prior of the new model measured on ``prior_strangers`` of them (0: none);
    gate: the gate's tolerances; dry_run: evaluate only; device: where the ONNX models are evaluated
    ("cpu", or "cuda"/"auto": ONNX Runtime's best provider); name: the registered name (None:
    ``sface-ft-<timestamp>``); actor: who is audited.
    """

    work_dir: Path | None = None
    lfw_dir: Path | None = None
    lfw_folds: int = 10
    lfw_pairs_per_fold: int | None = None
    n_strangers: int = 600
    prior_strangers: int = 2000
    gate: GateConfig = field(default_factory=GateConfig)
    dry_run: bool = False
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    name: str | None = None
    actor: str = "trainer"

    def __post_init__(self) -> None:
        if not 2 <= self.lfw_folds <= 10:
            raise ValueError(f"lfw_folds must be in 2..10, got {self.lfw_folds}")
        if self.lfw_pairs_per_fold is not None and self.lfw_pairs_per_fold < 2:
            raise ValueError(f"lfw_pairs_per_fold must be at least 2 (or None for all), got {self.lfw_pairs_per_fold}")
        if self.n_strangers < 0 or self.prior_strangers < 0:
            raise ValueError("n_strangers and prior_strangers must be >= 0")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {self.device!r}")
        if self.name is not None and not self.name.strip():
            raise ValueError("name must not be empty")
        if not self.actor.strip():
            raise ValueError("actor must not be empty")


@dataclass(frozen=True, eq=False)
class RetrainOutcome:
    """What a retraining run did.

    status: how it ended; active_model: the model active at the end; previous_model: the one active
    at the start; candidate: its registry record when registered; candidate_path: the exported ONNX
    file; decision / comparison: the gate's verdict and the evaluation (None when the run stopped
    before); training: the training result; parity: max |PyTorch - ONNX| of the export; work_dir:
    this run's folder; events: the run's step records, in order (the fine-grained within-stage
    progress is reported but not kept).
    """

    status: RetrainStatus
    active_model: ModelRecord
    previous_model: ModelRecord
    candidate: ModelRecord | None
    candidate_path: Path | None
    decision: GateDecision | None
    comparison: Comparison | None
    training: TrainResult | None
    parity: float | None
    work_dir: Path
    events: tuple[RetrainProgress, ...]

    @property
    def deployed(self) -> bool:
        return self.status is RetrainStatus.DEPLOYED

    @property
    def messages(self) -> tuple[str, ...]:
        """The events as lines, ``"<stage>: <message>"``."""
        return tuple(e.line for e in self.events)


def _noop(_: RetrainProgress) -> None:
    pass


@dataclass
class _Run:
    """The state the steps of one deployment share."""

    fg: FaceGate
    options: DeployOptions
    work_dir: Path
    previous: ModelRecord
    report: RetrainProgressFn
    cancelled: CancelFn
    training: TrainResult | None
    events: list[RetrainProgress] = field(default_factory=list)

    def say(self, stage: RetrainStage, message: str, done: int = 1, total: int = 1) -> None:
        """A step's result: kept in the outcome, logged and reported."""
        event = RetrainProgress(stage, done, total, message)
        self.events.append(event)
        log.info("%s", event.line)
        self.report(event)

    def tick(self, stage: RetrainStage, done: int, total: int, message: str) -> None:
        """Progress within a step: reported only."""
        self.report(RetrainProgress(stage, max(done, 0), max(total, 0), message))

    def outcome(self, status: RetrainStatus, path: Path | None, parity: float | None,
                comparison: Comparison | None = None, decision: GateDecision | None = None,
                candidate: ModelRecord | None = None) -> RetrainOutcome:
        return RetrainOutcome(status=status, active_model=self.fg.model, previous_model=self.previous,
                              candidate=candidate, candidate_path=path, decision=decision, comparison=comparison,
                              training=self.training, parity=parity, work_dir=self.work_dir,
                              events=tuple(self.events))


# ------------------------------------------------------------------------------------------------ steps


def check_parity(model: SFaceNet, path: Path, check_images: np.ndarray) -> float:
    """Max |PyTorch - ONNX Runtime| of the raw embeddings of (N, 112, 112, 3) uint8 crops.

    ModelError, and the file removed, above :data:`PARITY_LIMIT`."""
    diff = onnx_parity(model, path, to_tensor(check_images))
    if not diff < PARITY_LIMIT:
        path.unlink(missing_ok=True)
        raise ModelError(f"The exported model differs from the trained one by {diff:.2e} (limit {PARITY_LIMIT:.0e}); "
                         f"it was not deployed.")
    return diff


def export_candidate(model: SFaceNet, path: Path, check_images: np.ndarray,
                     metadata: dict[str, str] | None = None) -> float:
    """Export ``model`` to ``path`` (``metadata``: key -> value in the ONNX file) and :func:`check_parity`
    on ``check_images``; returns the max absolute difference."""
    export_onnx(model, path, metadata=metadata)
    return check_parity(model, path, check_images)


def _export(run: _Run, model: SFaceNet) -> Path:
    meta = {"facegate.parent_sha256": run.previous.sha256}
    if run.training is not None:
        meta["facegate.train_config"] = run.training.config.model_dump_json()
    path = run.work_dir / "candidate.onnx"
    export_onnx(model, path, metadata=meta)
    run.say(RetrainStage.EXPORT, f"{path.name} written")
    return path


def _parity(run: _Run, model: SFaceNet, path: Path, split: TrainSplit) -> float:
    check = split.held_out.crops[:4] if len(split.held_out) else split.train.crops[:4]
    diff = check_parity(model, path, np.concatenate([check, split.train.crops[:4]]))
    run.say(RetrainStage.PARITY, f"ONNX vs PyTorch max difference {diff:.1e} (limit {PARITY_LIMIT:.0e})")
    return diff


def _evaluate(run: _Run, path: Path, split: TrainSplit, cache: CropCache | None) -> tuple[Comparison, EvalData] | None:
    """Both models on the same data; None when cancelled before the comparison."""
    opts = run.options
    run.say(RetrainStage.EVALUATE, "preparing data" + (f" (LFW from {opts.lfw_dir})" if opts.lfw_dir else ""), 0, 3)
    data = build_eval_data(split.train, split.held_out, lfw_dir=opts.lfw_dir, lfw_folds=opts.lfw_folds,
                           lfw_pairs_per_fold=opts.lfw_pairs_per_fold, n_strangers=opts.n_strangers,
                           target_fpir=run.fg.config.recognition.target_fpir, cache=cache,
                           progress=lambda d, t, m: run.tick(RetrainStage.EVALUATE, d, t, m))
    if run.cancelled():
        run.say(RetrainStage.EVALUATE, "cancelled before the evaluation; the current model stays active", 0, 0)
        return None
    comparison = compare_models(Path(run.previous.path), path, data,
                                device="cpu" if opts.device == "cpu" else "auto", flip=run.fg.embedder_flip,
                                current_name=run.previous.name, candidate_name="candidate",
                                progress=lambda d, t, m: run.tick(RetrainStage.EVALUATE, d, t, m))
    return comparison, data


def _gate(run: _Run, comparison: Comparison, parity: float,
          split: TrainSplit | None = None) -> tuple[GateDecision, Comparison, dict[str, Any]]:
    """The gate's verdict, and the comparison with its report saved (the verdict included)."""
    decision = decide(comparison.current, comparison.candidate, run.options.gate)
    if split is not None:  # the corrected door faces (trainer/corrections.py)
        decision = with_check(decision, corrections_check(
            split, comparison, device="cpu" if run.options.device == "cpu" else "auto", flip=run.fg.embedder_flip,
            fallback_threshold=run.fg.config.recognition.fallback_threshold))
    extra: dict[str, Any] = {"gate": decision.to_dict(), "parity": parity}
    if run.training is not None:
        extra["training"] = run.training.summary()
    comparison = save_report(comparison, run.work_dir, extra)
    for reason in decision.reasons:
        run.say(RetrainStage.GATE, reason, 0, 0)
    run.say(RetrainStage.GATE, f"report saved to {comparison.json_path} and {comparison.plot_path}")
    return decision, comparison, extra


def _register(run: _Run, path: Path, comparison: Comparison, extra: dict[str, Any]) -> ModelRecord:
    name = run.options.name or f"sface-ft-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    metrics = json.dumps({"report": comparison.to_dict(), **extra, "report_json": str(comparison.json_path)},
                         default=str)
    rec = run.fg.register_model(path, name, parent_sha256=run.previous.sha256, metrics_json=metrics,
                                actor=run.options.actor)
    run.say(RetrainStage.REGISTER, f"registered {rec.name} ({rec.sha256[:12]})")
    return rec


def _switch(run: _Run, rec: ModelRecord) -> bool:
    """Re-embed the gallery and activate ``rec``; False when that was cancelled (nothing changed)."""
    run.say(RetrainStage.SWITCH, "re-embedding the gallery", 0, 1)
    try:
        run.fg.switch_model(rec.sha256, actor=run.options.actor, cancelled=run.cancelled,
                            progress=lambda d, t, m: run.tick(RetrainStage.SWITCH, d, t, f"re-embedding {d}/{t}"))
    except FaceGateError as exc:
        run.say(RetrainStage.SWITCH, f"{exc} The current model {run.previous.name} stays active.", 0, 0)
        return False
    run.say(RetrainStage.SWITCH, f"{rec.name} is active (rollback: FaceGate.rollback_model())")
    return True


def _prior(run: _Run, cache: CropCache) -> None:
    """Measure and save the score prior of the newly active model (see desktop_app.core.embedding.model_prior),
    so that the app calibrates its threshold with a prior as it does for the shipped model."""
    lfw_dir, count = run.options.lfw_dir, run.options.prior_strangers
    if lfw_dir is None or count == 0:
        run.say(RetrainStage.PRIOR, "skipped (no LFW folder)" if lfw_dir is None else "skipped", 0, 0)
        return
    run.say(RetrainStage.PRIOR, f"measuring the new model's impostor score tail on {count} LFW strangers", 0, 1)
    crops = stranger_crops(lfw_dir, count, cache, seed=1)
    try:
        dst = run.fg.save_score_prior(crops, "LFW single-image people")
    except ValueError as exc:
        run.say(RetrainStage.PRIOR, f"no score prior ({exc})", 0, 0)
        return
    n = len(crops)
    run.say(RetrainStage.PRIOR, f"score prior saved to {dst.name} ({n * (n - 1) // 2} comparisons)")


def _recalibrate(run: _Run, strangers: np.ndarray) -> None:
    """Give the new model the evaluation's strangers (when its pool is empty), then recalibrate."""
    if len(strangers) and run.fg.stranger_count() == 0:
        added = run.fg.add_stranger_crops(strangers, STRANGER_SOURCE)
        run.say(RetrainStage.RECALIBRATE, f"{added} LFW stranger faces added to the calibration pool of the new model",
                0, 1)
    try:
        cal = run.fg.calibrate()
    except ValueError as exc:
        run.say(RetrainStage.RECALIBRATE, f"threshold not recalibrated ({exc}); the fallback threshold is used", 0, 0)
        return
    run.say(RetrainStage.RECALIBRATE, f"threshold recalibrated to {cal.threshold:.4f} for FPIR {cal.target_fpir:g}")


# ------------------------------------------------------------------------------------------------ the run


def deploy_candidate(fg: FaceGate, model: SFaceNet, split: TrainSplit, options: DeployOptions | None = None, *,
                     training: TrainResult | None = None, cache: CropCache | None = None,
                     progress: RetrainProgressFn | None = None, cancelled: CancelFn | None = None) -> RetrainOutcome:
    """Export, check, evaluate against the active model, gate and (unless ``options.dry_run``) deploy ``model``.

    ``split`` gives the roster evaluation: ``split.train`` crops are the gallery, ``split.held_out``
    the probes; the rest of the evaluation data is described in :mod:`trainer.evaluate`. ``training``
    (the result that produced ``model``) goes into the file's metadata and the report; ``cache``
    keeps LFW crops between calls; ``progress`` gets every :class:`RetrainProgress`; ``cancelled``
    is polled between steps and while re-embedding.
    """
    opts = options or DeployOptions()
    work_dir = Path(opts.work_dir) if opts.work_dir is not None else _default_work_dir(fg)
    work_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(fg, opts, work_dir, fg.model, progress or _noop, cancelled or (lambda: False), training)

    path = _export(run, model)
    parity = _parity(run, model, path, split)
    evaluated = _evaluate(run, path, split, cache)
    if evaluated is None:
        return run.outcome(RetrainStatus.CANCELLED, path, parity)
    comparison, data = evaluated
    decision, comparison, extra = _gate(run, comparison, parity, split)
    if opts.dry_run:
        run.say(RetrainStage.DONE, f"dry run, the gate would {'deploy' if decision.deploy else 'refuse'} this model; "
                                   f"nothing changed")
        return run.outcome(RetrainStatus.DRY_RUN, path, parity, comparison, decision)
    if not decision.deploy:
        fg.record_retrain_refused(comparison.candidate.sha256, decision.failures, actor=opts.actor)
        run.say(RetrainStage.DONE, f"refused, the current model {run.previous.name} stays active")
        return run.outcome(RetrainStatus.REFUSED, path, parity, comparison, decision)

    rec = _register(run, path, comparison, extra)
    if not _switch(run, rec):
        return run.outcome(RetrainStatus.CANCELLED, path, parity, comparison, decision, rec)
    _prior(run, cache if cache is not None else data.cache)  # an empty cache is falsy (len 0)
    _recalibrate(run, data.strangers)
    fg.record_retrain_deployed(rec, run.previous.sha256, actor=opts.actor)
    run.say(RetrainStage.DONE, f"deployed, {rec.name} is active")
    return run.outcome(RetrainStatus.DEPLOYED, path, parity, comparison, decision, rec)


def _default_work_dir(fg: FaceGate) -> Path:
    return fg.data_dir / "training" / datetime.now().strftime("%Y%m%d-%H%M%S")
