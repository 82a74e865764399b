"""The audit log viewer (behind the admin PIN): who did what and when, filtered by person, action,
account and dates; a "Verify chain" button that checks the log's hash chain (off the GUI thread)
and shows the result; and an audited CSV export."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.accounts import Action
from desktop_app.core.service import AuditFilter, AuditRow, AuditVerification

from .context import AppContext
from .jobs import Job
from .paged_model import Index, PagedTableModel

log = logging.getLogger(__name__)


class AuditSource(Protocol):
    """The part of ``FaceGate`` the audit table reads."""

    def query_audit(self, flt: AuditFilter | None = None) -> list[AuditRow]: ...

    def count_audit(self, flt: AuditFilter | None = None) -> int: ...


def _details_text(row: AuditRow) -> str:
    return json.dumps(dict(row.details), ensure_ascii=False, separators=(", ", ": "))


class AuditTableModel(PagedTableModel):
    """Audit rows, newest first, ``page_size`` at a time as the view scrolls (``fetchMore``).
    Role ``Qt.UserRole`` gives the ``AuditRow``; the tooltip of a row holds its chain hash."""

    COLUMNS = ("Time", "Account", "Action", "Details")

    def __init__(self, source: AuditSource, page_size: int = 200) -> None:
        super().__init__(AuditFilter(), page_size)
        self.source = source

    def count(self, flt: AuditFilter) -> int:
        return self.source.count_audit(flt)

    def query(self, flt: AuditFilter, limit: int, offset: int) -> list[AuditRow]:
        return self.source.query_audit(replace(flt, limit=limit, offset=offset))

    def row_at(self, row: int) -> AuditRow | None:
        r: AuditRow | None = super().row_at(row)
        return r

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        r: AuditRow | None = self._row_of(index)
        if r is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return (f"{r.ts.astimezone():%Y-%m-%d %H:%M:%S}", r.actor, r.action, _details_text(r))[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"row {r.id} · chain hash {r.row_hash or '(none)'}"
        if role == Qt.ItemDataRole.UserRole:
            return r
        return None


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


def _date_edit(d: date) -> QDateEdit:
    edit = QDateEdit(_qdate(d))
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    return edit


class AuditPage(QWidget):
    """Filter bar (dates, person, action, account), the audit table, verify and export."""

    ALL = "All"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = AuditTableModel(ctx.gate)
        self._dirty = True
        self.verify_job: Job | None = None
        self.last_verification: AuditVerification | None = None

        today = date.today()
        self.all_dates = QCheckBox("All dates")
        self.all_dates.setChecked(True)
        self.date_from = _date_edit(today - timedelta(days=30))
        self.date_to = _date_edit(today)
        self.person = QLineEdit()
        self.person.setPlaceholderText("Person (name or erased-…)")
        self.person.setClearButtonEnabled(True)
        self.action = QComboBox()
        self.action.setMinimumWidth(180)
        self.actor = QComboBox()
        self.actor.setMinimumWidth(120)
        self.count = QLabel()
        self.verify_btn = QPushButton("Verify chain")
        self.verify_btn.setToolTip("Check that no audit row was changed, inserted or deleted since it was written")
        self.export_btn = QPushButton("Export CSV…")
        bar = QHBoxLayout()
        for w in (QLabel("From"), self.date_from, QLabel("to"), self.date_to, self.all_dates, self.person,
                  self.action, self.actor):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.count)
        bar.addWidget(self.verify_btn)
        bar.addWidget(self.export_btn)

        self.result = QLabel("The audit log is hash-chained: “Verify chain” checks that nothing in it was changed.")
        self.result.setWordWrap(True)
        self.result.setProperty("role", "hint")
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for col in range(3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.result)
        lay.addWidget(self.table, 1)

        self.date_from.setEnabled(False)  # "All dates" to start with: the log is short and rarely read
        self.date_to.setEnabled(False)
        self.all_dates.toggled.connect(self._dates_toggled)
        for edit in (self.date_from, self.date_to):
            edit.dateChanged.connect(self.apply_filter)
        self.person.editingFinished.connect(self.apply_filter)
        self.action.currentIndexChanged.connect(self.apply_filter)
        self.actor.currentIndexChanged.connect(self.apply_filter)
        self.verify_btn.clicked.connect(lambda: self.verify())  # clicked(bool) is not an argument
        self.export_btn.clicked.connect(lambda: self.export_csv())  # clicked(bool) must not become the path
        for signal in (ctx.hub.people_changed, ctx.hub.settings_changed, ctx.hub.model_changed):
            signal.connect(self._mark_dirty)
        self.reload_choices()

    # ------------------------------------------------------------------ filters
    def reload_choices(self) -> None:
        """Fill the action and account lists from the log (keeping the current choices)."""
        actions, actors = self.ctx.gate.audit_choices()
        families = sorted({a.split(".")[0] for a in actions if "." in a} - set(actions))
        for combo, values, everyone in ((self.action, sorted({*actions, *families}), "All actions"),
                                        (self.actor, list(actors), "All accounts")):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(everyone, None)
            for value in values:
                label = f"{value}.*" if combo is self.action and value in families else value
                combo.addItem(label, value)
            combo.setCurrentIndex(max(combo.findData(current), 0))
            combo.blockSignals(False)

    def current_filter(self) -> AuditFilter:
        dated = not self.all_dates.isChecked()
        a, b = _pydate(self.date_from.date()), _pydate(self.date_to.date())
        person = self.person.text().strip() or None
        return AuditFilter(day_from=min(a, b) if dated else None, day_to=max(a, b) if dated else None,
                           person=person, action=self.action.currentData(), actor=self.actor.currentData())

    def _dates_toggled(self, all_dates: bool) -> None:
        self.date_from.setEnabled(not all_dates)
        self.date_to.setEnabled(not all_dates)
        self.apply_filter()

    def apply_filter(self) -> None:
        self.model.set_filter(self.current_filter())
        self._dirty = False
        self._update_count()

    def refresh(self) -> None:
        """Reload the choices and the table (keeps the filter)."""
        self.reload_choices()
        self.apply_filter()

    def _update_count(self, extra: str = "") -> None:
        n = self.model.total
        self.count.setText(f"{n} row{'s' if n != 1 else ''}{extra}")

    def _mark_dirty(self) -> None:
        self._dirty = True
        if self.isVisible():
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        self.refresh()  # every visit: other pages and programs write audit rows all the time
        super().showEvent(event)

    # ------------------------------------------------------------------ verify
    def verify(self) -> Job | None:
        """Check the hash chain in a background job; the result shows in ``result``."""
        if self.verify_job is not None and not self.verify_job.done:
            return self.verify_job
        if not self.ctx.require(Action.VIEW_AUDIT, "verify the audit log"):
            return None
        self.verify_btn.setEnabled(False)
        self.result.setText("Verifying the audit chain…")
        self.result.setProperty("role", "hint")
        self._restyle()
        gate = self.ctx.gate

        def work(_progress: object, _cancelled: object) -> AuditVerification:
            return gate.verify_audit()

        def setup(job: Job) -> None:
            job.signals.succeeded.connect(self._verified)
            job.signals.failed.connect(self._verify_failed)
            job.signals.finished.connect(lambda: self.verify_btn.setEnabled(True))

        self.verify_job = self.ctx.jobs.start(work, "verify audit chain", setup=setup)
        return self.verify_job

    def _verified(self, result: object) -> None:
        if not isinstance(result, AuditVerification):
            return
        self.last_verification = result
        if result.intact:
            text = f"✔ Chain intact: {result.rows} row{'s' if result.rows != 1 else ''} verified"
            if result.pseudonymised:
                text += f" ({result.pseudonymised} pseudonymised by erasures, vouched for by the chain)"
            if result.head_id is not None:
                text += f". Head: row {result.head_id}, hash {result.head_hash}"
            text += "." + "".join(f"\nNote: {w}" for w in result.warnings)
            role = "hint"
        else:
            text = (f"✘ Chain BROKEN{f' at row {result.broken_id}' if result.broken_id is not None else ''}: "
                    f"{result.problem}. {result.checked} row(s) before it are intact. Keep a copy of the database "
                    "as evidence.")
            role = "error"
        self.result.setText(text)
        self.result.setProperty("role", role)
        self._restyle()

    def _verify_failed(self, message: str, _exc: object) -> None:
        self.result.setText(f"The audit chain could not be checked: {message}")
        self.result.setProperty("role", "error")
        self._restyle()

    def _restyle(self) -> None:
        style = self.result.style()
        style.unpolish(self.result)
        style.polish(self.result)

    # ------------------------------------------------------------------ export
    def export_csv(self, path: Path | None = None) -> int | None:
        """Export the filtered rows to CSV (asks where unless ``path`` is given); the export is
        audited. Rows written, or None."""
        if not self.ctx.require(Action.EXPORT, "export the audit log"):
            return None
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export the audit log",
                                                    str(Path.home() / "facegate-audit.csv"), "CSV files (*.csv)")
            if not chosen:
                return None
            path = Path(chosen)
        try:
            n = self.ctx.gate.export_audit_csv(path, self.current_filter(), actor=self.ctx.actor)
        except Exception as exc:
            QMessageBox.warning(self, "Export failed", str(exc))
            return None
        self.refresh()  # the export wrote its own audit row
        self._update_count(f" · {n} exported to {path.name}")
        return n
