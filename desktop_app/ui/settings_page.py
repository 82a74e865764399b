"""Settings: camera source and resolution, target false-accept rate and the resulting threshold,
frames needed for a decision, cooldown, execution provider, test-time flip, embedding reuse, data
location, admin PIN."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel, ValidationError
from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.accounts import AccountsMode, Action
from desktop_app.core.config import (
    AppConfig,
    DecisionSettings,
    RecognitionSettings,
    describe_validation_error,
    field_bounds,
)
from desktop_app.core.matching.calibration_summary import summarise
from desktop_app.core.outputs.base import redact_uri
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.types import Calibration
from desktop_app.core.video.sources import list_cameras
from desktop_app.core.vocabulary import LivenessMode, TtaMode

from .backup_panel import BackupBox
from .context import AppContext
from .pin_dialogs import SetPinDialog
from .privacy_box import PrivacyBox

log = logging.getLogger(__name__)

RESOLUTIONS: tuple[tuple[str, int | None, int | None], ...] = (
    ("Camera default", None, None), ("640 × 480", 640, 480), ("1280 × 720", 1280, 720),
    ("1920 × 1080", 1920, 1080),
)
FPIR_CHOICES: tuple[tuple[str, float], ...] = (
    ("1 in 100 strangers (1%)", 1e-2), ("1 in 1,000 strangers (0.1%)", 1e-3),
    ("1 in 10,000 strangers (0.01%)", 1e-4),
)
KIND_WEBCAM, KIND_FILE, KIND_URL = range(3)
FLIP_CHOICES: tuple[tuple[str, TtaMode], ...] = (
    ("Near the threshold only (faster, same decisions)", TtaMode.NEAR_THRESHOLD),
    ("Always", TtaMode.ALWAYS),
    ("Never (applies at the next start)", TtaMode.NEVER),
)
VIEWS_CHOICES: tuple[tuple[str, TtaMode], ...] = (
    ("Never (default; a change applies to templates at the next start)", TtaMode.NEVER),
    ("Near the threshold only", TtaMode.NEAR_THRESHOLD),
    ("Always", TtaMode.ALWAYS),
)
LIVENESS_CHOICES: tuple[tuple[str, LivenessMode], ...] = (
    ("Off: a photo of an employee would be let in", LivenessMode.OFF),
    ("Passive: the face must move like a head (about a second)", LivenessMode.PASSIVE),
    ("Challenge: the door asks for head turns", LivenessMode.CHALLENGE),
)


def _left(widget: QWidget) -> QWidget:
    """``widget`` at its natural width, aligned left in a form row."""
    row = QWidget()
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(widget)
    lay.addStretch(1)
    return row


def _bounded(model: type[BaseModel], name: str) -> tuple[float, float]:
    low, high = field_bounds(model, name)
    if low is None or high is None:
        raise KeyError(f"{model.__name__}.{name} needs ge/le bounds for a settings field")
    return low, high


def int_spin(model: type[BaseModel], name: str) -> QSpinBox:
    """A spin box whose range is the bounds of integer field ``name`` of ``model``."""
    low, high = _bounded(model, name)
    spin = QSpinBox()
    spin.setRange(int(low), int(high))
    spin.setToolTip(model.model_fields[name].description or "")
    return spin


def source_kind(spec: str) -> int:
    s = spec.strip()
    if s.isdigit():
        return KIND_WEBCAM
    if "://" in s:
        return KIND_URL
    return KIND_FILE


def describe_calibration(cal: Calibration | None, fallback: float, target: float) -> str:
    """One paragraph on the threshold in force, for people who are not statisticians: which rule
    chose it (the safe side says so, and how many more strangers the site needs), never "nan"."""
    return summarise(cal, fallback, target)


class SettingsPage(QWidget):
    """The settings form; ``apply()`` validates, stores (``FaceGate.update_config``) and signals
    ``applied(camera_changed)``."""

    applied = Signal(bool)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        gate = ctx.gate

        # camera
        self.kind = QComboBox()
        self.kind.addItems(["Webcam", "Video file", "Network camera (stream URL)"])
        self.webcam = QComboBox()
        self.file_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("rtsp://user:password@192.168.1.20:554/stream1")
        file_row = QWidget()
        fr = QHBoxLayout(file_row)
        fr.setContentsMargins(0, 0, 0, 0)
        fr.addWidget(self.file_edit, 1)
        fr.addWidget(browse)
        self.source_stack = QStackedWidget()
        self.source_stack.addWidget(self.webcam)
        self.source_stack.addWidget(file_row)
        self.source_stack.addWidget(self.url_edit)
        self.kind.currentIndexChanged.connect(self.source_stack.setCurrentIndex)
        self.resolution = QComboBox()
        for label, w, h in RESOLUTIONS:
            self.resolution.addItem(label, (w, h))
        self.camera_name = QLineEdit()
        cam = QFormLayout()
        cam.addRow("Source", self.kind)
        cam.addRow("", self.source_stack)
        cam.addRow("Resolution", self.resolution)
        cam.addRow("Camera name", self.camera_name)
        cam_box = QGroupBox("Camera")
        cam_box.setLayout(cam)

        # recognition
        self.fpir = QComboBox()
        for label, value in FPIR_CHOICES:
            self.fpir.addItem(label, value)
        self.calibration = QLabel("…")
        self.calibration.setWordWrap(True)
        self.recalibrate_btn = QPushButton("Recalibrate now")
        self.recalibrate_btn.clicked.connect(self.recalibrate)
        self.device = QComboBox()
        for dev_label, dev in (("Automatic (GPU if available)", "auto"), ("GPU (CUDA)", "cuda"), ("CPU", "cpu")):
            self.device.addItem(dev_label, dev)
        self.provider = QLabel()
        self.flip = QComboBox()
        for flip_label, mode in FLIP_CHOICES:
            self.flip.addItem(flip_label, mode)
        self.flip.setToolTip(RecognitionSettings.model_fields["flip_tta"].description or "")
        self.views = QComboBox()
        for views_label, mode in VIEWS_CHOICES:
            self.views.addItem(views_label, mode)
        self.views.setToolTip(RecognitionSettings.model_fields["alignment_views"].description or "")
        rec = QFormLayout()
        rec.addRow("Strangers wrongly let in, at most", self.fpir)
        rec.addRow("Threshold", self.calibration)
        rec.addRow("", _left(self.recalibrate_btn))
        rec.addRow("Run the models on", self.device)
        rec.addRow("", self.provider)
        rec.addRow("Mirror-image check", self.flip)
        rec.addRow("Face re-found at other scales", self.views)
        rec_box = QGroupBox("Recognition")
        rec_box.setLayout(rec)

        # decision
        self.votes = int_spin(DecisionSettings, "votes_needed")
        self.window_frames = int_spin(DecisionSettings, "window")
        self.cooldown = QDoubleSpinBox()
        self.cooldown.setRange(*_bounded(DecisionSettings, "cooldown_s"))
        self.cooldown.setToolTip(DecisionSettings.model_fields["cooldown_s"].description or "")
        self.cooldown.setSuffix(" s")
        self.cooldown.setDecimals(0)
        self.cooldown.setMaximumWidth(120)
        self.unknown_after = int_spin(DecisionSettings, "unknown_after")
        self.unknown_after.setMaximumWidth(120)
        self.reuse_frames = int_spin(DecisionSettings, "reuse_frames")
        self.reuse_frames.setMaximumWidth(120)
        votes_row = QWidget()
        vr = QHBoxLayout(votes_row)
        vr.setContentsMargins(0, 0, 0, 0)
        vr.addWidget(self.votes)
        vr.addWidget(QLabel("of the last"))
        vr.addWidget(self.window_frames)
        vr.addWidget(QLabel("frames must agree"))
        vr.addStretch(1)
        dec = QFormLayout()
        dec.addRow("Frames needed for a decision", votes_row)
        dec.addRow("Same person logged again after", self.cooldown)
        dec.addRow("Unknown face logged after (frames)", self.unknown_after)
        dec.addRow("Re-embed a face in view at least every (frames)", self.reuse_frames)
        self.liveness = QComboBox()
        for live_label, live in LIVENESS_CHOICES:
            self.liveness.addItem(live_label, live.value)
        self.liveness.setToolTip("Is the face a live person, not a photo or a phone held up to the camera? "
                                 "The default of every door that has no mode of its own (Doors page), "
                                 "and of the door view.")
        dec.addRow("Liveness check", self.liveness)
        dec_box = QGroupBox("Decisions")
        dec_box.setLayout(dec)

        # data + admin
        self.data_location = QLabel(str(gate.db_path))
        self.data_location.setWordWrap(True)
        open_btn = QPushButton("Open folder")
        open_btn.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(gate.data_dir))))
        pin_btn = QPushButton("Change admin PIN…")
        pin_btn.clicked.connect(self.change_pin)
        data = QFormLayout()
        data.addRow("Database", self.data_location)
        data.addRow("", QLabel("To use another location, start FaceGate with --db PATH or set FACEGATE_HOME."))
        data.addRow("", _left(open_btn))
        data.addRow("Administrator", _left(pin_btn))
        data_box = QGroupBox("Data and security")
        data_box.setLayout(data)
        self.privacy = PrivacyBox(ctx)  # retention and what the door screen shows

        self.error = QLabel("")
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        self.apply_btn = QPushButton("Save settings")
        self.apply_btn.setProperty("primary", True)
        self.apply_btn.clicked.connect(self.apply)
        revert = QPushButton("Revert")
        revert.clicked.connect(self.load)
        buttons = QHBoxLayout()
        buttons.addWidget(self.error, 1)
        buttons.addWidget(revert)
        buttons.addWidget(self.apply_btn)

        inner = QWidget()
        form = QVBoxLayout(inner)
        self.backup_box = BackupBox(ctx)
        for box in (cam_box, rec_box, dec_box, self.privacy, data_box, self.backup_box):
            form.addWidget(box)
        form.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(inner)
        scroll.setWidgetResizable(True)
        lay = QVBoxLayout(self)
        lay.addWidget(scroll, 1)
        lay.addLayout(buttons)
        self.load()

    # ------------------------------------------------------------------ load / apply
    def load(self) -> None:
        cfg = self.ctx.gate.config
        self.webcam.clear()
        cams = list_cameras()
        for i in cams:
            self.webcam.addItem(f"Camera {i}", str(i))
        if not cams:
            self.webcam.addItem("No camera found (0)", "0")
        spec = cfg.camera.source
        kind = source_kind(spec)
        self.kind.setCurrentIndex(kind)
        self.source_stack.setCurrentIndex(kind)
        if kind == KIND_WEBCAM:
            idx = self.webcam.findData(spec)
            if idx < 0:
                self.webcam.addItem(f"Camera {spec} (not found)", spec)
                idx = self.webcam.count() - 1
            self.webcam.setCurrentIndex(idx)
        elif kind == KIND_FILE:
            self.file_edit.setText(spec)
        else:
            self.url_edit.setText(redact_uri(spec))  # the password masked; kept unless the URL is changed
        idx = self.resolution.findData((cfg.camera.width, cfg.camera.height))
        self.resolution.setCurrentIndex(max(idx, 0))
        self.camera_name.setText(cfg.camera.name)
        target = cfg.recognition.target_fpir
        idx = min(range(self.fpir.count()), key=lambda i: abs(float(self.fpir.itemData(i)) - target))
        self.fpir.setCurrentIndex(idx)
        self.device.setCurrentIndex(max(self.device.findData(cfg.recognition.device), 0))
        self.provider.setText(f"Now running on: {self.ctx.gate.provider}. A change applies at the next start.")
        self.votes.setValue(cfg.decision.votes_needed)
        self.window_frames.setValue(cfg.decision.window)
        self.cooldown.setValue(cfg.decision.cooldown_s)
        self.unknown_after.setValue(cfg.decision.unknown_after)
        self.flip.setCurrentIndex(max(self.flip.findData(cfg.recognition.flip_tta), 0))
        self.views.setCurrentIndex(max(self.views.findData(cfg.recognition.alignment_views), 0))
        self.reuse_frames.setValue(cfg.decision.reuse_frames)
        self.liveness.setCurrentIndex(max(self.liveness.findData(cfg.liveness.mode.value), 0))
        self.privacy.load(cfg)
        self.error.setText("")
        self.show_calibration()

    def source_spec(self) -> str:
        kind = self.kind.currentIndex()
        if kind == KIND_WEBCAM:
            return str(self.webcam.currentData() or "0")
        if kind == KIND_FILE:
            return self.file_edit.text().strip()
        text = self.url_edit.text().strip()
        stored = self.ctx.gate.config.camera.source
        return stored if text and text == redact_uri(stored) else text  # masked: the stored one (its password)

    def build_config(self) -> AppConfig:
        """The config the form describes (pydantic ValidationError when invalid)."""
        cfg = self.ctx.gate.config
        w, h = self.resolution.currentData()
        data = cfg.model_dump()
        data["camera"].update(source=self.source_spec(), width=w, height=h, name=self.camera_name.text().strip())
        data["recognition"].update(target_fpir=float(self.fpir.currentData()), device=self.device.currentData(),
                                   flip_tta=self.flip.currentData(), alignment_views=self.views.currentData())
        data["decision"].update(votes_needed=self.votes.value(), window=self.window_frames.value(),
                                cooldown_s=self.cooldown.value(), unknown_after=self.unknown_after.value(),
                                reuse_frames=self.reuse_frames.value())
        data["liveness"].update(mode=LivenessMode(self.liveness.currentData()))
        data.update(self.privacy.updates())
        return AppConfig.model_validate(data)

    def apply(self) -> bool:
        if not self.ctx.require(Action.SETTINGS, "change the settings"):
            return False
        if not self.source_spec():
            self.error.setText("Choose a camera source: a webcam, a video file or a stream URL.")
            return False
        try:
            new = self.build_config()
        except ValidationError as exc:  # the config model is the one judge of what is valid
            self.error.setText(f"Not saved: {describe_validation_error(exc)}")
            return False
        old = self.ctx.gate.config
        self.ctx.gate.update_config(new, actor=self.ctx.actor)
        camera_changed = new.camera != old.camera
        self.error.setText("Saved.")
        self.ctx.capture.worker.refresh()
        self.ctx.hub.settings_changed.emit()
        self.applied.emit(camera_changed)
        self.show_calibration()
        return True

    # ------------------------------------------------------------------ calibration
    def show_calibration(self) -> None:
        """Compute the calibration in force in the pool (it may take a moment) and show it."""
        gate = self.ctx.gate
        self.calibration.setText("Computing…")

        def work(progress: ProgressFn, cancelled: CancelFn) -> Calibration | None:
            return gate.current_calibration()

        job = self.ctx.jobs.start(work, "calibration")
        job.signals.succeeded.connect(self._show_cal)
        job.signals.failed.connect(lambda msg, _e: self.calibration.setText(f"Calibration failed: {msg}"))

    def _show_cal(self, cal: Calibration | None) -> None:
        cfg = self.ctx.gate.config.recognition
        self.calibration.setText(describe_calibration(cal, cfg.fallback_threshold, cfg.target_fpir))

    def recalibrate(self) -> None:
        if not self.ctx.require(Action.SETTINGS, "recalibrate"):
            return
        gate = self.ctx.gate
        self.calibration.setText("Calibrating…")

        def work(progress: ProgressFn, cancelled: CancelFn) -> Calibration | None:
            try:
                return gate.calibrate()
            except ValueError:
                return None

        job = self.ctx.jobs.start(work, "recalibrate")
        job.signals.succeeded.connect(self._show_cal)
        job.signals.succeeded.connect(lambda _c: self.ctx.capture.worker.refresh())

    # ------------------------------------------------------------------ misc
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a video file", str(Path.home()),
                                              "Videos (*.mp4 *.avi *.mkv *.mov *.webm);;All files (*)")
        if path:
            self.file_edit.setText(path)

    def change_pin(self) -> None:
        if self.ctx.gate.accounts_state().mode != AccountsMode.OPEN:
            QMessageBox.information(self, "Named accounts", "This database has named accounts: the admin PIN is "
                                    "retired. Change your password on the Accounts page.")
            return
        dialog = SetPinDialog(self.ctx.lock.pin, self)
        dialog.exec()
        dialog.deleteLater()
