"""The add / edit door dialog: name, cameras (source and direction), output URI and its secret,
unlock time, fail mode, door contact, anti-passback and liveness. ``spec()`` is the :class:`DoorSpec` the
form describes; OK is refused (with the record's own message, inline) while it is not valid."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.access.model import DEFAULT_OUTPUT, CameraSpec, DoorSpec
from desktop_app.core.vocabulary import Direction, FailMode, LivenessMode

OUTPUT_HINT = ("log: (dry run, logs only) · webhook:https://host/path · mqtt://host:1883/topic · "
               "serial:///dev/ttyUSB0?protocol=lctech · hidrelay:SERIAL/CHANNEL · gpio:CHIP/LINE")
FAIL_MODES: tuple[tuple[str, FailMode], ...] = (
    ("Fail-secure: stays locked when FaceGate or the output fails", FailMode.SECURE),
    ("Fail-safe: opens when FaceGate or the output fails (fire exits)", FailMode.SAFE),
)
PASSBACK_MODES: tuple[tuple[str, str], ...] = (
    ("Off", "off"), ("Deny a second entry without an exit", "deny"),
    ("Let it pass, flag the event", "flag"),
)
LIVENESS_MODES: tuple[tuple[str, LivenessMode | None], ...] = (
    ("As the settings say (installation default)", None),
    ("Off: a photo of an employee would be let in", LivenessMode.OFF),
    ("Passive: the face must move like a head (about a second)", LivenessMode.PASSIVE),
    ("Challenge: the door asks for head turns", LivenessMode.CHALLENGE),
)
DIRECTION_LABELS = {Direction.IN: "in (entry)", Direction.OUT: "out (exit)"}
SECRET_KEPT = "(unchanged: leave empty to keep the stored secret)"


class DoorDialog(QDialog):
    """Add a door (``door`` None) or edit ``door``. others: the names of the site's other doors
    (anti-passback partners). After ``exec()`` accepted, :attr:`result_spec` holds the door."""

    def __init__(self, door: DoorSpec | None = None, others: Sequence[str] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.original = door
        self.result_spec: DoorSpec | None = None
        self.setWindowTitle("Edit door" if door else "Add a door")
        self.setModal(True)
        self.setMinimumWidth(640)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. front")
        self.cameras = QTableWidget(0, 2)
        self.cameras.setHorizontalHeaderLabels(["Source (webcam index, video file or stream URL)", "Direction"])
        self.cameras.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.cameras.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.cameras.verticalHeader().hide()
        self.cameras.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.cameras.setMinimumHeight(110)
        self.add_camera_btn = QPushButton("Add camera")
        self.remove_camera_btn = QPushButton("Remove camera")
        cam_buttons = QHBoxLayout()
        cam_buttons.addWidget(self.add_camera_btn)
        cam_buttons.addWidget(self.remove_camera_btn)
        cam_buttons.addStretch(1)
        cam_box = QWidget()
        cb = QVBoxLayout(cam_box)
        cb.setContentsMargins(0, 0, 0, 0)
        cb.addWidget(self.cameras)
        cb.addLayout(cam_buttons)

        self.output_edit = QLineEdit(DEFAULT_OUTPUT)
        self.output_edit.setToolTip(OUTPUT_HINT)
        output_hint = QLabel(OUTPUT_HINT)
        output_hint.setProperty("role", "hint")
        output_hint.setWordWrap(True)
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText("signing key of webhook outputs (optional)")
        self.show_secret = QCheckBox("Show")
        secret_row = QWidget()
        sr = QHBoxLayout(secret_row)
        sr.setContentsMargins(0, 0, 0, 0)
        sr.addWidget(self.secret_edit, 1)
        sr.addWidget(self.show_secret)
        self.clear_secret = QCheckBox("Remove the stored secret")
        self.unlock = QDoubleSpinBox()
        self.unlock.setRange(0.5, 3600)
        self.unlock.setDecimals(1)
        self.unlock.setSuffix(" s")
        self.unlock.setValue(5.0)
        self.fail_mode = QComboBox()
        for label, mode in FAIL_MODES:
            self.fail_mode.addItem(label, mode.value)
        self.contact_edit = QLineEdit()
        self.contact_edit.setPlaceholderText("door-contact input URI (optional: door forced / held open alarms)")
        self.held_open = QDoubleSpinBox()
        self.held_open.setRange(1, 86400)
        self.held_open.setDecimals(0)
        self.held_open.setSuffix(" s")
        self.held_open.setValue(30)
        self.partner = QComboBox()
        self.partner.addItem("No paired door", None)
        self.passback = QComboBox()
        for label, value in PASSBACK_MODES:
            self.passback.addItem(label, value)
        self.liveness = QComboBox()
        self.liveness.setToolTip("Is the face a live person, not a photo or a phone held up to the camera? "
                                 "A face judged a picture is refused as 'spoof suspected', with an alert.")
        for label, live in LIVENESS_MODES:
            self.liveness.addItem(label, None if live is None else live.value)

        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Cameras", cam_box)
        form.addRow("Output", self.output_edit)
        form.addRow("", output_hint)
        form.addRow("Secret", secret_row)
        form.addRow("", self.clear_secret)
        form.addRow("Unlock time", self.unlock)
        form.addRow("If it fails", self.fail_mode)
        form.addRow("Door contact", self.contact_edit)
        form.addRow("Held open after", self.held_open)
        form.addRow("Anti-passback with", self.partner)
        form.addRow("Anti-passback", self.passback)
        form.addRow("Liveness", self.liveness)

        self.error = QLabel("")
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_btn = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)

        self.add_camera_btn.clicked.connect(lambda: self.add_camera())
        self.remove_camera_btn.clicked.connect(self.remove_camera)
        self.show_secret.toggled.connect(lambda on: self.secret_edit.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password))
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)
        self.name_edit.textChanged.connect(self._partner_self_label)
        self._fill(door, others)

    # ------------------------------------------------------------------ form
    def _fill(self, door: DoorSpec | None, others: Sequence[str]) -> None:
        own = door.name if door else ""
        self.partner.addItem("This door (it has an entry and an exit camera)", "")
        for name in others:
            if name != own:
                self.partner.addItem(name, name)
        self.clear_secret.setVisible(bool(door and door.secret))
        if door is None:
            self.add_camera("0", Direction.IN)
            return
        self.name_edit.setText(door.name)
        self.name_edit.setReadOnly(True)  # permissions and events name the door: rename = add new, remove old
        self.name_edit.setToolTip("A door keeps its name: to rename it, add a new door and remove this one.")
        for cam in door.cameras:
            self.add_camera(cam.source, cam.direction)
        self.output_edit.setText(door.output)
        if door.secret:
            self.secret_edit.setPlaceholderText(SECRET_KEPT)
        self.unlock.setValue(door.unlock_seconds)
        self.fail_mode.setCurrentIndex(max(self.fail_mode.findData(door.fail_mode.value), 0))
        self.contact_edit.setText(door.contact or "")
        self.held_open.setValue(door.held_open_s)
        partner = door.passback_partner
        if partner == door.name:
            self.partner.setCurrentIndex(self.partner.findData(""))
        elif partner:
            idx = self.partner.findData(partner)
            if idx < 0:
                self.partner.addItem(partner, partner)
                idx = self.partner.count() - 1
            self.partner.setCurrentIndex(idx)
        self.passback.setCurrentIndex(max(self.passback.findData(door.passback), 0))
        if door.liveness is not None:
            self.liveness.setCurrentIndex(max(self.liveness.findData(door.liveness.value), 0))

    def _partner_self_label(self, name: str) -> None:
        idx = self.partner.findData("")
        if idx >= 0:
            label = f"This door ({name.strip()})" if name.strip() else "This door"
            self.partner.setItemText(idx, label + ": it has an entry and an exit camera")

    def add_camera(self, source: str = "", direction: Direction = Direction.IN) -> int:
        """Append a camera row; returns its row."""
        row = self.cameras.rowCount()
        self.cameras.insertRow(row)
        item = QTableWidgetItem(source)
        self.cameras.setItem(row, 0, item)
        combo = QComboBox()
        for d in Direction:
            combo.addItem(DIRECTION_LABELS[d], d.value)
        combo.setCurrentIndex(combo.findData(Direction(direction).value))
        self.cameras.setCellWidget(row, 1, combo)
        if not source:
            self.cameras.setCurrentCell(row, 0)
            self.cameras.editItem(item)
        return row

    def remove_camera(self) -> None:
        row = self.cameras.currentRow()
        if row < 0:
            row = self.cameras.rowCount() - 1
        if row >= 0:
            self.cameras.removeRow(row)

    def set_camera(self, row: int, source: str, direction: Direction) -> None:
        """Set camera ``row``'s source and direction (as typing and choosing in the row would)."""
        item = self.cameras.item(row, 0)
        if item is None:
            item = QTableWidgetItem()
            self.cameras.setItem(row, 0, item)
        item.setText(source)
        combo = self.cameras.cellWidget(row, 1)
        assert isinstance(combo, QComboBox)
        combo.setCurrentIndex(combo.findData(Direction(direction).value))

    def camera_specs(self) -> tuple[CameraSpec, ...]:
        """The cameras of the table (empty rows skipped); ValueError from :class:`CameraSpec`."""
        out: list[CameraSpec] = []
        for row in range(self.cameras.rowCount()):
            item = self.cameras.item(row, 0)
            source = item.text().strip() if item is not None else ""
            if not source:
                continue
            combo = self.cameras.cellWidget(row, 1)
            direction = Direction(combo.currentData()) if isinstance(combo, QComboBox) else Direction.IN
            out.append(CameraSpec(source=source, direction=direction))
        return tuple(out)

    def secret(self) -> str | None:
        """The secret to store: the typed one; the stored one when left empty (unless removed)."""
        typed = self.secret_edit.text()
        if typed:
            return typed
        if self.original is not None and not self.clear_secret.isChecked():
            return self.original.secret
        return None

    def spec(self) -> DoorSpec:
        """The door the form describes; ValueError (a readable message) when it is not valid."""
        name = self.name_edit.text().strip()
        cameras = self.camera_specs()
        if not cameras:
            raise ValueError("a door needs at least one camera: add one with its source "
                             "(webcam index such as 0, a video file or a stream URL)")
        partner = self.partner.currentData()
        passback = str(self.passback.currentData())
        liveness = self.liveness.currentData()
        return DoorSpec(
            name=name, cameras=cameras, output=self.output_edit.text().strip() or DEFAULT_OUTPUT,
            secret=self.secret(), unlock_seconds=float(self.unlock.value()),
            fail_mode=FailMode(self.fail_mode.currentData()), contact=self.contact_edit.text().strip() or None,
            held_open_s=float(self.held_open.value()),
            passback_partner=None if partner is None else (partner or name),
            passback=passback,  # type: ignore[arg-type]  # one of PASSBACK_MODES' values
            liveness=None if liveness is None else LivenessMode(liveness),
        )

    def try_accept(self) -> bool:
        """Accept when the form is a valid door; else show why, inline, and stay open."""
        try:
            self.result_spec = self.spec()
        except ValueError as exc:
            self.error.setText(f"Not saved: {exc}")
            return False
        self.error.setText("")
        self.accept()
        return True
