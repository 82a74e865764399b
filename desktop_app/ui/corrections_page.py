"""Corrections in the app (issue 14): the "Not this person…" / "This was…" actions of the Events
page (with their dialogs), and the Corrections page: false accepts and false rejects per person,
the corrections themselves (withdraw one), and the template refresh (preview, run now).

Correcting and refreshing need ``Action.ENROL`` (a correction labels a face as a person for the
next retraining, like an enrolment); the page needs ``Action.VIEW_EVENTS``. The refresh runs off
the GUI thread (``JobRunner``); everything is audited by the facade with the account's name.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.accounts import Action
from desktop_app.core.corrections import Correction, PersonCorrections, RefreshReport
from desktop_app.core.errors import FaceGateError

from .context import AppContext
from .jobs import Job

if TYPE_CHECKING:
    from desktop_app.core.storage.records import EventRecord

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- dialogs


class NotPersonDialog(QDialog):
    """Confirms "not <name>" for one event, with an optional note."""

    def __init__(self, event: EventRecord, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Not this person")
        self.note = QLineEdit()
        self.note.setPlaceholderText("optional: who it was, what happened")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Event #{event.id} named <b>{event.name or 'someone'}</b> "
                             f"({event.decision}, score {event.score:.3f}).<br>Record that it was someone else? "
                             "The face becomes a hard negative for the next retraining."))
        form = QFormLayout()
        form.addRow("Note", self.note)
        lay.addLayout(form)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)


class WasPersonDialog(QDialog):
    """Chooses who an event really was (enrolled people, but not the one it named)."""

    def __init__(self, event: EventRecord, people: list[tuple[int, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("This was…")
        self.person = QComboBox()
        for pid, name in people:
            if pid != event.person_id:
                self.person.addItem(name, pid)
        self.note = QLineEdit()
        self.note.setPlaceholderText("optional")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Event #{event.id}: {event.who} ({event.decision}, score {event.score:.3f}).<br>"
                             "Who was it? The face becomes a positive of that person for the next retraining."))
        form = QFormLayout()
        form.addRow("Person", self.person)
        form.addRow("Note", self.note)
        lay.addLayout(form)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(self.person.count() > 0)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)


# ---------------------------------------------------------------------------------------------- events page panel


class CorrectionActions(QWidget):
    """The Events page's "Not this person…" and "This was…" buttons for the selected event, and its
    correction in words. ``corrected`` is emitted with the new correction."""

    corrected = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.current: EventRecord | None = None  # (not `event`: QWidget.event is Qt's)
        self.not_btn = QPushButton("Not this person…")
        self.was_btn = QPushButton("This was…")
        self.status = QLabel()
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.not_btn)
        row.addWidget(self.was_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.status)
        self.not_btn.clicked.connect(self.not_person)
        self.was_btn.clicked.connect(self.was_person)
        self.set_event(None)

    def set_event(self, event: EventRecord | None) -> None:
        """Show the actions for ``event`` (None: nothing selected)."""
        self.current = event
        self.not_btn.setEnabled(event is not None and event.person_id is not None)
        self.was_btn.setEnabled(event is not None)
        if event is None:
            self.status.setText("")
            return
        c = self.ctx.gate.correction_of(event.id)
        self.status.setText("" if c is None else f"Corrected: {c.describe()} by {c.actor}")

    def _apply(self, not_person: bool, was: int | None, note: str) -> Correction | None:
        assert self.current is not None
        try:
            made = self.ctx.gate.correct_event(self.current.id, not_person=not_person, was=was, actor=self.ctx.actor,
                                               note=note or None)
        except FaceGateError as exc:
            QMessageBox.warning(self, "Correction refused", str(exc))
            return None
        self.status.setText(f"Corrected: {made.describe()} by {made.actor}")
        self.corrected.emit(made)
        self.ctx.hub.events_changed.emit()
        return made

    def not_person(self) -> Correction | None:
        """Ask to confirm "not this person" for the selected event; the correction, or None."""
        if self.current is None or not self.ctx.require(Action.ENROL, "correct an event"):
            return None
        dlg = NotPersonDialog(self.current, self)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return None
        return self._apply(True, None, dlg.note.text().strip())

    def was_person(self) -> Correction | None:
        """Ask who the selected event was; the correction, or None."""
        if self.current is None or not self.ctx.require(Action.ENROL, "correct an event"):
            return None
        dlg = WasPersonDialog(self.current, [(p.id, p.name) for p in self.ctx.gate.people()], self)
        if dlg.exec() != QDialog.DialogCode.Accepted or dlg.person.currentData() is None:
            return None
        return self._apply(False, int(dlg.person.currentData()), dlg.note.text().strip())


# ---------------------------------------------------------------------------------------------- page


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _item(text: str, number: bool = False) -> QTableWidgetItem:
    it = QTableWidgetItem(text)
    it.setFlags(it.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if number:
        it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return it


def _table(headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


class CorrectionsPage(QWidget):
    """False accepts / false rejects per person, the corrections list, and the template refresh."""

    DASHBOARD_HEADERS: ClassVar[list[str]] = ["Person", "Granted", "False accepts", "FA rate", "Last FA",
                                              "False rejects", "FR rate", "Last FR"]

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._dirty = True
        self.rows: list[PersonCorrections] = []
        self.items: list[Correction] = []
        self.last_report: RefreshReport | None = None
        self.refresh_job: Job | None = None
        self.everyone = QCheckBox("Everyone")
        self.summary = QLabel()
        self.dashboard = _table(self.DASHBOARD_HEADERS)
        self.list = _table(["When", "Event", "Correction", "By", "Note"])
        self.withdraw_btn = QPushButton("Withdraw correction")
        self.refresh_state = QLabel()
        self.refresh_state.setWordWrap(True)
        self.auto = QCheckBox("Automatic templates")
        self.auto.setToolTip("Turn the template refresh on or off (a setting: needs the settings right)")
        self.preview_btn = QPushButton("Preview template refresh")
        self.refresh_btn = QPushButton("Refresh templates now")

        top = QHBoxLayout()
        top.addWidget(QLabel("<b>False accepts and false rejects per person</b>"))
        top.addStretch(1)
        top.addWidget(self.summary)
        top.addWidget(self.everyone)
        mid = QHBoxLayout()
        mid.addWidget(QLabel("<b>Corrections</b>, newest first"))
        mid.addStretch(1)
        mid.addWidget(self.withdraw_btn)
        bottom = QHBoxLayout()
        bottom.addWidget(self.refresh_state, 1)
        bottom.addWidget(self.auto)
        bottom.addWidget(self.preview_btn)
        bottom.addWidget(self.refresh_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.dashboard, 3)
        lay.addLayout(mid)
        lay.addWidget(self.list, 2)
        lay.addLayout(bottom)

        self.everyone.toggled.connect(lambda _=False: self.reload())
        self.withdraw_btn.clicked.connect(lambda: self.withdraw_selected())
        self.auto.clicked.connect(self.set_auto)
        self.preview_btn.clicked.connect(lambda: self.start_refresh(dry_run=True))
        self.refresh_btn.clicked.connect(lambda: self.start_refresh(dry_run=False))
        ctx.hub.events_changed.connect(self._mark_dirty)
        ctx.hub.people_changed.connect(self._mark_dirty)
        ctx.hub.settings_changed.connect(self._mark_dirty)

    def _mark_dirty(self) -> None:
        self._dirty = True
        if self.isVisible():
            self.reload()

    def showEvent(self, event: QShowEvent) -> None:
        if self._dirty:
            self.reload()
        super().showEvent(event)

    def reload(self) -> None:
        """Read the dashboard and the corrections again."""
        gate = self.ctx.gate
        self._dirty = False
        self.rows = gate.correction_dashboard(everyone=self.everyone.isChecked())
        self.dashboard.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            cells = [(r.name, False), (str(r.granted), True), (str(r.false_accepts), True), (_pct(r.fa_rate), True),
                     (f"{r.last_false_accept.astimezone():%Y-%m-%d}" if r.last_false_accept else "—", False),
                     (str(r.false_rejects), True), (_pct(r.fr_rate), True),
                     (f"{r.last_false_reject.astimezone():%Y-%m-%d}" if r.last_false_reject else "—", False)]
            for j, (text, number) in enumerate(cells):
                self.dashboard.setItem(i, j, _item(text, number))
        self.items = gate.corrections(limit=500)
        self.list.setRowCount(len(self.items))
        for i, c in enumerate(self.items):
            texts = [f"{c.created_at.astimezone():%Y-%m-%d %H:%M}",
                     f"#{c.event_id}" if c.event_id is not None else "(deleted)", c.describe(), c.actor, c.note or ""]
            for j, text in enumerate(texts):
                self.list.setItem(i, j, _item(text))
        fa = sum(r.false_accepts for r in self.rows)
        fr = sum(r.false_rejects for r in self.rows)
        self.summary.setText(f"{fa} false accepts · {fr} false rejects")
        self.withdraw_btn.setEnabled(bool(self.items))
        s = gate.config.template_refresh
        self.refresh_state.setText(
            (f"Template refresh <b>on</b>: a granted face at least {s.min_score_above:.2f} above the threshold, "
             f"{s.min_margin:.2f} clear of the next person, uncorrected for {s.holding_hours:g} h, "
             f"up to {s.max_auto_per_person} per person. " if s.enabled else
             "Template refresh is <b>off</b> (tick Automatic templates to turn it on). ")
            + f"{gate.auto_template_count()} automatic template(s) kept.")
        self.refresh_btn.setEnabled(s.enabled)
        self.auto.setChecked(s.enabled)

    def set_auto(self, on: bool) -> None:
        """Turn the template refresh on or off (audited as a settings change)."""
        gate = self.ctx.gate
        if not self.ctx.require(Action.SETTINGS, "change the template refresh"):
            self.auto.setChecked(gate.config.template_refresh.enabled)
            return
        settings = gate.config.template_refresh.model_copy(update={"enabled": bool(on)})
        gate.update_config(gate.config.model_copy(update={"template_refresh": settings}), actor=self.ctx.actor)
        self.ctx.hub.settings_changed.emit()
        self.reload()

    def withdraw_selected(self) -> bool:
        """Withdraw the selected correction (after a confirmation); True when one was withdrawn."""
        row = self.list.currentRow()
        if not 0 <= row < len(self.items) or self.items[row].event_id is None:
            return False
        if not self.ctx.require(Action.ENROL, "withdraw a correction"):
            return False
        c = self.items[row]
        answer = QMessageBox.question(self, "Withdraw correction", f"Withdraw the correction of event #{c.event_id} "
                                      f"({c.describe()})?")
        if answer != QMessageBox.StandardButton.Yes:
            return False
        assert c.event_id is not None
        done = self.ctx.gate.withdraw_correction(c.event_id, actor=self.ctx.actor)
        self.ctx.hub.events_changed.emit()
        self.reload()
        return done

    def start_refresh(self, dry_run: bool) -> None:
        """Run (or preview) the template refresh off the GUI thread; the outcome in ``refresh_state``."""
        if not dry_run and not self.ctx.require(Action.ENROL, "add templates"):
            return
        gate, actor = self.ctx.gate, self.ctx.actor
        self.preview_btn.setEnabled(False)
        self.refresh_btn.setEnabled(False)

        def setup(job: Job) -> None:
            job.signals.succeeded.connect(self._refreshed)
            job.signals.failed.connect(self._refresh_failed)

        # kept here: the runner lets go of a job from its worker thread as it finishes
        self.refresh_job = self.ctx.jobs.start(lambda _p, _c: gate.refresh_templates(actor=actor, dry_run=dry_run),
                                               name="template refresh", setup=setup)

    def _refreshed(self, report: RefreshReport) -> None:
        self.last_report = report
        if report.promoted and not report.dry_run:
            self.ctx.hub.people_changed.emit()
        self.reload()
        verb = "would add" if report.dry_run else "added"
        self.refresh_state.setText(f"Template refresh: {verb} {len(report.promoted)}, {len(report.held)} held "
                                   f"(holding period), {len(report.skipped)} skipped. " + self.refresh_state.text())
        self.preview_btn.setEnabled(True)

    def _refresh_failed(self, message: str, _exc: object = None) -> None:
        self.preview_btn.setEnabled(True)
        self.refresh_btn.setEnabled(self.ctx.gate.config.template_refresh.enabled)
        QMessageBox.warning(self, "Template refresh failed", message)
