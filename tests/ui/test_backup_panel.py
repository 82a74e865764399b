"""Settings > Backup, clicked: "Back up…" writes an encrypted backup off the GUI thread (dialogs
answered: the file, the passphrase twice); after Lin is erased, "Restore…" with a wrong passphrase
says so and changes nothing, and with the right one (confirmed) closes the database, restores it,
and Lin's erasure is re-applied from the erasure ledger (not recognised)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QScrollArea

from desktop_app.core.service import FaceGate
from desktop_app.core.video.imageio import read_image
from desktop_app.ui.backup_panel import PassphraseDialog

pytestmark = pytest.mark.slow  # three argon2id derivations at the real cost, two FaceGate starts

PIN = "713952"
LIN = "Lin-Manuel Miranda"
PHRASE = "a backup passphrase"


def answer_modals(qtbot: Any, answers: list[tuple[type, Callable[[Any], None]]]) -> list[str]:
    """Answer the next modal dialogs in order, each once one of the expected type is open; the list
    collects the message boxes' texts."""
    texts: list[str] = []
    queue = list(answers)
    seen: set[int] = set()

    def poll() -> None:
        if not queue:
            return
        dialog = QApplication.activeModalWidget()
        kind, act = queue[0]
        if isinstance(dialog, kind) and id(dialog) not in seen and dialog.isVisible():
            seen.add(id(dialog))
            queue.pop(0)
            if isinstance(dialog, QMessageBox):
                texts.append(dialog.text())
            act(dialog)
        QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)
    return texts


def pick(path: Path) -> Callable[[Any], None]:
    def act(d: QFileDialog) -> None:
        d.selectFile(str(path))
        d.accept()
    return act


def phrase(value: str) -> Callable[[Any], None]:
    def act(d: PassphraseDialog) -> None:
        d.phrase.setText(value)
        d.again.setText(value)
        d.buttons.accepted.emit()  # the OK button
    return act


def press(label: str) -> Callable[[Any], None]:
    def act(box: QMessageBox) -> None:
        next(b for b in box.buttons() if b.text().replace("&", "") == label).click()
    return act


def test_back_up_and_restore_by_clicks(qtbot: Any, open_admin_window: Any, clicks: Any, tmp_path: Path,
                                       clips: Path) -> None:
    db = tmp_path / "data" / "facegate.db"
    gate = FaceGate(db, device="cpu")
    assert gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"]).added
    win = open_admin_window(gate, PIN)
    clicks.nav(win, "settings")
    box = win.settings.backup_box
    restored: list[bool] = []
    box.on_restored = lambda: restored.append(True)
    out = tmp_path / "site.fgbak"

    answer_modals(qtbot, [(QFileDialog, pick(out)), (PassphraseDialog, phrase(PHRASE))])
    clicks.click(box.backup_btn)
    qtbot.waitUntil(lambda: "Backup written" in box.status.text(), timeout=60000)
    assert out.is_file() and b"\x89PNG" not in out.read_bytes()
    if os.environ.get("FACEGATE_SAVE_SCREENSHOTS"):  # the docs' picture, made on request only
        win.resize(1200, 800)
        scroll = win.settings.findChild(QScrollArea)
        assert scroll is not None
        scroll.ensureWidgetVisible(box)
        qtbot.wait(100)
        win.grab().save(str(Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "settings_backup.png"))

    lin = gate.find_person(LIN)
    assert lin is not None
    gate.erase_person(lin.id, actor="test")
    before = db.read_bytes()

    texts = answer_modals(qtbot, [(QFileDialog, pick(out)), (PassphraseDialog, phrase("wrong passphrase")),
                                  (QMessageBox, press("OK"))])
    clicks.click(box.restore_btn)
    qtbot.waitUntil(lambda: len(texts) == 1, timeout=60000)
    assert "does not open the backup" in texts[0] and db.read_bytes() == before and not restored

    texts = answer_modals(qtbot, [(QFileDialog, pick(out)), (PassphraseDialog, phrase(PHRASE)),
                                  (QMessageBox, press("Yes")), (QMessageBox, press("OK"))])
    clicks.click(box.restore_btn)
    qtbot.waitUntil(lambda: bool(restored), timeout=60000)
    assert "Replace the data" in texts[0] and "Restored from site.fgbak" in texts[1], texts
    win.close()
    with FaceGate(db, device="cpu") as again:  # restored, and Lin's erasure re-applied (the erasure ledger)
        assert again.people() == [] and len(again.gallery) == 0
        actions = [r[0] for r in again.store.db.execute("SELECT action FROM audit ORDER BY id")]
        assert "backup.restore" in actions and actions.index("erasure.reapply") > actions.index("backup.restore")
        assert not again.identify(read_image(clips / "lin-manuel-miranda.png"))[0].accepted
