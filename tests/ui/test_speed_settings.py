"""The settings page shows the test-time flip mode (also when the database stored the old bool) and
the embedding reuse, and saving them through the page stores them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.config import AppConfig, DecisionSettings, field_bounds
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.store import Store
from desktop_app.core.vocabulary import FlipMode

PIN = "246913"


@pytest.fixture()
def old_bool_gate(tmp_path: Path) -> Iterator[FaceGate]:
    """A database whose stored settings say ``flip_tta: true`` (written before the three modes)."""
    db = tmp_path / "facegate.db"
    cfg = AppConfig().model_dump(mode="json")
    cfg["recognition"]["flip_tta"] = True
    del cfg["decision"]["reuse_frames"]
    with Store(db) as store:
        store.set_setting("config", cfg)
    gate = FaceGate(db, device="cpu")
    yield gate
    gate.close()


def test_the_flip_mode_and_reuse_are_shown_and_saved(qtbot: Any, open_admin_window: Any,
                                                     old_bool_gate: FaceGate) -> None:
    gate = old_bool_gate
    win = open_admin_window(gate, PIN)
    qtbot.mouseClick(win.toolbar.widgetForAction(win.nav_actions["settings"]), Qt.MouseButton.LeftButton)
    page = win.settings
    assert page.flip.currentData() == FlipMode.NEAR_THRESHOLD  # the stored true (the old default)
    assert page.reuse_frames.value() == DecisionSettings().reuse_frames
    assert (page.reuse_frames.minimum(), page.reuse_frames.maximum()) == field_bounds(DecisionSettings, "reuse_frames")
    page.flip.setCurrentIndex(page.flip.findData(FlipMode.ALWAYS))
    page.reuse_frames.setValue(6)
    qtbot.mouseClick(page.apply_btn, Qt.MouseButton.LeftButton)
    assert page.error.text() == "Saved."
    assert gate.config.recognition.flip_tta is FlipMode.ALWAYS and gate.config.decision.reuse_frames == 6
    stored = gate.store.get_setting("config")
    assert stored["recognition"]["flip_tta"] == "always"  # type: ignore[index]
    assert stored["decision"]["reuse_frames"] == 6  # type: ignore[index]
    page.load()
    assert page.flip.currentData() == FlipMode.ALWAYS and page.reuse_frames.value() == 6
    qtbot.waitUntil(lambda: page.calibration.text() not in ("…", "Computing…"), timeout=20000)  # its job ended
    win.close()
