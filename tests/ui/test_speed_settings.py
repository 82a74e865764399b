"""The settings page shows the test-time flip mode (also when the database stored the old bool), the
alignment views mode and the embedding reuse, and saving them through the page stores them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.config import AppConfig, DecisionSettings, RecognitionSettings, field_bounds
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.store import Store
from desktop_app.core.vocabulary import TtaMode

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
    assert page.flip.currentData() == TtaMode.NEAR_THRESHOLD  # the stored true (the old default)
    assert page.reuse_frames.value() == DecisionSettings().reuse_frames
    assert (page.reuse_frames.minimum(), page.reuse_frames.maximum()) == field_bounds(DecisionSettings, "reuse_frames")
    assert page.views.currentData() == TtaMode(RecognitionSettings().alignment_views)  # not stored: the default
    page.flip.setCurrentIndex(page.flip.findData(TtaMode.ALWAYS))
    page.views.setCurrentIndex(page.views.findData(TtaMode.NEAR_THRESHOLD))
    page.reuse_frames.setValue(6)
    qtbot.mouseClick(page.apply_btn, Qt.MouseButton.LeftButton)
    assert page.error.text() == "Saved."
    assert gate.config.recognition.flip_tta is TtaMode.ALWAYS and gate.config.decision.reuse_frames == 6
    stored = gate.store.get_setting("config")
    assert stored["recognition"]["flip_tta"] == "always"  # type: ignore[index]
    assert stored["recognition"]["alignment_views"] == "near-threshold"  # type: ignore[index]
    assert gate.config.recognition.alignment_views is TtaMode.NEAR_THRESHOLD
    assert stored["decision"]["reuse_frames"] == 6  # type: ignore[index]
    page.load()
    assert page.flip.currentData() == TtaMode.ALWAYS and page.reuse_frames.value() == 6
    assert page.views.currentData() == TtaMode.NEAR_THRESHOLD
    qtbot.waitUntil(lambda: page.calibration.text() not in ("…", "Computing…"), timeout=20000)  # its job ended
    win.close()
