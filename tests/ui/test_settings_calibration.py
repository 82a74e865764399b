"""The settings page states which rule chose the threshold, in words, after a real calibration on
LFW people enrolled from one photo each: the safe side, what it waits for, and never "nan"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.service import FaceGate

PIN = "713952"
ONE_PHOTO = ("Colin_Powell", "George_W_Bush", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder", "Ariel_Sharon")


@pytest.fixture(scope="module")
def one_photo_gate(tmp_path_factory: pytest.TempPathFactory, lfw: Path) -> Iterator[FaceGate]:
    gate = FaceGate(tmp_path_factory.mktemp("settings-calibration") / "facegate.db", device="cpu")
    for name in ONE_PHOTO:
        gate.enrol_images(name.replace("_", " "), [lfw / name / f"{name}_0001.jpg"])
    yield gate
    gate.close()


def calibration_text_is_final(text: str) -> bool:
    return text.startswith("Threshold")


def test_the_settings_page_says_safe_side_in_words(qtbot: Any, open_admin_window: Any,
                                                   one_photo_gate: FaceGate) -> None:
    gate = one_photo_gate
    win = open_admin_window(gate, PIN)
    qtbot.mouseClick(win.toolbar.widgetForAction(win.nav_actions["settings"]), Qt.MouseButton.LeftButton)
    page = win.settings
    qtbot.waitUntil(lambda: calibration_text_is_final(page.calibration.text()), timeout=30000)
    text = page.calibration.text()
    cal = gate.current_calibration()
    assert cal is not None and cal.findings is not None and cal.n_genuine == 0  # one photo each: no FNIR
    assert "nan" not in text.lower()
    assert f"Threshold {gate.threshold:.2f} (safe side)" in text
    assert "not enough site data to confirm 1 in 1,000 strangers let in" in text
    assert f"the model prior {cal.findings.prior_threshold:.2f} + 0.05" in text
    more = 1000 - cal.findings.counts.searches
    assert f"until about {more:,} more strangers are seen at the door" in text
    assert "enrolled people missed: not measurable (one photo per person)" in text

    assert win.lock.unlocked
    qtbot.mouseClick(page.recalibrate_btn, Qt.MouseButton.LeftButton)
    assert page.calibration.text() == "Calibrating…"
    qtbot.waitUntil(lambda: calibration_text_is_final(page.calibration.text()), timeout=30000)
    assert page.calibration.text() == text, "the same data gives the same words"
    win.close()
