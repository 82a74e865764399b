"""The settings page shows the camera stream URL with its password masked; saving the page keeps
the stored password (sealed: neither the database nor its WAL holds it, nor the audit row)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.config import AppConfig
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.store import Store

PIN = "246913"
PASSWORD = "Rtsp-Pw-3k9Q"
URL = f"rtsp://admin:{PASSWORD}@cam.example:554/live"


@pytest.fixture()
def rtsp_gate(tmp_path: Path) -> Iterator[FaceGate]:
    db = tmp_path / "facegate.db"
    cfg = AppConfig().model_dump(mode="json")
    cfg["camera"]["source"] = URL
    with Store(db) as store:
        store.set_setting("config", cfg)
    gate = FaceGate(db, device="cpu")
    yield gate
    gate.close()


@pytest.mark.slow
def test_the_stream_password_is_masked_and_kept(qtbot: Any, open_admin_window: Any, rtsp_gate: FaceGate) -> None:
    gate = rtsp_gate
    win = open_admin_window(gate, PIN)
    qtbot.mouseClick(win.toolbar.widgetForAction(win.nav_actions["settings"]), Qt.MouseButton.LeftButton)
    page = win.settings
    assert page.url_edit.text() == "rtsp://admin:***@cam.example:554/live"
    qtbot.mouseClick(page.apply_btn, Qt.MouseButton.LeftButton)
    assert page.error.text() == "Saved."
    assert gate.config.camera.source == URL and gate.store.get_setting("config")["camera"]["source"] == URL  # type: ignore[index]
    assert all(PASSWORD not in str(r.details) for r in gate.query_audit())
    raw = b"".join(p.read_bytes() for p in (gate.db_path, Path(f"{gate.db_path}-wal")) if p.exists())
    assert PASSWORD.encode() not in raw
    qtbot.waitUntil(lambda: page.calibration.text() not in ("…", "Computing…"), timeout=20000)
    win.close()
