"""The enrolment wizard driven by clicks: the toolbar's Enrol button, the real Next / Add photos /
Enrol / Cancel buttons, the file dialog answered with real photos (or generated pictures where no face
is needed), a real FaceGate on a SQLite file, the job pool doing the work.

The tests without shared data use generated images: they check everything but the face itself
(validation, navigation, the file dialog, cancel, photos with no face, the camera page's wiring)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QRadioButton, QWidget

from desktop_app.core.service import FaceGate
from desktop_app.ui.capture import EnrolFrame
from desktop_app.ui.enrol import PAGE_CAMERA, PAGE_DETAILS, PAGE_PHOTOS, PAGE_RESULT, EnrolWizard
from desktop_app.ui.main_window import MainWindow

PIN = "246913"
LIN = "Lin-Manuel Miranda"


@pytest.fixture()
def window(open_admin_window: Any, module_gate: FaceGate) -> Iterator[MainWindow]:
    win = open_admin_window(module_gate, PIN)
    yield win
    win.close()
    assert win.jobs.active == 0


def click(qtbot: Any, widget: QWidget) -> None:
    """A left click where a user would click: the middle, or the indicator of a radio button."""
    assert widget.isVisible() and widget.isEnabled(), f"{widget!r} cannot be clicked"
    pos = QPoint(8, widget.height() // 2) if isinstance(widget, QRadioButton) else widget.rect().center()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)


def open_wizard(qtbot: Any, win: MainWindow) -> EnrolWizard:
    """The toolbar's "Enrol…" button, clicked."""
    click(qtbot, win.toolbar.widgetForAction(win.enrol_action))
    wizard = win.wizard
    assert isinstance(wizard, EnrolWizard) and wizard.isVisible() and wizard.page == PAGE_DETAILS
    return wizard


def answer_file_dialog(monkeypatch: pytest.MonkeyPatch, files: list[Path]) -> list[str]:
    """Make QFileDialog.getOpenFileNames answer ``files``; returns the titles it was asked with."""
    asked: list[str] = []

    def fake(parent: object, caption: str = "", folder: str = "", filters: str = "",
             *_rest: object) -> tuple[list[str], str]:
        asked.append(caption)
        assert "*.png" in filters and "*.jpg" in filters
        return [str(f) for f in files], filters

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(fake))
    return asked


def details_then_photos(qtbot: Any, wizard: EnrolWizard, name: str, employee_id: str = "",
                        department: str = "") -> None:
    details = wizard.details
    qtbot.keyClicks(details.name_edit, name)
    qtbot.keyClicks(details.employee_edit, employee_id)
    qtbot.keyClicks(details.department_edit, department)
    click(qtbot, details.use_photos)
    assert wizard.next_btn.text() == "Next"
    click(qtbot, wizard.next_btn)
    assert wizard.page == PAGE_PHOTOS
    assert wizard.next_btn.text() == "Enrol" and not wizard.next_btn.isEnabled(), "nothing to enrol yet"


def generated_pictures(folder: Path, n: int) -> list[Path]:
    """``n`` PNG pictures with no face in them (smooth gradients with a few shapes)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = np.zeros((240, 320, 3), np.uint8)
        img[:] = np.linspace(40, 220, 320, dtype=np.uint8)[None, :, None]
        cv2.rectangle(img, (30 + 10 * i, 40), (150, 200), (0, 90 + 20 * i, 200), -1)
        cv2.circle(img, (230, 120), 40 + i, (200, 200, 30), -1)
        path = folder / f"picture_{i}.png"
        assert cv2.imwrite(str(path), img)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------- no shared data
def test_next_without_a_name_says_so_and_stays(qtbot: Any, window: MainWindow) -> None:
    wizard = open_wizard(qtbot, window)
    assert not wizard.back_btn.isVisible() and wizard.close_btn.text() == "Cancel"
    click(qtbot, wizard.next_btn)
    assert wizard.page == PAGE_DETAILS and "name" in wizard.details.error.text()
    qtbot.keyClicks(wizard.details.name_edit, "   ")
    click(qtbot, wizard.next_btn)
    assert wizard.page == PAGE_DETAILS, "a blank name is no name"
    click(qtbot, wizard.close_btn)
    qtbot.waitUntil(lambda: window.wizard is None, timeout=5000)  # closed and deleted


def test_photos_without_a_face_enrol_nobody(qtbot: Any, window: MainWindow, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    gate = window.gate
    before = {p.name for p in gate.people()}
    wizard = open_wizard(qtbot, window)
    details_then_photos(qtbot, wizard, "Nobody Here")
    pictures = generated_pictures(tmp_path / "pics", 2)
    (tmp_path / "pics" / "notes.txt").write_text("not a picture")
    broken = tmp_path / "pics" / "broken.png"
    broken.write_bytes(b"not a PNG at all")
    asked = answer_file_dialog(monkeypatch, [*pictures, tmp_path / "pics" / "notes.txt", broken])
    click(qtbot, wizard.photos.add_btn)
    assert asked == ["Choose photos"]
    photo_list = wizard.photos.photo_list
    assert photo_list.files() == [*pictures, broken], "the text file is left out"
    click(qtbot, wizard.photos.add_btn)  # the same files again: not listed twice
    assert photo_list.count() == 3
    # thumbnails come from the job pool; an unreadable file says so
    qtbot.waitUntil(lambda: not photo_list.loading, timeout=30000)
    assert not photo_list.item(0).icon().isNull() and not photo_list.item(1).icon().isNull()
    assert photo_list.item(2).icon().isNull() and "(unreadable)" in photo_list.item(2).text()
    assert wizard.next_btn.isEnabled()
    click(qtbot, wizard.next_btn)  # Enrol: in the job pool
    qtbot.waitUntil(lambda: wizard.page == PAGE_RESULT, timeout=60000)
    report = wizard.report
    assert report is not None and not report.added and len(report.rejected) == 3
    outcome = wizard.outcome
    assert outcome.title.text() == "Nothing was enrolled"
    assert outcome.rejected_list.count() == 3 and "picture_0.png" in outcome.rejected_list.item(0).text()
    assert not outcome.shots.isVisible() and not wizard.next_btn.isVisible()
    assert {p.name for p in gate.people()} == before, "nobody was created"
    assert wizard.close_btn.text() == "Close"
    click(qtbot, wizard.close_btn)


def test_cancel_enrolment_stores_nothing(qtbot: Any, window: MainWindow, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    gate = window.gate
    wizard = open_wizard(qtbot, window)
    details_then_photos(qtbot, wizard, "Cancelled Person")
    answer_file_dialog(monkeypatch, generated_pictures(tmp_path / "pics", 6))
    click(qtbot, wizard.photos.add_btn)
    click(qtbot, wizard.next_btn)  # Enrol: the job starts on the next turn of the event loop...
    assert wizard.busy and not wizard.next_btn.isEnabled() and not wizard.close_btn.isEnabled()
    click(qtbot, wizard.photos.cancel_btn)  # ...so this cancel comes before the first photo is done
    qtbot.waitUntil(lambda: not wizard.busy, timeout=60000)
    assert "cancelled: nothing was saved" in wizard.photos.progress_label.text()
    assert wizard.page == PAGE_PHOTOS and wizard.report is None
    assert not wizard.photos.progress.isVisible() and not wizard.photos.cancel_btn.isVisible()
    assert wizard.next_btn.isEnabled() and wizard.close_btn.isEnabled(), "it can be tried again"
    assert "Cancelled Person" not in {p.name for p in gate.people()}
    click(qtbot, wizard.close_btn)


def test_camera_page_draws_frames_and_gives_the_camera_back(qtbot: Any, window: MainWindow) -> None:
    worker = window.capture.worker
    wizard = open_wizard(qtbot, window)
    qtbot.keyClicks(wizard.details.name_edit, "Camera Person")
    assert wizard.details.use_camera.isChecked(), "the camera is the default way"
    click(qtbot, wizard.next_btn)
    assert wizard.page == PAGE_CAMERA and wizard.next_btn.text() == "Review"
    assert not wizard.next_btn.isEnabled(), "no shot yet"
    assert "No camera picture" in wizard.camera.feedback.text(), "the camera was never started here"
    qtbot.waitUntil(lambda: worker._mode == "enrol", timeout=5000)
    # a synthetic analysed frame through the worker's real signal: drawn, judged, no shot taken
    image = QImage(320, 240, QImage.Format.Format_RGB888)
    image.fill(0x406080)
    worker.enrol_frame.emit(EnrolFrame(image, 320, 240, ((100.0, 60.0, 80.0, 100.0),), None,
                                       "No face: look at the camera."))
    assert wizard.camera.preview.has_image
    assert wizard.camera.feedback.text() == "No face: look at the camera."
    click(qtbot, wizard.camera.skip_btn)  # skip "frontal"
    assert "skipped" in wizard.camera.pose_list.item(0).text()
    assert wizard.camera.guide.current == 1 and not wizard.camera.guide.shots
    click(qtbot, wizard.back_btn)
    assert wizard.page == PAGE_DETAILS and not wizard.camera.connected
    qtbot.waitUntil(lambda: worker._mode == "live", timeout=5000)
    worker.enrol_frame.emit(EnrolFrame(image, 320, 240, (), None, "ignored"))
    assert wizard.camera.feedback.text() == "No face: look at the camera.", "no frames once back"
    click(qtbot, wizard.close_btn)


# ---------------------------------------------------------------------------------- real photos
def test_photo_path_by_clicks_with_real_photos(qtbot: Any, window: MainWindow, clips: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    gate = window.gate
    lin_photo = clips / "lin-manuel-miranda.png"
    two_faces = clips / "knn_examples" / "test" / "obama_and_biden.jpg"
    wizard = open_wizard(qtbot, window)
    reports: list[object] = []
    changed: list[bool] = []
    wizard.finished_enrolment.connect(reports.append)
    window.ctx.hub.people_changed.connect(lambda: changed.append(True))
    details_then_photos(qtbot, wizard, LIN, "E-042", "Stage")
    answer_file_dialog(monkeypatch, [lin_photo, two_faces])
    click(qtbot, wizard.photos.add_btn)
    photo_list = wizard.photos.photo_list
    assert photo_list.files() == [lin_photo, two_faces]
    qtbot.waitUntil(lambda: not photo_list.item(0).icon().isNull(), timeout=30000)  # a thumbnail of the photo
    click(qtbot, wizard.next_btn)  # Enrol
    qtbot.waitUntil(lambda: wizard.page == PAGE_RESULT, timeout=60000)
    report = wizard.report
    assert report is not None and reports == [report] and changed
    assert [Path(s.source) for s in report.added] == [lin_photo]
    assert [Path(s.source) for s in report.rejected] == [two_faces] and "faces" in report.rejected[0].reason
    outcome = wizard.outcome
    assert outcome.title.text() == f"{LIN} is enrolled" and outcome.text.text().startswith("1 shot stored.")
    assert outcome.shots.count() == 1 and not outcome.shots.item(0).icon().isNull(), "the stored crop"
    assert outcome.rejected_list.count() == 1 and "obama_and_biden.jpg" in outcome.rejected_list.item(0).text()
    person = next(p for p in gate.people() if p.name == LIN)
    assert (person.employee_id, person.department, person.n_samples) == ("E-042", "Stage", 1)
    click(qtbot, wizard.close_btn)
    qtbot.waitUntil(lambda: window.wizard is None, timeout=5000)

    # a second enrolment of the same name (any case) says new shots are added to that person
    again = open_wizard(qtbot, window)
    qtbot.keyClicks(again.details.name_edit, LIN.lower())
    assert again.details.existing_hint.text() == (
        f"{LIN} is already enrolled (1 shot): new shots will be added to them.")
    click(qtbot, again.close_btn)


def test_a_strangers_photo_is_refused_then_added_only_when_confirmed(
        qtbot: Any, window: MainWindow, clips: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9 item 6: a shot that does not match the person is refused with the reason; the result
    page's button asks, and only a confirmed, audited forced addition stores it."""
    from PySide6.QtWidgets import QMessageBox

    gate = window.gate
    if gate.find_person(LIN) is None:
        assert gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"]).added
    before = gate.find_person(LIN).n_samples  # type: ignore[union-attr]
    stranger = clips / "knn_examples" / "train" / "obama" / "obama.jpg"
    wizard = open_wizard(qtbot, window)
    details_then_photos(qtbot, wizard, LIN)
    answer_file_dialog(monkeypatch, [stranger])
    click(qtbot, wizard.photos.add_btn)
    click(qtbot, wizard.next_btn)  # Enrol
    qtbot.waitUntil(lambda: wizard.page == PAGE_RESULT, timeout=60000)
    report = wizard.report
    assert report is not None and not report.added and report.needs_force
    outcome = wizard.outcome
    assert outcome.title.text() == "Nothing was enrolled" and "identity check" in outcome.text.text()
    assert f"does not match {LIN}" in outcome.rejected_list.item(0).text()
    asked: list[str] = []
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]

    def question(parent: object, title: str, text: str, *rest: object) -> QMessageBox.StandardButton:
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    click(qtbot, outcome.force_btn)  # answered No: nothing stored
    assert len(asked) == 1 and "obama.jpg" in asked[0] and wizard.report is report
    assert gate.find_person(LIN).n_samples == before  # type: ignore[union-attr]
    click(qtbot, outcome.force_btn)  # answered Yes: stored, audited
    qtbot.waitUntil(lambda: wizard.report is not report, timeout=60000)
    assert wizard.report is not None and len(wizard.report.added) == 1 and not outcome.force_btn.isVisible()
    assert gate.find_person(LIN).n_samples == before + 1  # type: ignore[union-attr]
    assert any(a.action == "person.enrol.forced" for a in gate.store.audit_log())
    click(qtbot, wizard.close_btn)
