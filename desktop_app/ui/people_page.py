"""People: searchable list with photo thumbnails, groups and validity (expired people marked); edit
name / employee id / department / active, groups and validity; add and remove face shots; erase a
person (after a confirmation) everywhere; export everything held about a person (subject access, a zip)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.access.model import PersonAccess
from desktop_app.core.accounts import Action
from desktop_app.core.privacy.subject import SubjectExport
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.storage.records import ErasureReport, Person

from . import theme
from .context import AppContext
from .people_access import AccessBox, access_line, validity_state
from .qtimage import bgr_to_pixmap, initials_pixmap

log = logging.getLogger(__name__)

Index = QModelIndex | QPersistentModelIndex
THUMB = 48
SHOT = 112


class PeopleSource(Protocol):
    """The part of ``FaceGate`` the people list reads."""

    def people(self, search: str | None = None) -> list[Person]: ...

    def person_photo(self, person_id: int) -> np.ndarray | None: ...

    def people_access(self) -> list[PersonAccess]: ...


class PeopleListModel(QAbstractListModel):
    """Enrolled people (optionally filtered by a search text), each with a thumbnail of their first
    shot, loaded on first display and cached. Role ``Qt.UserRole`` gives the ``Person``."""

    def __init__(self, source: PeopleSource) -> None:
        super().__init__()
        self.source = source
        self._rows: list[Person] = []
        self._thumbs: dict[int, QPixmap] = {}
        self._access: dict[int, PersonAccess] = {}
        self.search = ""

    def load(self, search: str = "") -> None:
        self.beginResetModel()
        self.search = search
        self._rows = self.source.people(search=search.strip() or None)
        self._access = {a.person_id: a for a in self.source.people_access()}
        self._thumbs.clear()
        self.endResetModel()

    def person_at(self, row: int) -> Person | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def access_of(self, person_id: int) -> PersonAccess | None:
        """The person's groups and validity (as loaded), None when the store has none."""
        return self._access.get(person_id)

    def row_of(self, person_id: int) -> int:
        return next((i for i, p in enumerate(self._rows) if p.id == person_id), -1)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def _thumb(self, p: Person) -> QPixmap:
        pix = self._thumbs.get(p.id)
        if pix is None:
            pix = initials_pixmap(p.name, THUMB)
            try:
                photo = self.source.person_photo(p.id)
                if photo is not None:
                    pix = bgr_to_pixmap(photo, THUMB)
            except Exception:
                log.debug("No thumbnail for person %s", p.id, exc_info=True)
            self._thumbs[p.id] = pix
        return pix

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        p = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            extra = " · ".join(x for x in (p.employee_id, p.department) if x)
            status = "" if p.active else "  (inactive)"
            return f"{p.name}{status}\n{p.n_samples} shot{'s' if p.n_samples != 1 else ''}" + (
                f" · {extra}" if extra else "") + "\n" + access_line(self._access.get(p.id))
        if role == Qt.ItemDataRole.ToolTipRole:
            return access_line(self._access.get(p.id))
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumb(p)
        if role == Qt.ItemDataRole.ForegroundRole and not p.active:
            return QColor("#90a4ae")
        if role == Qt.ItemDataRole.ForegroundRole and validity_state(self._access.get(p.id)) != "valid":
            return QColor(theme.DENIED)  # with "EXPIRED" / "NOT YET VALID" in the text
        if role == Qt.ItemDataRole.UserRole:
            return p
        return None


class PeoplePage(QWidget):
    """The people screen. ``enrol_requested(name, mode)`` asks the window for the enrolment wizard
    (name "" for a new person; mode "camera" or "photos")."""

    enrol_requested = Signal(str, str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = PeopleListModel(ctx.gate)
        self.person: Person | None = None
        self._dirty = True

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name, employee ID or department")
        self.search.setClearButtonEnabled(True)
        self.list = QListView()
        self.list.setModel(self.model)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(2)
        self.list.setUniformItemSizes(True)
        self.new_btn = QPushButton("Enrol a new person…")
        self.new_btn.setProperty("primary", True)
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.addWidget(self.search)
        left_lay.addWidget(self.list, 1)
        left_lay.addWidget(self.new_btn)

        self.title = QLabel("Select a person")
        self.title.setProperty("role", "title")
        self.name_edit = QLineEdit()
        self.employee_edit = QLineEdit()
        self.department_edit = QLineEdit()
        self.active_box = QCheckBox("Active (allowed through the door; inactive people are refused by name)")
        self.save_btn = QPushButton("Save changes")
        self.save_btn.setProperty("primary", True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Employee ID", self.employee_edit)
        form.addRow("Department", self.department_edit)
        form.addRow("", self.active_box)
        self.access = AccessBox()
        self.shots = QListWidget()
        self.shots.setViewMode(QListWidget.ViewMode.IconMode)
        self.shots.setIconSize(QSize(SHOT, SHOT))
        self.shots.setGridSize(QSize(SHOT + 24, SHOT + 40))
        self.shots.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.shots.setMinimumHeight(SHOT + 50)
        self.add_photos_btn = QPushButton("Add shots from photos…")
        self.add_camera_btn = QPushButton("Add shots with the camera…")
        self.remove_shot_btn = QPushButton("Remove selected shot")
        self.erase_btn = QPushButton("Erase this person…")
        self.erase_btn.setProperty("danger", True)
        self.export_btn = QPushButton("Export their data…")
        self.export_btn.setToolTip("Everything FaceGate holds about this person, as a zip file (subject access, "
                                   "GDPR article 15): record, face shots, events and snapshots, attendance, audit.")
        shot_buttons = QHBoxLayout()
        shot_buttons.addWidget(self.add_photos_btn)
        shot_buttons.addWidget(self.add_camera_btn)
        shot_buttons.addWidget(self.remove_shot_btn)
        shot_buttons.addStretch(1)
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_btn)
        save_row.addStretch(1)
        save_row.addWidget(self.export_btn)
        save_row.addWidget(self.erase_btn)
        self.detail = QWidget()
        d = QVBoxLayout(self.detail)
        d.addWidget(self.title)
        d.addLayout(form)
        d.addWidget(self.access)
        d.addLayout(save_row)
        d.addWidget(self.status)
        shots_title = QLabel("Face shots")
        shots_title.setProperty("role", "title")
        d.addWidget(shots_title)
        d.addWidget(self.shots, 1)
        d.addLayout(shot_buttons)

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 2)
        split.setSizes([400, 900])  # room for the access line (groups, validity) of each person
        lay = QVBoxLayout(self)
        lay.addWidget(split)

        self.search.textChanged.connect(self.reload)
        self.list.selectionModel().currentRowChanged.connect(lambda cur, _prev: self.select_row(cur.row()))
        self.new_btn.clicked.connect(lambda: self.enrol_requested.emit("", "camera"))
        self.add_photos_btn.clicked.connect(lambda: self._add_shots("photos"))
        self.add_camera_btn.clicked.connect(lambda: self._add_shots("camera"))
        self.remove_shot_btn.clicked.connect(self.remove_selected_shot)
        self.save_btn.clicked.connect(self.save)
        self.erase_btn.clicked.connect(self.erase_current)
        self.export_btn.clicked.connect(self.export_current)
        ctx.hub.people_changed.connect(self._people_changed)
        self._set_person(None)

    # ------------------------------------------------------------------ loading
    def reload(self) -> None:
        keep = self.person.id if self.person else None
        self.model.load(self.search.text())
        self._dirty = False
        row = self.model.row_of(keep) if keep is not None else -1
        if row >= 0:
            self.list.setCurrentIndex(self.model.index(row))
            self.select_row(row)
        else:
            self._set_person(None)

    def _people_changed(self) -> None:
        self._dirty = True
        if self.isVisible():
            self.reload()

    def showEvent(self, event: QShowEvent) -> None:
        if self._dirty:
            self.reload()
        super().showEvent(event)

    def select_person(self, person_id: int) -> bool:
        row = self.model.row_of(person_id)
        if row < 0:
            return False
        self.list.setCurrentIndex(self.model.index(row))
        self.select_row(row)
        return True

    def select_row(self, row: int) -> None:
        self._set_person(self.model.person_at(row))

    def _set_person(self, person: Person | None) -> None:
        self.person = person
        enabled = person is not None
        for w in (self.name_edit, self.employee_edit, self.department_edit, self.active_box, self.save_btn,
                  self.erase_btn, self.export_btn, self.add_photos_btn, self.add_camera_btn, self.remove_shot_btn,
                  self.access):
            w.setEnabled(enabled)
        self.shots.clear()
        self.access.load(self.model.access_of(person.id) if person else None,
                         [g.name for g in self.ctx.gate.groups()])
        if person is None:
            self.title.setText("Select a person" if self.model.rowCount() else "Nobody is enrolled yet")
            for e in (self.name_edit, self.employee_edit, self.department_edit):
                e.clear()
            self.active_box.setChecked(False)
            return
        self.title.setText(person.name)
        self.name_edit.setText(person.name)
        self.employee_edit.setText(person.employee_id or "")
        self.department_edit.setText(person.department or "")
        self.active_box.setChecked(person.active)
        self.status.setText(f"Enrolled {person.created_at.astimezone():%Y-%m-%d}.")
        gate = self.ctx.gate
        for sample in gate.list_samples(person.id):
            try:
                icon = QIcon(bgr_to_pixmap(gate.sample_crop(sample.id), SHOT))
            except Exception:
                icon = QIcon()
            item = QListWidgetItem(icon, f"{sample.created_at.astimezone():%Y-%m-%d}")
            item.setToolTip(f"Source: {sample.source}")
            item.setData(Qt.ItemDataRole.UserRole, sample.id)
            self.shots.addItem(item)

    # ------------------------------------------------------------------ editing
    def save(self) -> bool:
        p = self.person
        if p is None or not self.ctx.require(Action.EDIT_PEOPLE, "change people"):
            return False
        gate = self.ctx.gate
        active = self.active_box.isChecked()
        try:
            valid_from, valid_until = self.access.chosen_validity()
            updated = gate.update_person(
                p.id, name=self.name_edit.text().strip(),
                employee_id=self.employee_edit.text().strip() or None,
                department=self.department_edit.text().strip() or None, active=active, actor=self.ctx.actor)
            gate.set_person_access(p.id, groups=self.access.chosen_groups(), valid_from=valid_from,
                                   valid_until=valid_until, actor=self.ctx.actor)
        except Exception as exc:
            self.status.setText(f"Not saved: {exc}")
            return False
        if active != p.active:
            self._rebuild_gallery()
        self.person = updated
        self.ctx.capture.worker.refresh()
        self.ctx.hub.people_changed.emit()  # reloads this page too: say "Saved." after it
        self.status.setText("Saved.")
        return True

    def _rebuild_gallery(self) -> None:
        gate = self.ctx.gate

        def work(progress: ProgressFn, cancelled: CancelFn) -> int:
            return gate.rebuild_gallery()

        job = self.ctx.jobs.start(work, "rebuild gallery")
        job.signals.succeeded.connect(lambda _n: self.ctx.capture.worker.refresh())

    def _add_shots(self, mode: str) -> None:
        if self.person is not None:
            self.enrol_requested.emit(self.person.name, mode)

    def remove_selected_shot(self, confirm: bool = True) -> bool:
        item = self.shots.currentItem()
        if item is None or self.person is None or not self.ctx.require(Action.ENROL, "remove face shots"):
            return False
        if confirm and QMessageBox.question(
            self, "Remove shot", "Remove this face shot? It is deleted from the database.",
        ) != QMessageBox.StandardButton.Yes:
            return False
        try:
            self.ctx.gate.delete_sample(int(item.data(Qt.ItemDataRole.UserRole)), actor=self.ctx.actor)
        except Exception as exc:
            self.status.setText(f"Not removed: {exc}")
            return False
        self.ctx.capture.worker.refresh()
        self.ctx.hub.people_changed.emit()
        self.status.setText("Shot removed.")
        return True

    # ------------------------------------------------------------------ erasure
    def confirm_erase(self, person: Person) -> bool:
        """The confirmation dialog (modal); True when the admin chose to erase."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Erase person")
        box.setText(f"Erase {person.name} and every trace of their face?")
        box.setInformativeText(
            f"This deletes their {person.n_samples} face shot(s), templates and attendance, and removes "
            "them from their past events (kept as anonymous entries). It cannot be undone.")
        erase = box.addButton("Erase", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setObjectName("eraseConfirm")
        box.exec()
        box.deleteLater()
        return box.clickedButton() is erase

    def erase_current(self) -> None:
        p = self.person
        if p is None or not self.ctx.require(Action.ERASE, "erase people") or not self.confirm_erase(p):
            return
        gate = self.ctx.gate
        actor = self.ctx.actor

        def work(progress: ProgressFn, cancelled: CancelFn) -> ErasureReport:
            return gate.erase_person(p.id, actor=actor)

        self.erase_btn.setEnabled(False)
        self.status.setText(f"Erasing {p.name}…")
        job = self.ctx.jobs.start(work, "erase person")
        job.signals.succeeded.connect(lambda rep, name=p.name: self._erased(name, rep))
        job.signals.failed.connect(lambda msg, _e: self.status.setText(f"Erasure failed: {msg}"))

    def _erased(self, name: str, rep: ErasureReport) -> None:
        self.person = None
        self.ctx.capture.worker.refresh()
        self.ctx.hub.people_changed.emit()
        self.reload()
        what = (f"{rep.samples} shot(s) and {rep.attendance_days} attendance day(s) deleted, "
                f"{rep.events_anonymised} event(s) anonymised")
        if rep.purged:
            self.status.setText(f"{name} was erased: {what}; no copy is left on disk.")
        else:  # never "erased" while a copy is still on disk
            self.status.setText(
                f"{name}'s records were deleted ({what}), but the erasure is not complete on disk yet: "
                + "; ".join(rep.pending) + ". FaceGate finishes it by itself.")

    # ------------------------------------------------------------------ subject access
    def export_current(self) -> None:
        """Ask where to save the person's data (admin only), then write the zip off the GUI thread."""
        p = self.person
        if p is None or not self.ctx.require(Action.EXPORT, "export a person's data"):
            return
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in p.name).strip("-") or f"person-{p.id}"
        chosen, _ = QFileDialog.getSaveFileName(self, f"Export {p.name}'s data",
                                                str(Path.home() / f"facegate-{safe}.zip"), "Zip files (*.zip)")
        if not chosen:
            return
        out = Path(chosen)
        gate = self.ctx.gate
        actor = self.ctx.actor

        def work(progress: ProgressFn, cancelled: CancelFn) -> SubjectExport:
            return gate.export_person(p.id, out, actor=actor)

        self.export_btn.setEnabled(False)
        self.status.setText(f"Exporting {p.name}'s data…")
        job = self.ctx.jobs.start(work, "export person")
        job.signals.succeeded.connect(lambda rep, name=p.name: self._exported(name, rep))
        job.signals.failed.connect(self._export_failed)

    def _exported(self, name: str, rep: SubjectExport) -> None:
        self.export_btn.setEnabled(self.person is not None)
        self.status.setText(f"Exported {name}'s data to {rep.path}: {rep.samples} face shot(s), {rep.events} "
                            f"event(s), {rep.snapshots} snapshot(s), {rep.attendance_days} attendance day(s), "
                            f"{rep.audit_rows} audit row(s). It holds biometric data: hand it to them only.")

    def _export_failed(self, msg: str, _exc: object = None) -> None:
        self.export_btn.setEnabled(self.person is not None)
        self.status.setText(f"Export failed: {msg}")
