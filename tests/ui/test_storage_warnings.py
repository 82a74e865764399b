"""What opening the database found (issue 9, item 8) reaches the app's status bar, not only the log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop_app.core.service import FaceGate
from desktop_app.ui.main_window import MainWindow


def test_an_empty_database_file_is_reported_in_the_status_bar(qtbot: Any, tmp_path: Path) -> None:
    db = tmp_path / "facegate.db"
    db.write_bytes(b"")  # a 0-byte file: opened as a new database, which the app must say
    gate = FaceGate(db, device="cpu")
    try:
        win = MainWindow(gate, start_camera=False)
        qtbot.addWidget(win)
        win.show()
        assert win.storage_label.isVisible()
        assert "1 warning" in win.storage_label.text()
        assert "0 bytes" in win.storage_label.toolTip() and "facegate doctor" in win.storage_label.toolTip()
        win.close()
    finally:
        gate.close()


def test_a_healthy_database_shows_no_warning(qtbot: Any, tmp_path: Path) -> None:
    gate = FaceGate(tmp_path / "facegate.db", device="cpu")
    try:
        win = MainWindow(gate, start_camera=False)
        qtbot.addWidget(win)
        win.show()
        assert not win.storage_label.isVisible()
        win.close()
    finally:
        gate.close()
