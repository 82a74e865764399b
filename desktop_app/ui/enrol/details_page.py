"""The wizard's first page: who is enrolled (name, employee id, department), whether they are
already enrolled (new shots are then added to them), and how (camera or photo files)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QButtonGroup, QFormLayout, QLabel, QLineEdit, QRadioButton, QVBoxLayout, QWidget

from desktop_app.core.errors import FaceGateError
from desktop_app.core.storage.records import Person

from .common import EnrolDetails, hint_label, title_label

FindPerson = Callable[[str], Person | None]
"""``find_person(name)``: the enrolled person of that name (case-insensitive), or None."""


class DetailsPage(QWidget):
    """Name, employee id, department and the way of enrolling ("camera" or "photos").

    find_person: looks a name up, for the "already enrolled" hint; the other arguments prefill the
    fields (adding shots to an existing person).
    """

    def __init__(self, find_person: FindPerson, *, name: str = "", employee_id: str | None = None,
                 department: str | None = None, mode: str = "camera", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._find_person = find_person
        self.name_edit = QLineEdit(name)
        self.name_edit.setPlaceholderText("Full name, as it should appear at the door")
        self.employee_edit = QLineEdit(employee_id or "")
        self.department_edit = QLineEdit(department or "")
        self.existing_hint = hint_label("")
        self.use_camera = QRadioButton("With the camera (guided: five shots, taken automatically)")
        self.use_photos = QRadioButton("From photo files (drag and drop, or choose files)")
        group = QButtonGroup(self)
        group.addButton(self.use_camera)
        group.addButton(self.use_photos)
        (self.use_photos if mode == "photos" else self.use_camera).setChecked(True)
        self.error = QLabel("")
        self.error.setProperty("role", "error")
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Employee ID", self.employee_edit)
        form.addRow("Department", self.department_edit)
        lay = QVBoxLayout(self)
        lay.addWidget(title_label("Who is being enrolled?"))
        lay.addLayout(form)
        lay.addWidget(self.existing_hint)
        lay.addSpacing(12)
        lay.addWidget(QLabel("How?"))
        lay.addWidget(self.use_camera)
        lay.addWidget(self.use_photos)
        lay.addWidget(self.error)
        lay.addStretch(1)
        self.name_edit.textChanged.connect(self._name_changed)
        self._name_changed(name)

    @property
    def mode(self) -> str:
        """"camera" or "photos"."""
        return "camera" if self.use_camera.isChecked() else "photos"

    def details(self) -> EnrolDetails | None:
        """What was entered; None (with a message on the page) when the name is missing."""
        name = self.name_edit.text().strip()
        if not name:
            self.error.setText("Enter the person's name.")
            return None
        self.error.setText("")
        return EnrolDetails(name, self.employee_edit.text().strip() or None,
                            self.department_edit.text().strip() or None)

    def _name_changed(self, text: str) -> None:
        try:
            existing = self._find_person(text.strip()) if text.strip() else None
        except FaceGateError:  # several people share the name: the employee ID says which one
            self.existing_hint.setText(f"Several people are named {text.strip()}: enter the employee ID of the one "
                                       "to add shots to (a new employee ID enrols a new person).")
            return
        self.existing_hint.setText(
            f"{existing.name} is already enrolled ({existing.n_samples} shot{'s' if existing.n_samples != 1 else ''}):"
            " new shots will be added to them." if existing else ""
        )
