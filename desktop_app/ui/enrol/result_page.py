"""The wizard's last page: what was enrolled (the stored crops), the shots not used and why, and
look-alike warnings (the new shots are close to another enrolled person)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from desktop_app.core.errors import FaceGateError
from desktop_app.core.service import EnrolReport

from ..qtimage import bgr_to_pixmap
from .common import THUMB, title_label

SampleCrop = Callable[[int], np.ndarray]
"""``sample_crop(sample_id)``: a stored sample's aligned crop, (112, 112, 3) uint8 BGR."""


class ResultPage(QWidget):
    """The outcome of an enrolment (:meth:`show_report`). sample_crop: reads a stored crop."""

    def __init__(self, sample_crop: SampleCrop, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._sample_crop = sample_crop
        self.title = title_label("")
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.shots = QListWidget()
        self.shots.setViewMode(QListWidget.ViewMode.IconMode)
        self.shots.setIconSize(QSize(THUMB, THUMB))
        self.shots.setMaximumHeight(THUMB + 48)
        self.warnings = QLabel("")
        self.warnings.setProperty("role", "warning")
        self.warnings.setWordWrap(True)
        self.warnings.hide()
        self.rejected_title = QLabel("Not used:")
        self.rejected_list = QListWidget()
        self.rejected_list.setMaximumHeight(180)
        #: shown when the identity check refused shots: the wizard asks, then stores them anyway
        self.force_btn = QPushButton("Add the refused shots anyway…")
        self.force_btn.hide()
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.text)
        lay.addWidget(self.warnings)
        lay.addWidget(self.shots)
        lay.addWidget(self.rejected_title)
        lay.addWidget(self.rejected_list)
        lay.addWidget(self.force_btn)
        lay.addStretch(1)

    def show_report(self, report: EnrolReport) -> None:
        n = len(report.added)
        if n:
            self.title.setText(f"{report.name} is enrolled")
            self.text.setText(f"{n} shot{'s' if n != 1 else ''} stored. "
                              "They will be recognised at the door from now on.")
        else:
            self.title.setText("Nothing was enrolled")
            self.text.setText("Refused by the identity check: see the reasons below." if report.needs_force else
                              "No usable face was found. See the reasons below and try other photos.")
        self.shots.clear()
        for shot in report.added:
            if shot.sample_id is None:
                continue
            try:
                crop = self._sample_crop(shot.sample_id)
            except FaceGateError:
                continue
            self.shots.addItem(QListWidgetItem(QIcon(bgr_to_pixmap(crop, THUMB)), Path(shot.source).name))
        self.shots.setVisible(self.shots.count() > 0)
        warnings = [w for w in report.warnings if n or "Nothing was enrolled" not in w]
        self.warnings.setText("⚠ " + "\n⚠ ".join(warnings) if warnings else "")
        self.warnings.setVisible(bool(warnings))
        self.rejected_list.clear()
        for shot in report.rejected:
            self.rejected_list.addItem(f"{Path(shot.source).name}: {shot.reason}")
        self.rejected_title.setVisible(bool(report.rejected))
        self.rejected_list.setVisible(bool(report.rejected))
        self.force_btn.setVisible(report.needs_force)
