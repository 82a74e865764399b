"""Models (admin): the registered embedding models and the active one's calibration; retrain in the
thread pool (progress, log, cancel; outcome with the gate's reasons and the report plot); roll back.

The trainer (and torch, seconds to import) is imported only inside the pool jobs. Retraining is given
the app's own ``FaceGate``, so a deployed model is live at once; the capture worker keeps running
(the core serialises on its lock) and is told to refresh when the model changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.accounts import Action
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.storage.records import ModelRecord
from desktop_app.core.types import Calibration
from trainer.progress import RetrainProgress, RetrainStage

from .context import AppContext
from .jobs import Job
from .retrain_dialog import RetrainDialog, RetrainOptions, TrainingTools, probe_training_tools

if TYPE_CHECKING:
    from trainer.deploy import RetrainOutcome

log = logging.getLogger(__name__)

COLUMNS = ("", "Name", "SHA-256", "Created", "Threshold", "Target FPIR", "Gallery")
STAGE_SPANS: dict[RetrainStage, tuple[float, float]] = {
    RetrainStage.TRAIN: (0.0, 0.6), RetrainStage.EXPORT: (0.6, 0.62), RetrainStage.PARITY: (0.62, 0.65),
    RetrainStage.EVALUATE: (0.65, 0.9), RetrainStage.GATE: (0.9, 0.92), RetrainStage.REGISTER: (0.92, 0.93),
    RetrainStage.SWITCH: (0.93, 0.97), RetrainStage.PRIOR: (0.97, 0.98), RetrainStage.RECALIBRATE: (0.98, 0.99),
    RetrainStage.DONE: (0.99, 1.0),
}
"""Share of the whole run (start, end) of each stage, in run order."""
BAR_MAX = 1000
REPORT_WIDTH = 760
STATUS_TITLES = {"deployed": "Deployed: the new model is active.",
                 "refused": "Refused: the current model stays active.",
                 "dry-run": "Dry run finished: nothing was changed.",
                 "cancelled": "Cancelled: the current model stays active."}


def overall_progress(record: RetrainProgress) -> float:
    """Fraction (0..1) of a whole retrain reached at a progress record: its stage's span, and
    ``done / total`` within it."""
    lo, hi = STAGE_SPANS[record.stage]
    return lo + (hi - lo) * record.fraction


def describe_model_calibration(cal: Calibration | None, fallback: float) -> str:
    """Threshold, target false-accept rate and gallery size of the active model, in one line."""
    if cal is None:
        return (f"Threshold {fallback:.3f} (fallback: not calibrated yet, it needs people with at least "
                f"two shots each).")
    return (f"Threshold {cal.threshold:.4f} · target FPIR {cal.target_fpir:.2%} (measured "
            f"{cal.est_fpir:.2%}, {cal.est_fnir:.1%} of enrolled people missed) · gallery "
            f"{cal.gallery_persons} people, {cal.gallery_templates} shots")


def _cell(text: str, tooltip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if tooltip:
        item.setToolTip(tooltip)
    return item


class ModelsPage(QWidget):
    """The models screen. ``retrain_finished(status)`` after each retrain ("deployed", "refused",
    "dry-run", "cancelled" or "failed"); ``rolled_back(ok)`` after a roll back; ``retrain_progress``
    carries each :class:`~trainer.progress.RetrainProgress` of the running retrain to the GUI thread.

    probe: checks the training tools (run in the pool; injectable for tests).
    """

    retrain_finished = Signal(str)
    rolled_back = Signal(bool)
    retrain_progress = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None,
                 probe: Callable[[], TrainingTools] = probe_training_tools) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.tools: TrainingTools | None = None
        self.job: Job | None = None
        self.outcome: RetrainOutcome | None = None
        self.status = ""
        self._outcome_box: list[RetrainOutcome] = []
        self._rollback_job: Job | None = None
        self._fraction = 0.0

        title = QLabel("Face models")
        title.setProperty("role", "title")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(140)
        self.calibration = QLabel("…")
        self.calibration.setWordWrap(True)

        self.retrain_btn = QPushButton("Retrain…")
        self.retrain_btn.setProperty("primary", True)
        self.retrain_btn.setEnabled(False)
        self.retrain_btn.clicked.connect(self.open_retrain_dialog)
        self.rollback_btn = QPushButton("Roll back")
        self.rollback_btn.clicked.connect(lambda: self.rollback())
        buttons = QHBoxLayout()
        buttons.addWidget(self.retrain_btn)
        buttons.addWidget(self.rollback_btn)
        buttons.addStretch(1)
        self.tools_label = QLabel("Checking the training tools…")
        self.tools_label.setWordWrap(True)
        self.tools_label.setProperty("role", "hint")

        active_box = QGroupBox("Active model")
        ab = QVBoxLayout(active_box)
        ab.addWidget(self.calibration)
        ab.addLayout(buttons)
        ab.addWidget(self.tools_label)

        # the run
        self.progress = QProgressBar()
        self.progress.setRange(0, BAR_MAX)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel_retrain)
        bar_row = QHBoxLayout()
        bar_row.addWidget(self.progress, 1)
        bar_row.addWidget(self.cancel_btn)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.log_view.setMinimumHeight(120)
        self.log_view.setPlaceholderText("The retraining log appears here.")
        self.outcome_label = QLabel("")
        self.outcome_label.setWordWrap(True)
        self.outcome_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report = QLabel()
        self.report.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.report_pixmap: QPixmap | None = None
        self.open_report_btn = QPushButton("Open the run's folder")
        self.open_report_btn.setVisible(False)
        self.open_report_btn.clicked.connect(self._open_work_dir)
        run_box = QGroupBox("Retraining")
        rb = QVBoxLayout(run_box)
        rb.addLayout(bar_row)
        rb.addWidget(self.log_view)
        rb.addWidget(self.outcome_label)
        rb.addWidget(self.report)
        rb.addWidget(self.open_report_btn, 0, Qt.AlignmentFlag.AlignLeft)
        self.run_box = run_box

        inner = QWidget()
        col = QVBoxLayout(inner)
        col.addWidget(title)
        col.addWidget(self.table)
        col.addWidget(active_box)
        col.addWidget(run_box)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(inner)
        scroll.setWidgetResizable(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(scroll)

        # emitted in the pool thread: queued to the GUI thread, in order with the job's own signals
        self.retrain_progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        ctx.hub.model_changed.connect(self.refresh)
        ctx.hub.people_changed.connect(self.show_calibration)
        ctx.hub.settings_changed.connect(self.show_calibration)

        def connect_probe(job: Job) -> None:
            job.signals.succeeded.connect(self._tools_ready)
            job.signals.failed.connect(self._tools_failed)

        self._probe_job = ctx.jobs.start(lambda _p, _c: probe(), "training tools check", setup=connect_probe)
        self.refresh()

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        """A retrain or a roll back is under way."""
        return (self.job is not None and not self.job.done) or (
            self._rollback_job is not None and not self._rollback_job.done)

    def _update_buttons(self) -> None:
        busy = self.running
        ok = self.tools is not None and self.tools.available
        self.retrain_btn.setEnabled(ok and not busy)
        prev = self.ctx.gate.previous_model()
        self.rollback_btn.setEnabled(prev is not None and not busy)
        self.rollback_btn.setToolTip(f"Make {prev.name} ({prev.sha256[:12]}) active again" if prev
                                     else "No previous model to roll back to")
        self.cancel_btn.setEnabled(self.job is not None and not self.job.done and not self.job.is_cancelled)

    def refresh(self) -> None:
        """Reload the model list, the buttons and the active model's calibration."""
        self.load_models()
        self._update_buttons()
        self.show_calibration()

    def load_models(self) -> None:
        gate = self.ctx.gate
        models: list[ModelRecord] = gate.list_models()
        active = gate.model.sha256
        self.table.setRowCount(len(models))
        for row, m in enumerate(models):
            is_active = m.sha256 == active
            cells = (
                _cell("● active" if is_active else "", "The model in use" if is_active else ""),
                _cell(m.name, m.path),
                _cell(m.sha256[:12], m.sha256),
                _cell(m.created_at.strftime("%Y-%m-%d %H:%M")),
                _cell(f"{m.threshold:.4f}" if m.threshold is not None else "—"),
                _cell(f"{m.target_fpir:.2%}" if m.target_fpir is not None else "—"),
                _cell(f"{m.gallery_size} people" if m.gallery_size is not None else "—"),
            )
            for c, item in enumerate(cells):
                if is_active:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, c, item)

    def active_row(self) -> int:
        """Row of the active model in the table (-1 when not listed)."""
        return next((r for r in range(self.table.rowCount())
                     if (it := self.table.item(r, 2)) is not None and it.toolTip() == self.ctx.gate.model.sha256),
                    -1)

    def show_calibration(self) -> None:
        """Compute the active model's calibration in the pool (it may calibrate) and show it."""
        gate = self.ctx.gate
        self.calibration.setText(f"{gate.model.name} ({gate.model.sha256[:12]}): computing the calibration…")

        def work(progress: ProgressFn, cancelled: CancelFn) -> tuple[ModelRecord, Calibration | None]:
            return gate.model, gate.current_calibration()

        self.ctx.jobs.start(work, "model calibration", setup=lambda j: j.signals.succeeded.connect(self._show_cal))

    def _show_cal(self, result: tuple[ModelRecord, Calibration | None]) -> None:
        model, cal = result
        fallback = self.ctx.gate.config.recognition.fallback_threshold
        self.calibration.setText(f"{model.name} ({model.sha256[:12]}) on {self.ctx.gate.provider}. "
                                 + describe_model_calibration(cal, fallback))

    def _tools_ready(self, tools: TrainingTools) -> None:
        self.tools = tools
        if tools.available:
            self.tools_label.setText(f"PyTorch {tools.version}; training on "
                                     f"{'CPU or GPU (CUDA)' if tools.cuda else 'CPU (no CUDA GPU found)'}.")
            self.tools_label.setProperty("role", "hint")
        else:
            self.tools_label.setText(tools.problem)
            self.tools_label.setProperty("role", "warning")
        self.tools_label.style().unpolish(self.tools_label)
        self.tools_label.style().polish(self.tools_label)
        self._update_buttons()

    def _tools_failed(self, message: str, _exc: object) -> None:
        self._tools_ready(TrainingTools(False, problem=f"Retraining is unavailable: {message}"))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self.running:
            self.load_models()
            self._update_buttons()

    # ------------------------------------------------------------------ retrain
    def open_retrain_dialog(self) -> Job | None:
        """Ask for the options (after the PIN) and start the run."""
        if self.tools is None or not self.tools.available or self.running:
            return None
        if not self.ctx.require(Action.MODELS, "retrain the face model"):
            return None
        dialog = RetrainDialog(self.tools, self)
        accepted = dialog.exec() == RetrainDialog.DialogCode.Accepted
        dialog.deleteLater()  # read below before the event loop deletes it
        if not accepted:
            return None
        return self.start_retrain(dialog.options())

    def start_retrain(self, options: RetrainOptions, **train_settings: Any) -> Job | None:
        """Start a retrain with ``options`` in the pool (``train_settings``: further ``TrainConfig``
        fields). None when the tools are missing or a run is under way."""
        if self.tools is None or not self.tools.available or self.running:
            return None
        gate = self.ctx.gate
        box: list[RetrainOutcome] = []
        self._outcome_box = box

        actor = self.ctx.actor  # read on the GUI thread: the account that started it

        def work(_progress: ProgressFn, cancelled: CancelFn) -> RetrainOutcome:
            from trainer.deploy import DeployOptions
            from trainer.pipeline import retrain
            from trainer.train import TrainConfig

            cfg = TrainConfig(**{"recipe": options.recipe, "loss": options.loss, "epochs": options.epochs,
                                 "device": options.device, **train_settings})
            deploy = DeployOptions(lfw_dir=options.lfw_dir, lfw_pairs_per_fold=options.lfw_pairs_per_fold,
                                   dry_run=options.dry_run, actor=actor)
            out = retrain(gate, cfg, deploy, self.retrain_progress.emit, cancelled)
            box.append(out)
            return out

        self.outcome = None
        self.status = ""
        self._fraction = 0.0
        self.progress.setValue(0)
        self.log_view.clear()
        self.outcome_label.setText("")
        self.outcome_label.setProperty("role", "")
        self.report.clear()
        self.report_pixmap = None
        self.open_report_btn.setVisible(False)
        what = "dry run" if options.dry_run else "retrain"
        self.log_view.appendPlainText(f"Starting a {what}: {options.recipe.replace('_', ' ')} recipe, "
                                      f"loss {options.loss}, at most {options.epochs} epochs on "
                                      f"{options.device.upper()}" + (f", LFW check from {options.lfw_dir}"
                                                                     if options.lfw_dir else ", no LFW check"))

        def connect(job: Job) -> None:
            self.job = job
            job.signals.succeeded.connect(self._on_succeeded)
            job.signals.cancelled.connect(self._on_cancelled)
            job.signals.failed.connect(self._on_failed)
            job.signals.finished.connect(self._on_finished)

        job = self.ctx.jobs.start(work, "retrain", setup=connect)
        self._update_buttons()
        return job

    def cancel_retrain(self) -> None:
        """Ask the run to stop (it stops at the next batch or stage; the current model stays)."""
        if self.job is not None and not self.job.done:
            self.job.cancel()
            self.log_view.appendPlainText("Cancelling… (at the next batch or stage)")
            self.cancel_btn.setEnabled(False)

    def _on_progress(self, record: RetrainProgress) -> None:
        if record.message:
            self.log_view.appendPlainText(record.line)
        frac = overall_progress(record)
        if frac > self._fraction:
            self._fraction = frac
            self.progress.setValue(round(frac * BAR_MAX))

    def _on_succeeded(self, outcome: RetrainOutcome) -> None:
        self.show_outcome(outcome)

    def _on_cancelled(self) -> None:
        if self._outcome_box:  # the trainer returned (e.g. it had deployed before the flag was seen)
            self.show_outcome(self._outcome_box[-1])
        else:
            self._set_outcome("cancelled", STATUS_TITLES["cancelled"], "warning")

    def _on_failed(self, message: str, _exc: object) -> None:
        self._set_outcome("failed", f"Retraining failed: {message} The current model stays active.", "error")

    def _on_finished(self) -> None:
        if self.status in ("deployed", "refused", "dry-run"):
            self.progress.setValue(BAR_MAX)
        self.ctx.capture.worker.refresh()
        self.ctx.hub.model_changed.emit()  # refreshes this page, the status bar (provider, gallery)
        self._update_buttons()
        self.retrain_finished.emit(self.status)

    def _set_outcome(self, status: str, text: str, role: str) -> None:
        self.status = status
        self.outcome_label.setText(text)
        self.outcome_label.setProperty("role", role)
        self.outcome_label.style().unpolish(self.outcome_label)
        self.outcome_label.style().polish(self.outcome_label)
        self.log_view.appendPlainText(text.split("\n", 1)[0])

    def show_outcome(self, out: RetrainOutcome) -> None:
        """The run's verdict, the gate's reasons and the report plot."""
        self.outcome = out
        lines = [STATUS_TITLES.get(out.status, out.status)]
        if out.status == "deployed" and out.candidate is not None:
            lines[0] = (f"Deployed: {out.candidate.name} ({out.candidate.sha256[:12]}) is active; "
                        f"{out.previous_model.name} can be restored with Roll back.")
        if out.decision is not None:
            failures = out.decision.failures
            if out.status == "dry-run":
                lines.append("The gate would " + ("deploy" if out.decision.deploy else "refuse") + " this model.")
            if failures:
                lines.append("Why not deployed:" if out.status == "refused" else "Failed checks:")
                lines.extend(f" • {r}" for r in failures)
            passed = [r for r in out.decision.reasons if r not in failures]
            if passed:
                lines.append("Passed checks:")
                lines.extend(f" • {r}" for r in passed)
        role = {"deployed": "", "dry-run": "", "refused": "warning", "cancelled": "warning"}.get(out.status, "")
        self._set_outcome(out.status, "\n".join(lines), role)
        plot = out.comparison.plot_path if out.comparison is not None else None
        if plot is not None and Path(plot).is_file():
            pix = QPixmap(str(plot))
            if not pix.isNull():
                self.report_pixmap = pix
                self.report.setPixmap(pix.scaledToWidth(min(REPORT_WIDTH, pix.width()),
                                                        Qt.TransformationMode.SmoothTransformation))
                self.report.setToolTip(str(plot))
        self.open_report_btn.setVisible(True)

    def _open_work_dir(self) -> None:
        if self.outcome is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.outcome.work_dir)))

    # ------------------------------------------------------------------ roll back
    def rollback(self, confirm: bool = True) -> Job | None:
        """Make the previous model active again (after a confirmation), in the pool; None when not done."""
        if self.running:
            return None
        prev = self.ctx.gate.previous_model()
        if prev is None or not self.ctx.require(Action.MODELS, "roll back the face model"):
            return None
        current = self.ctx.gate.model
        if confirm and QMessageBox.question(
            self, "Roll back the face model",
            f"Make {prev.name} ({prev.sha256[:12]}) the active model again, instead of {current.name} "
            f"({current.sha256[:12]})? The gallery is re-embedded with it; nothing is deleted.",
        ) != QMessageBox.StandardButton.Yes:
            return None
        gate = self.ctx.gate

        actor = self.ctx.actor

        def work(progress: ProgressFn, cancelled: CancelFn) -> ModelRecord:
            return gate.rollback_model(actor=actor)

        self.log_view.appendPlainText(f"Rolling back to {prev.name} ({prev.sha256[:12]})…")
        self.progress.setRange(0, 0)  # busy

        def connect(job: Job) -> None:
            self._rollback_job = job
            job.signals.succeeded.connect(self._rolled_back)
            job.signals.failed.connect(self._rollback_failed)
            job.signals.finished.connect(self._rollback_finished)

        job = self.ctx.jobs.start(work, "roll back", setup=connect)
        self._update_buttons()
        return job

    def _rolled_back(self, rec: ModelRecord) -> None:
        self._set_outcome("rolled-back", f"Rolled back: {rec.name} ({rec.sha256[:12]}) is active again.", "")
        self.rolled_back.emit(True)

    def _rollback_failed(self, message: str, _exc: object) -> None:
        self._set_outcome("rollback-failed", f"Not rolled back: {message}", "error")
        self.rolled_back.emit(False)

    def _rollback_finished(self) -> None:
        self.progress.setRange(0, BAR_MAX)
        self.progress.setValue(0)
        self.ctx.capture.worker.refresh()
        self.ctx.hub.model_changed.emit()
        self._update_buttons()
