"""Unlocking moved face data in the app (issue 12), clicked on a real window over a real SQLite
database: the data folder "moved" to another computer (another key folder) opens locked, the
window shows the banner, the Unlock dialog refuses a wrong password (the unlock runs in a pool
thread, the window stays responsive) and opens with the admin's password; the banner goes, the
gallery is loaded and the door recognises again by itself at the next start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QPainter

from desktop_app.core.protection.machine_keys import KEY_DIR_ENV
from desktop_app.core.service import FaceGate
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.unlock import UnlockDialog

ADMIN_PW = "correct horse battery"
LIN = "Lin-Manuel Miranda"

pytestmark = pytest.mark.slow  # loads the models and enrols one photo (about 10 s on a quiet machine)


def test_the_app_unlocks_moved_face_data(qtbot: Any, clicks: Any, clips: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "data" / "facegate.db"
    db.parent.mkdir(mode=0o700)
    with FaceGate(db, device="cpu") as gate:
        gate.setup_first_admin("alice", ADMIN_PW)
        assert gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"]).added
    monkeypatch.setenv(KEY_DIR_ENV, str(tmp_path / "new-machine-keys"))  # the folder moved: no machine key here

    gate = FaceGate(db, device="cpu", allow_locked=True)
    try:
        assert gate.data_locked is not None and len(gate.gallery) == 0
        win = MainWindow(gate, start_camera=False, realtime=False)
        qtbot.addWidget(win)
        win.show()
        banner = win.unlock_banner
        qtbot.waitUntil(banner.isVisible)
        errors: list[str] = []

        def answer(dialog: UnlockDialog) -> None:
            assert isinstance(dialog, UnlockDialog), dialog
            dialog.password.setText("not the password at all")
            clicks.click(dialog.ok_button)
            qtbot.waitUntil(lambda: dialog.ok_button.isEnabled(), timeout=30_000)
            errors.append(dialog.error.text())
            assert dialog.isVisible()
            dialog.password.setText(ADMIN_PW)
            clicks.click(dialog.ok_button)
            assert not dialog.ok_button.isEnabled(), "the unlock runs off the GUI thread"
            shot = win.grab()
            painter = QPainter(shot)
            part = dialog.grab()
            painter.drawPixmap((shot.width() - part.width()) // 2, (shot.height() - part.height()) // 3, part)
            painter.end()
            shot.save(str(tmp_path / "unlock.png"))
            if os.environ.get("FACEGATE_SAVE_SCREENSHOTS"):
                shot.save(str(Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "unlock.png"))

        seen = clicks.on_next_modal(answer)
        clicks.click(banner.button)
        assert seen, "the Unlock dialog opened"
        assert errors and "does not unlock" in errors[0], errors
        assert not banner.isVisible(), "the banner goes once unlocked"
        assert gate.data_locked is None and gate.gallery_stats().persons == 1
        assert "unlocked" in win.statusBar().currentMessage()
        win.close()
    finally:
        gate.close()
    with FaceGate(db, device="cpu") as again:  # this computer's new machine key opens it at the next start
        assert again.data_locked is None and again.gallery_stats().persons == 1
