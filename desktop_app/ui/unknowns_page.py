"""Unknown faces (behind the login, ``view-people``): the door's unknown visitors, one card per
cluster of faces (``FaceGate.unknown_clusters``), with their best crops, count and first / last
seen, and the actions: enrol as a new person, add to an existing person (``enrol``), ignore /
list again (``enrol``), delete (``erase``). Every action asks first (a dialog), runs in the job
pool, and is audited by the core with the session's actor.

Loading (clustering the new faces, decrypting the crops) runs in the pool too; the crops reach
the GUI thread as arrays and become pixmaps there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.accounts import Action
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.service import EnrolReport
from desktop_app.core.storage.records import Person
from desktop_app.core.storage.unknown_clusters import UnknownCluster

from .context import AppContext
from .qtimage import bgr_to_pixmap

log = logging.getLogger(__name__)

CROP_SIDE = 96
"""Pixels of each crop on a card."""
CROPS_PER_CARD = 3


@dataclass(frozen=True, eq=False)
class ClusterCard:
    """What one card shows: the cluster and its representative crops ((112, 112, 3) uint8 BGR)."""

    cluster: UnknownCluster
    crops: tuple[np.ndarray, ...]


def _when(c: UnknownCluster) -> str:
    first = c.first_seen.astimezone().strftime("%Y-%m-%d %H:%M")
    last = c.last_seen.astimezone().strftime("%Y-%m-%d %H:%M")
    return first if first == last else f"{first} → {last}"


def card_text(c: UnknownCluster) -> str:
    """The card's caption: id, faces, first and last seen (local time), ignored or not."""
    faces = "1 face" if c.count == 1 else f"{c.count} faces"
    return f"#{c.id} · {faces}{' · ignored' if c.status == 'ignored' else ''}\n{_when(c)}"


class AssignDialog(QDialog):
    """Who a cluster is: a new person (name, employee ID, department) or an existing one (a list)."""

    def __init__(self, cluster: UnknownCluster, people: list[Person] | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("assignDialog")
        self.existing = people is not None
        self.setWindowTitle("Add to an existing person" if self.existing else "Enrol as a new person")
        form = QFormLayout()
        self.name = QLineEdit()
        self.name.setObjectName("assignName")
        self.employee_id = QLineEdit()
        self.employee_id.setObjectName("assignEmployeeId")
        self.department = QLineEdit()
        self.person = QComboBox()
        self.person.setObjectName("assignPerson")
        if people is not None:
            for p in people:
                label = p.name + (f" ({p.employee_id})" if p.employee_id else "")
                self.person.addItem(label, p)
            form.addRow("Person", self.person)
        else:
            form.addRow("Name", self.name)
            form.addRow("Employee ID", self.employee_id)
            form.addRow("Department", self.department)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Cluster #{cluster.id}: {cluster.count} face(s), {_when(cluster)}.\n"
                             "Its best views become the person's face shots, after the identity check "
                             "(a face that looks like someone else is refused)."))
        lay.addLayout(form)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #c62828")
        lay.addWidget(self.problem)

    def _accept(self) -> None:
        if not self.existing and not self.name.text().strip():
            self.problem.setText("Give the person's name.")
            return
        if self.existing and self.person.currentData() is None:
            self.problem.setText("Choose a person.")
            return
        self.accept()

    def answer(self) -> tuple[str, str | None, str | None]:
        """(name, employee ID or None, department or None) to enrol under."""
        if self.existing:
            p: Person = self.person.currentData()
            return p.name, p.employee_id, None
        return (self.name.text().strip(), self.employee_id.text().strip() or None,
                self.department.text().strip() or None)


class UnknownsPage(QWidget):
    """The gallery of unknown visitors (see the module docstring)."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.cards: list[ClusterCard] = []
        self.loading = False
        self._note = ""  # what the last action did, said with the reloaded list
        title = QLabel("Unknown faces")
        title.setStyleSheet("font-size: 18px; font-weight: 600")
        hint = QLabel("Faces the door did not recognise, grouped per recurring visitor across days. "
                      "Enrol a visitor in one click, ignore them, or delete their faces.")
        hint.setWordWrap(True)
        self.show_ignored = QCheckBox("Show ignored")
        self.show_ignored.toggled.connect(lambda _on: self.reload())
        self.refresh_btn = QPushButton("Refresh")
        self.refresh_btn.clicked.connect(self.reload)
        top = QHBoxLayout()
        top.addWidget(title)
        top.addStretch(1)
        top.addWidget(self.show_ignored)
        top.addWidget(self.refresh_btn)
        self.gallery = QListWidget()
        self.gallery.setObjectName("unknownsGallery")
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(CROP_SIDE * CROPS_PER_CARD + 4 * (CROPS_PER_CARD - 1), CROP_SIDE))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setMovement(QListWidget.Movement.Static)
        self.gallery.setSpacing(10)
        self.gallery.setWordWrap(True)
        self.gallery.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.gallery.currentRowChanged.connect(lambda _r: self._update_buttons())
        self.enrol_btn = QPushButton("Enrol as new person…")
        self.add_btn = QPushButton("Add to existing person…")
        self.ignore_btn = QPushButton("Ignore")
        self.delete_btn = QPushButton("Delete…")
        self.enrol_btn.clicked.connect(lambda: self.assign_current(existing=False))
        self.add_btn.clicked.connect(lambda: self.assign_current(existing=True))
        self.ignore_btn.clicked.connect(self.ignore_current)
        self.delete_btn.clicked.connect(self.delete_current)
        actions = QHBoxLayout()
        for b in (self.enrol_btn, self.add_btn, self.ignore_btn, self.delete_btn):
            actions.addWidget(b)
        actions.addStretch(1)
        self.status = QLabel("")
        self.status.setObjectName("unknownsStatus")
        self.status.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(hint)
        lay.addWidget(self.gallery, 1)
        lay.addLayout(actions)
        lay.addWidget(self.status)
        self._update_buttons()

    # ------------------------------------------------------------------ loading
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.reload()

    def reload(self) -> None:
        """Cluster the new faces and load the cards, in the job pool."""
        if self.loading:
            return
        gate = self.ctx.gate
        ignored = self.show_ignored.isChecked()

        def work(progress: ProgressFn, cancelled: CancelFn) -> list[ClusterCard]:
            out: list[ClusterCard] = []
            for c in gate.unknown_clusters(include_ignored=ignored):
                crops = []
                for eid in c.sample_event_ids[:CROPS_PER_CARD]:
                    face = gate.event_face(eid)
                    if face is not None:
                        crops.append(face.crop)
                out.append(ClusterCard(c, tuple(crops)))
            return out

        self.loading = True
        self.status.setText("Loading the unknown faces…")
        job = self.ctx.jobs.start(work, "load unknown faces")
        job.signals.succeeded.connect(self._loaded)
        job.signals.failed.connect(lambda msg, _e: self._failed(f"Could not load the unknown faces: {msg}"))

    def _failed(self, text: str) -> None:
        self.loading = False
        self.status.setText(text)
        self._update_buttons()

    def _loaded(self, cards: list[ClusterCard]) -> None:
        self.loading = False
        keep = self.current
        self.cards = cards
        self.gallery.clear()
        for card in cards:
            item = QListWidgetItem(QIcon(self._strip(card.crops)), card_text(card.cluster))
            item.setData(Qt.ItemDataRole.UserRole, card.cluster.id)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.gallery.addItem(item)
            if keep is not None and keep.id == card.cluster.id:
                self.gallery.setCurrentItem(item)
        if cards and self.gallery.currentRow() < 0:
            self.gallery.setCurrentRow(0)
        n = len(cards)
        note, self._note = self._note, ""
        self.status.setText((note + " " if note else "") + ("No unknown faces." if not n else
                                                            f"{n} unknown visitor(s)."))
        self._update_buttons()

    @staticmethod
    def _strip(crops: tuple[np.ndarray, ...]) -> QPixmap:
        """The card's picture: up to three crops side by side (GUI thread)."""
        gap = 4
        pix = QPixmap(CROP_SIDE * CROPS_PER_CARD + gap * (CROPS_PER_CARD - 1), CROP_SIDE)
        pix.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pix)
        for i, crop in enumerate(crops[:CROPS_PER_CARD]):
            painter.drawPixmap(i * (CROP_SIDE + gap), 0, bgr_to_pixmap(crop, CROP_SIDE))
        painter.end()
        return pix

    @property
    def current(self) -> UnknownCluster | None:
        """The selected cluster, None when none."""
        row = self.gallery.currentRow()
        return self.cards[row].cluster if 0 <= row < len(self.cards) else None

    def select(self, cluster_id: int) -> bool:
        """Select the card of ``cluster_id``; False when it is not shown."""
        for i, card in enumerate(self.cards):
            if card.cluster.id == cluster_id:
                self.gallery.setCurrentRow(i)
                return True
        return False

    def _update_buttons(self) -> None:
        c = self.current
        for b in (self.enrol_btn, self.add_btn, self.ignore_btn, self.delete_btn):
            b.setEnabled(c is not None and not self.loading)
        self.ignore_btn.setText("List again" if c is not None and c.status == "ignored" else "Ignore")

    # ------------------------------------------------------------------ actions
    def _run(self, what: str, work: Callable[[ProgressFn, CancelFn], Any], done_text: Callable[[Any], str]) -> None:
        """Run ``work(progress, cancelled)`` in the pool; then reload and say ``done_text(result)``."""
        self.loading = True
        self._update_buttons()
        self.status.setText(what)
        job = self.ctx.jobs.start(work, what)

        def finished(result: object) -> None:
            self.loading = False
            self._note = done_text(result)
            self.reload()

        job.signals.succeeded.connect(finished)
        job.signals.failed.connect(lambda msg, _e: self._failed(f"{what} failed: {msg}"))

    def assign_current(self, existing: bool) -> None:
        """Enrol the selected cluster as a new person, or add it to an existing one (asks who)."""
        c = self.current
        if c is None or not self.ctx.require(Action.ENROL, "enrol people"):
            return
        people = self.ctx.gate.people() if existing else None
        if people is not None and not people:
            QMessageBox.information(self, "No one enrolled", "Nobody is enrolled yet: enrol the cluster as a new "
                                                             "person instead.")
            return
        dialog = AssignDialog(c, people, self)
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        name, employee_id, department = dialog.answer()
        dialog.deleteLater()
        if not accepted:
            return
        gate = self.ctx.gate
        actor = self.ctx.actor

        def work(progress: ProgressFn, cancelled: CancelFn) -> EnrolReport:
            return gate.assign_unknown_cluster(c.id, name, employee_id=employee_id, department=department,
                                               actor=actor)

        def said(rep: EnrolReport) -> str:
            added = len(rep.added)
            if not added:
                reasons = "; ".join(sorted({str(r.reason) for r in rep.rejected})) or "no usable face"
                return f"Nothing was enrolled from cluster #{c.id}: {reasons}."
            self.ctx.capture.worker.refresh()
            self.ctx.hub.people_changed.emit()
            return f"Enrolled {added} face(s) of cluster #{c.id} as {name}."

        self._run(f"Enrolling cluster #{c.id} as {name}…", work, said)

    def ignore_current(self) -> None:
        """Ignore the selected cluster (or list it again), after a confirmation."""
        c = self.current
        if c is None or not self.ctx.require(Action.ENROL, "ignore unknown visitors"):
            return
        again = c.status == "ignored"
        text = (f"List cluster #{c.id} again?" if again else
                f"Ignore cluster #{c.id}? It leaves the list, and this visitor's new faces join it and stay out.")
        if QMessageBox.question(self, "Ignore visitor", text) != QMessageBox.StandardButton.Yes:
            return
        gate = self.ctx.gate
        actor = self.ctx.actor

        def work(progress: ProgressFn, cancelled: CancelFn) -> None:
            gate.ignore_unknown_cluster(c.id, actor=actor, ignore=not again)

        self._run("Updating…", work, lambda _r: f"Cluster #{c.id} is {'listed again' if again else 'ignored'}.")

    def delete_current(self) -> None:
        """Delete the selected cluster and its faces, after a confirmation."""
        c = self.current
        if c is None or not self.ctx.require(Action.ERASE, "delete unknown faces"):
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Delete unknown faces")
        box.setText(f"Delete cluster #{c.id} and its {c.count} face(s)?")
        box.setInformativeText("The events stay in the log, without their face. This cannot be undone.")
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        box.deleteLater()
        if box.clickedButton() is not delete:
            return
        gate = self.ctx.gate
        actor = self.ctx.actor

        def work(progress: ProgressFn, cancelled: CancelFn) -> int:
            return gate.delete_unknown_cluster(c.id, actor=actor)

        self._run("Deleting…", work, lambda n: f"Deleted cluster #{c.id} and its {n} face(s).")
