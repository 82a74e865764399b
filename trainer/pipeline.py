"""Retrain end to end: train -> export ONNX (parity-checked) -> evaluate old vs new -> gate -> deploy.

On a pass the candidate is registered in the database's model registry (with its evaluation as
``metrics_json``), the gallery is re-embedded with it and it is activated atomically
(``FaceGate.switch_model``), and the threshold is recalibrated. On a fail the current model stays
active and the outcome says why. Rolling back later is ``FaceGate.rollback_model()``.

Files of a run go to ``<database folder>/training/<timestamp>/`` unless ``work_dir`` is given:
``checkpoints/last.pt`` (kept only while the run is unfinished, for ``--resume``), ``candidate.onnx``,
``report.json`` and ``report.png``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.core.embedding.model_prior import measure_prior, prior_path
from desktop_app.core.errors import FaceGateError, ModelError
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.records import ModelRecord

from .data import CropCache, TrainSplit, check_trainable, crops_from_store, split_held_out, to_tensor
from .evaluate import Comparison, build_eval_data, compare_models, save_report, stranger_crops
from .gate import GateConfig, GateDecision, decide
from .model.sface import SFaceNet, export_onnx, onnx_parity
from .train import EpochStats, TrainConfig, TrainResult, train

log = logging.getLogger(__name__)


PARITY_LIMIT = 1e-4
"""Largest allowed |PyTorch - ONNX Runtime| difference of the raw embeddings of an export."""


@dataclass(frozen=True, eq=False)
class RetrainOutcome:
    """What a retraining run did.

    status: "deployed" (the candidate is active), "refused" (the gate said no), "dry-run"
    (trained and evaluated, nothing deployed) or "cancelled"; active_model: the model active at the
    end; previous_model: the one active at the start; candidate: its registry record when
    registered; candidate_path: the exported ONNX file; decision / comparison: the gate's verdict and
    the evaluation (None when the run stopped before); training: the training result; parity: max
    |PyTorch - ONNX| of the export; work_dir: this run's folder; messages: what happened, in order.
    """

    status: str
    active_model: ModelRecord
    previous_model: ModelRecord
    candidate: ModelRecord | None
    candidate_path: Path | None
    decision: GateDecision | None
    comparison: Comparison | None
    training: TrainResult | None
    parity: float | None
    work_dir: Path
    messages: tuple[str, ...]

    @property
    def deployed(self) -> bool:
        return self.status == "deployed"


def _noop(done: int, total: int, message: str) -> None:
    pass


def epoch_line(stats: EpochStats, epochs: int) -> str:
    """One human-readable progress line for an epoch."""
    if stats.phase == "baseline":
        head = "train: before fine-tuning"
    else:
        terms = ", ".join(f"{k} {v:.4f}" for k, v in stats.terms.items())
        head = f"train: epoch {stats.epoch}/{epochs} ({stats.phase}) loss {stats.loss:.4f} [{terms}]"
    if stats.held_out_rank1 is not None:
        head += f"; held-out rank-1 {100 * stats.held_out_rank1:.1f}%"
        if stats.held_out_accuracy is not None:
            head += f", head accuracy {100 * stats.held_out_accuracy:.1f}%"
        head += f", margin {stats.held_out_margin or 0.0:.4f}"
    return head + f" ({stats.seconds:.1f} s)"


def export_candidate(model: SFaceNet, path: Path, check_images: np.ndarray,
                     metadata: dict[str, str] | None = None) -> float:
    """Export ``model`` to ``path`` and check it against PyTorch on ``check_images`` (N, 112, 112, 3)
    uint8 crops. Returns the max absolute difference; ModelError (file removed) above PARITY_LIMIT."""
    export_onnx(model, path, metadata=metadata)
    diff = onnx_parity(model, path, to_tensor(check_images))
    if not diff < PARITY_LIMIT:
        path.unlink(missing_ok=True)
        raise ModelError(f"The exported model differs from the trained one by {diff:.2e} (limit {PARITY_LIMIT:.0e}); "
                         f"it was not deployed.")
    return diff


def deploy_candidate(fg: FaceGate, model: SFaceNet, split: TrainSplit, *, work_dir: Path,
                     lfw_dir: Path | None = None, lfw_folds: int = 10, lfw_pairs_per_fold: int | None = None,
                     n_strangers: int = 600, gate_config: GateConfig | None = None, dry_run: bool = False,
                     device: str = "cpu", name: str | None = None, training: TrainResult | None = None,
                     progress: ProgressFn | None = None, cancelled: CancelFn | None = None,
                     actor: str = "trainer", cache: CropCache | None = None,
                     prior_strangers: int = 2000) -> RetrainOutcome:
    """Export, evaluate against the active model, gate, and (unless ``dry_run``) deploy ``model``.

    On deploy with ``lfw_dir``, the new model's per-comparison impostor tail is measured on
    ``prior_strangers`` LFW single-image people and saved beside it in the registry folder, so the
    app calibrates the new model's threshold with a prior as it does for the shipped one (0 skips).

    ``split`` gives the roster evaluation: ``split.train`` crops are the gallery, ``split.held_out``
    the probes. The evaluation data (LFW subset, strangers) is described in :mod:`trainer.evaluate`;
    ``cache`` keeps LFW crops between calls.
    """
    report = progress or _noop
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    previous = fg.model
    messages: list[str] = []

    def say(done: int, total: int, message: str) -> None:
        messages.append(message)
        log.info("%s", message)
        report(done, total, message)

    # 1. export + parity
    path = work_dir / "candidate.onnx"
    check = split.held_out.crops[:4] if len(split.held_out) else split.train.crops[:4]
    check = np.concatenate([check, split.train.crops[:4]])
    meta = {"facegate.parent_sha256": previous.sha256}
    if training is not None:
        meta["facegate.train_config"] = training.config.model_dump_json()
    parity = export_candidate(model, path, check, meta)
    say(1, 1, f"export: {path.name} written, ONNX vs PyTorch max difference {parity:.1e}")

    def outcome(status: str, comparison: Comparison | None = None, decision: GateDecision | None = None,
                candidate: ModelRecord | None = None) -> RetrainOutcome:
        return RetrainOutcome(status=status, active_model=fg.model, previous_model=previous, candidate=candidate,
                              candidate_path=path, decision=decision, comparison=comparison, training=training,
                              parity=parity, work_dir=work_dir, messages=tuple(messages))

    # 2. evaluate old vs new
    say(0, 3, "evaluate: preparing data" + (f" (LFW from {lfw_dir})" if lfw_dir else ""))
    data = build_eval_data(split.train, split.held_out, lfw_dir=lfw_dir, lfw_folds=lfw_folds,
                           lfw_pairs_per_fold=lfw_pairs_per_fold, n_strangers=n_strangers,
                           target_fpir=fg.config.recognition.target_fpir, cache=cache,
                           progress=lambda d, t, m: report(d, t, f"evaluate: {m}"))
    if cancelled is not None and cancelled():
        say(0, 0, "cancelled before the evaluation; the current model stays active")
        return outcome("cancelled")
    onnx_device = "cpu" if device == "cpu" else "auto"
    comparison = compare_models(Path(previous.path), path, data, device=onnx_device,
                                flip=fg.engine.embedder.flip, current_name=previous.name, candidate_name="candidate",
                                progress=lambda d, t, m: report(d, t, f"evaluate: {m}"))

    # 3. gate
    decision = decide(comparison.current, comparison.candidate, gate_config)
    extra: dict[str, Any] = {"gate": decision.to_dict(), "parity": parity}
    if training is not None:
        extra["training"] = training.summary()
    comparison = save_report(comparison, work_dir, extra)
    for reason in decision.reasons:
        say(0, 0, f"gate: {reason}")
    say(1, 1, f"evaluate: report saved to {comparison.json_path} and {comparison.plot_path}")
    if dry_run:
        verdict = "deploy" if decision.deploy else "refuse"
        say(1, 1, f"dry run: the gate would {verdict} this model; nothing changed")
        return outcome("dry-run", comparison, decision)
    if not decision.deploy:
        fg.store.audit(actor, "model.retrain.refused",
                       {"candidate_sha256": comparison.candidate.sha256, "reasons": list(decision.failures)})
        say(0, 0, f"refused: the current model {previous.name} stays active")
        return outcome("refused", comparison, decision)

    # 4. register, re-embed, switch, recalibrate
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = name or f"sface-ft-{stamp}"
    metrics = json.dumps({"report": comparison.to_dict(), **extra, "report_json": str(comparison.json_path)},
                         default=str)
    rec = fg.registry.add(path, name, parent_sha256=previous.sha256, metrics_json=metrics)
    say(0, 0, f"deploy: registered {rec.name} ({rec.sha256[:12]}); re-embedding the gallery")
    try:
        fg.switch_model(rec.sha256, actor=actor, cancelled=cancelled,
                        progress=lambda d, t, m: report(d, t, f"deploy: re-embedding {d}/{t}"))
    except FaceGateError as exc:
        say(0, 0, f"deploy: {exc} The current model {previous.name} stays active.")
        return outcome("cancelled", comparison, decision, rec)
    say(1, 1, f"deploy: {rec.name} is active (rollback: FaceGate.rollback_model())")
    if len(data.strangers) and fg.store.strangers(rec.sha256).shape[0] == 0:
        vecs = fg.engine.embedder.embed(data.strangers)
        fg.store.add_strangers(vecs, rec.sha256, "lfw-single-image")
        say(0, 0, f"deploy: {len(vecs)} LFW stranger faces added to the calibration pool of the new model")
    if lfw_dir is not None and prior_strangers > 0:
        _write_score_prior(fg, rec, lfw_dir, prior_strangers, cache or data.cache, say)
    try:
        cal = fg.calibrate()
        say(1, 1, f"deploy: threshold recalibrated to {cal.threshold:.4f} for FPIR {cal.target_fpir:g}")
    except ValueError as exc:
        say(0, 0, f"deploy: threshold not recalibrated ({exc}); the fallback threshold is used")
    fg.store.audit(actor, "model.retrain.deployed", {"sha256": rec.sha256, "name": rec.name,
                                                      "parent_sha256": previous.sha256})
    return outcome("deployed", comparison, decision, rec)


def _write_score_prior(fg: FaceGate, rec: ModelRecord, lfw_dir: Path, count: int, cache: CropCache,
                       say: Callable[[int, int, str], None]) -> None:
    """Measure and save the score prior of the newly active model (see desktop_app.core.embedding.model_prior)."""
    say(0, 1, f"deploy: measuring the new model's impostor score tail on {count} LFW strangers")
    crops = stranger_crops(lfw_dir, count, cache, seed=1)
    flip = fg.engine.embedder.flip
    try:
        prior = measure_prior(fg.engine.embedder.embed(crops), rec.sha256, flip, "LFW single-image people")
    except ValueError as exc:
        say(0, 0, f"deploy: no score prior ({exc})")
        return
    dst = prior_path(fg.registry.folder, rec.sha256, flip)
    dst.write_text(prior.to_json() + "\n")
    say(1, 1, f"deploy: score prior saved to {dst.name} ({prior.comparisons} comparisons)")


def retrain(db_path: Path | FaceGate, config: TrainConfig | None = None, lfw_dir: Path | None = None,
            progress: ProgressFn | None = None, cancelled: CancelFn | None = None, *,
            gate_config: GateConfig | None = None, dry_run: bool = False, resume: Path | None = None,
            work_dir: Path | None = None, lfw_folds: int = 10, lfw_pairs_per_fold: int | None = None,
            n_strangers: int = 600) -> RetrainOutcome:
    """Fine-tune the active model of the FaceGate database ``db_path`` and deploy it if the gate passes.

    Args:
        db_path: the FaceGate database (its active people's stored crops are the training data;
            ``config.holdout_fraction`` of each person's crops is held out, by ``config.seed``), or
            an open :class:`FaceGate` (e.g. the GUI's), which then switches models in place and
            stays open.
        config: training settings (``base_model`` None: start from the active model).
        lfw_dir: LFW folder with pairs.txt: adds LFW verification (``lfw_folds`` folds, optionally
            ``lfw_pairs_per_fold`` pairs of each) and ``n_strangers`` single-image LFW people as
            strangers for the open-set figures.
        progress: progress(done, total, message) with messages "train: ...", "export: ...",
            "evaluate: ...", "gate: ...", "deploy: ...".
        cancelled: polled between batches and stages; True stops (the current model stays).
        gate_config: the gate's tolerances. dry_run: train and evaluate only.
        resume: a checkpoint (``last.pt``) of an interrupted run with the same settings.
        work_dir: this run's folder (default ``<db folder>/training/<timestamp>``).
    """
    cfg = config or TrainConfig()
    if isinstance(db_path, FaceGate):
        return _retrain(db_path, cfg, lfw_dir, progress, cancelled, gate_config=gate_config, dry_run=dry_run,
                        resume=resume, work_dir=work_dir, lfw_folds=lfw_folds, lfw_pairs_per_fold=lfw_pairs_per_fold,
                        n_strangers=n_strangers)
    path = Path(db_path)
    if not path.is_file():
        raise FaceGateError(f"Database not found: {path}")
    with FaceGate(path, device="cpu" if cfg.device == "cpu" else "auto") as fg:
        return _retrain(fg, cfg, lfw_dir, progress, cancelled, gate_config=gate_config, dry_run=dry_run,
                        resume=resume, work_dir=work_dir, lfw_folds=lfw_folds, lfw_pairs_per_fold=lfw_pairs_per_fold,
                        n_strangers=n_strangers)


def _retrain(fg: FaceGate, cfg: TrainConfig, lfw_dir: Path | None, progress: ProgressFn | None,
             cancelled: CancelFn | None, *, gate_config: GateConfig | None, dry_run: bool, resume: Path | None,
             work_dir: Path | None, lfw_folds: int, lfw_pairs_per_fold: int | None,
             n_strangers: int) -> RetrainOutcome:
    report = progress or _noop
    work = Path(work_dir) if work_dir else fg.data_dir / "training" / datetime.now().strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True, exist_ok=True)
    previous = fg.model
    updates: dict[str, Any] = {}
    if cfg.base_model is None:
        updates["base_model"] = Path(previous.path)
    if cfg.checkpoint_dir is None:
        updates["checkpoint_dir"] = work / "checkpoints"
    cfg = cfg.model_copy(update=updates)
    data = crops_from_store(fg.store)
    split = split_held_out(data, cfg.holdout_fraction, cfg.seed)
    check_trainable(split)
    report(0, cfg.epochs, f"train: {split.num_classes} people, {len(split.train)} training crops, "
                          f"{len(split.held_out)} held out; loss {cfg.loss}, device {cfg.device}")
    t0 = time.perf_counter()
    result = train(cfg, split, progress=lambda s: report(s.epoch, cfg.epochs, epoch_line(s, cfg.epochs)),
                   cancelled=cancelled, resume=resume)
    done = (f"train: best epoch {result.best_epoch} of {result.epochs_run} "
            f"({time.perf_counter() - t0:.0f} s" + (", stopped early" if result.stopped_early else "") + ")")
    report(result.epochs_run, cfg.epochs, done)
    if result.cancelled:
        msg = "train: cancelled; the current model stays active"
        if result.checkpoint:
            msg += f" (resume with --resume {result.checkpoint})"
        report(result.epochs_run, cfg.epochs, msg)
        return RetrainOutcome(status="cancelled", active_model=fg.model, previous_model=previous, candidate=None,
                              candidate_path=None, decision=None, comparison=None, training=result, parity=None,
                              work_dir=work, messages=(done, msg))
    out = deploy_candidate(fg, result.model, split, work_dir=work, lfw_dir=lfw_dir, lfw_folds=lfw_folds,
                           lfw_pairs_per_fold=lfw_pairs_per_fold, n_strangers=n_strangers,
                           gate_config=gate_config, dry_run=dry_run, device=cfg.device, training=result,
                           progress=progress, cancelled=cancelled,
                           name=f"sface-ft-{cfg.loss.replace('+', '-')}-{work.name}")
    messages = (done, *out.messages)
    if out.status != "cancelled" and result.checkpoint is not None:
        result.checkpoint.unlink(missing_ok=True)  # ~140 MB, only needed to resume an interrupted run
        result = dataclasses.replace(result, checkpoint=None)
        messages = (*messages, "train: checkpoint removed (the run is complete)")
        report(1, 1, messages[-1])
    return dataclasses.replace(out, messages=messages, training=result)
