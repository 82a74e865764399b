"""The settings page's "Privacy" box: how long door events and face snapshots are kept (retention),
a button that deletes what is past those limits now, and what the door screen shows of a person
(full name and photo, initials, or nothing)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QPushButton, QSpinBox, QWidget

from desktop_app.core.accounts import Action
from desktop_app.core.config import AppConfig
from desktop_app.core.privacy.display import DoorDisplay
from desktop_app.core.privacy.retention import RetentionReport
from desktop_app.core.progress import CancelFn, ProgressFn

from .context import AppContext

KEEP = "Keep for ever"
DISPLAY_CHOICES: tuple[tuple[str, DoorDisplay], ...] = (
    ("Full name and enrolled photo", DoorDisplay.FULL),
    ("Initials only, no photo", DoorDisplay.INITIALS),
    ("Nothing: only granted or denied", DoorDisplay.NONE),
)


def days_spin() -> QSpinBox:
    """0 (shown as "Keep for ever") .. 36500 days."""
    spin = QSpinBox()
    spin.setRange(0, 36500)
    spin.setSuffix(" days")
    spin.setSpecialValueText(KEEP)
    return spin


class PrivacyBox(QGroupBox):
    """Retention and door-screen settings; ``updates(cfg)`` gives the config sections the form
    describes (the config model validates them); ``purge_now`` deletes expired data now (admin)."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Privacy", parent)
        self.ctx = ctx
        self.events_days = days_spin()
        self.events_days.setToolTip("Door events older than this are deleted, with their snapshots. "
                                    "Attendance (first in / last out per day) is kept.")
        self.snapshots_days = days_spin()
        self.snapshots_days.setToolTip("Face snapshots of events older than this are deleted; the events are kept.")
        self.display = QComboBox()
        for label, value in DISPLAY_CHOICES:
            self.display.addItem(label, value.value)
        self.display.setToolTip("What the door screen shows of the person it recognised.")
        self.purge_btn = QPushButton("Delete expired events now")
        self.purge_btn.clicked.connect(self.purge_now)
        self.purge_status = QLabel("")
        self.purge_status.setWordWrap(True)
        self.purge_status.setProperty("role", "hint")
        form = QFormLayout(self)
        form.addRow("Keep door events", self.events_days)
        form.addRow("Keep face snapshots", self.snapshots_days)
        form.addRow("", QLabel("Expired data is deleted when the door starts, then daily. Attendance is kept."))
        form.addRow("", self.purge_btn)
        form.addRow("", self.purge_status)
        form.addRow("Door screen shows", self.display)

    def load(self, cfg: AppConfig) -> None:
        self.events_days.setValue(cfg.retention.events_days or 0)
        self.snapshots_days.setValue(cfg.retention.snapshots_days or 0)
        self.display.setCurrentIndex(max(self.display.findData(cfg.door_screen.display.value), 0))

    def updates(self) -> dict[str, Any]:
        """The ``retention`` and ``door_screen`` sections as plain data (0 days: None, kept)."""
        return {"retention": {"events_days": self.events_days.value() or None,
                              "snapshots_days": self.snapshots_days.value() or None},
                "door_screen": {"display": DoorDisplay(self.display.currentData())}}

    def purge_now(self) -> None:
        """Delete the events and snapshots past the saved limits now, off the GUI thread (audited)."""
        if not self.ctx.require(Action.ERASE, "delete expired events"):
            return
        gate = self.ctx.gate
        actor = self.ctx.actor

        def work(progress: ProgressFn, cancelled: CancelFn) -> RetentionReport:
            return gate.purge_expired(actor=actor)

        self.purge_btn.setEnabled(False)
        self.purge_status.setText("Deleting expired events…")
        job = self.ctx.jobs.start(work, "retention purge")
        job.signals.succeeded.connect(self._purged)
        job.signals.failed.connect(self._failed)

    def _purged(self, report: RetentionReport) -> None:
        self.purge_btn.setEnabled(True)
        if not report.cutoffs.active:
            self.purge_status.setText("Nothing to delete: events and snapshots are kept for ever (save a limit first).")
            return
        self.purge_status.setText(report.summary()[:1].upper() + report.summary()[1:] + ".")
        self.ctx.hub.events_changed.emit()

    def _failed(self, msg: str, _exc: object = None) -> None:
        self.purge_btn.setEnabled(True)
        self.purge_status.setText(f"Not deleted: {msg}")
