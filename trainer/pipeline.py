"""Retrain end to end: train, then :func:`trainer.deploy.deploy_candidate` (export, parity check,
evaluate, gate, register, switch, prior, recalibrate).

Every step reports typed :class:`~trainer.progress.RetrainProgress` records. The training data are
the active people's stored crops (``FaceGate.training_crops``). Files of a run go to
``<database folder>/training/<timestamp>/`` unless ``DeployOptions.work_dir`` is given:
``checkpoints/last.pt`` (kept only while the run is unfinished, for ``--resume``), ``candidate.onnx``,
``report.json`` and ``report.png``.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from desktop_app.core.errors import FaceGateError
from desktop_app.core.progress import CancelFn
from desktop_app.core.service import FaceGate

from .corrections import CorrectedSplit, with_corrections
from .data import check_trainable, crops_from_facegate, split_held_out
from .deploy import DeployOptions, RetrainOutcome, RetrainStatus, deploy_candidate, export_candidate
from .progress import RetrainProgress, RetrainProgressFn, RetrainStage
from .train import EpochStats, TrainConfig, train

__all__ = ["RetrainOutcome", "epoch_line", "export_candidate", "retrain"]


def epoch_line(stats: EpochStats, epochs: int) -> str:
    """One human-readable progress sentence for an epoch (without the stage name)."""
    if stats.phase == "baseline":
        head = "before fine-tuning"
    else:
        terms = ", ".join(f"{k} {v:.4f}" for k, v in stats.terms.items())
        head = f"epoch {stats.epoch}/{epochs} ({stats.phase}) loss {stats.loss:.4f} [{terms}]"
    if stats.held_out_rank1 is not None:
        head += f"; held-out rank-1 {100 * stats.held_out_rank1:.1f}%"
        if stats.held_out_accuracy is not None:
            head += f", head accuracy {100 * stats.held_out_accuracy:.1f}%"
        head += f", margin {stats.held_out_margin or 0.0:.4f}"
    return head + f" ({stats.seconds:.1f} s)"


def retrain(db: Path | FaceGate, config: TrainConfig | None = None, options: DeployOptions | None = None,
            progress: RetrainProgressFn | None = None, cancelled: CancelFn | None = None, *,
            resume: Path | None = None) -> RetrainOutcome:
    """Fine-tune the active model of a FaceGate database and deploy it if the gate passes.

    Args:
        db: the database file (opened and closed here), or an open :class:`FaceGate` (e.g. the
            GUI's), which then switches models in place and stays open. Its active people's stored
            crops are the training data; ``config.holdout_fraction`` of each person's crops is held
            out, by ``config.seed``.
        config: training settings (``base_model`` None: start from the active model).
        options: evaluation and deployment (LFW check, gate, dry run, work folder); the ONNX models
            are evaluated on the training device.
        progress: gets every :class:`RetrainProgress`, stage by stage.
        cancelled: polled between batches and steps; True stops (the current model stays).
        resume: a checkpoint (``last.pt``) of an interrupted run with the same settings.
    """
    cfg = config or TrainConfig()
    opts = dataclasses.replace(options or DeployOptions(), device=cfg.device)
    if isinstance(db, FaceGate):
        return _retrain(db, cfg, opts, progress or (lambda _: None), cancelled or (lambda: False), resume)
    path = Path(db)
    if not path.is_file():
        raise FaceGateError(f"Database not found: {path}")
    with FaceGate(path, device="cpu" if cfg.device == "cpu" else "auto") as fg:
        return _retrain(fg, cfg, opts, progress or (lambda _: None), cancelled or (lambda: False), resume)


def _retrain(fg: FaceGate, cfg: TrainConfig, opts: DeployOptions, report: RetrainProgressFn, cancelled: CancelFn,
             resume: Path | None) -> RetrainOutcome:
    work = opts.work_dir or fg.data_dir / "training" / datetime.now().strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True, exist_ok=True)
    previous = fg.model
    updates: dict[str, Any] = {}
    if cfg.base_model is None:
        updates["base_model"] = Path(previous.path)
    if cfg.checkpoint_dir is None:
        updates["checkpoint_dir"] = work / "checkpoints"
    cfg = cfg.model_copy(update=updates)
    split = split_held_out(crops_from_facegate(fg), cfg.holdout_fraction, cfg.seed)
    check_trainable(split)
    split = with_corrections(split, fg.correction_faces())  # corrected door faces (trainer/corrections.py)
    events: list[RetrainProgress] = []

    def say(done: int, message: str) -> None:
        events.append(RetrainProgress(RetrainStage.TRAIN, done, cfg.epochs, message))
        report(events[-1])

    say(0, f"{split.num_classes} people, {len(split.train)} training crops, {len(split.held_out)} held out; "
           f"loss {cfg.loss}, device {cfg.device}"
           + (f"; corrections: {split.n_positive} missed and {split.n_negative} wrong matches"
              if isinstance(split, CorrectedSplit) else ""))
    t0 = time.perf_counter()
    result = train(cfg, split, cancelled=cancelled, resume=resume,
                   progress=lambda s: report(RetrainProgress(RetrainStage.TRAIN, s.epoch, cfg.epochs,
                                                             epoch_line(s, cfg.epochs))))
    say(result.epochs_run, f"best epoch {result.best_epoch} of {result.epochs_run} "
                           f"({time.perf_counter() - t0:.0f} s" + (", stopped early" if result.stopped_early else "")
                           + ")")
    if result.cancelled:
        say(result.epochs_run, "cancelled; the current model stays active"
            + (f" (resume with --resume {result.checkpoint})" if result.checkpoint else ""))
        return RetrainOutcome(status=RetrainStatus.CANCELLED, active_model=fg.model, previous_model=previous,
                              candidate=None, candidate_path=None, decision=None, comparison=None, training=result,
                              parity=None, work_dir=work, events=tuple(events))
    name = opts.name or f"sface-ft-{cfg.loss.replace('+', '-')}-{work.name}"
    out = deploy_candidate(fg, result.model, split, dataclasses.replace(opts, work_dir=work, name=name),
                           training=result, progress=report, cancelled=cancelled)
    events.extend(out.events)
    if out.status is not RetrainStatus.CANCELLED and result.checkpoint is not None:
        result.checkpoint.unlink(missing_ok=True)  # ~140 MB, only needed to resume an interrupted run
        result = dataclasses.replace(result, checkpoint=None)
        events.append(RetrainProgress(RetrainStage.DONE, 1, 1, "training checkpoint removed (the run is complete)"))
        report(events[-1])
    return dataclasses.replace(out, events=tuple(events), training=result)
