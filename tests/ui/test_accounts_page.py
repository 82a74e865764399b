"""Named accounts in the app (issue 12), clicked on a real window over a real SQLite database: the
first run creates the admin account and shows its recovery code once; the login refuses a wrong
password and opens with the right one; each role sees and does only what the matrix allows (a viewer
sees events but cannot export, an operator opens a door); the Accounts page adds, changes, disables,
resets and removes accounts; a lock-out survives a new FaceGate; altered accounts fail closed; a
database with the legacy PIN keeps it until its first account. No face data needed."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from desktop_app.core.access.model import CameraSpec, DoorSpec
from desktop_app.core.accounts import AccountsMode, Role
from desktop_app.core.accounts.lockout import LOCK_AFTER
from desktop_app.core.service import FaceGate
from desktop_app.ui.login_dialog import FirstAdminDialog, LoginDialog, PasswordDialog
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.pin_dialogs import PinDialog

ADMIN_PW = "correct horse battery"
OPERATOR_PW = "Tr0ub4dor&3x-gate"
VIEWER_PW = "vX9#mQ2!pLk"


def modals(*steps: tuple[type, Callable[[Any], None]], tries: int = 500) -> list[QWidget]:
    """Answer the next modal dialogs in order: each step waits for a modal of its type, then acts."""
    seen: list[QWidget] = []

    def poll(left: int = tries) -> None:
        if len(seen) == len(steps):
            return
        kind, act = steps[len(seen)]
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, kind) and all(dialog is not s for s in seen):
            seen.append(dialog)
            act(dialog)
        if left > 0:
            QTimer.singleShot(20, lambda: poll(left - 1))

    QTimer.singleShot(0, poll)
    return seen


def ok_button(dialog: Any) -> Any:
    return dialog.buttons.button(dialog.buttons.StandardButton.Ok)


def log_in(clicks: Any, name: str, *passwords: str) -> Callable[[LoginDialog], None]:
    """Type ``name`` and each password in turn, clicking Log in (the dialog stays open on a refusal)."""

    def answer(dialog: LoginDialog) -> None:
        answer.errors = []  # type: ignore[attr-defined]
        dialog.name.setText(name)
        for pw in passwords:
            dialog.password.setText(pw)
            clicks.click(ok_button(dialog))
            if dialog.isVisible():
                answer.errors.append(dialog.error.text())  # type: ignore[attr-defined]
        if dialog.isVisible():
            clicks.click(dialog.buttons.button(dialog.buttons.StandardButton.Cancel))

    answer.errors = []  # type: ignore[attr-defined]
    return answer


@pytest.fixture()
def site(tmp_path: Path) -> Iterator[FaceGate]:
    """A database with an admin (alice), an operator (olga), a viewer (vic) and one door."""
    gate = FaceGate(tmp_path / "facegate.db", device="cpu")
    gate.setup_first_admin("alice", ADMIN_PW)
    alice = gate.login("alice", ADMIN_PW)
    gate.add_account(alice, "olga", Role.OPERATOR, OPERATOR_PW)
    gate.add_account(alice, "vic", Role.VIEWER, VIEWER_PW)
    gate.save_door(DoorSpec("front", cameras=(CameraSpec("0"),)), actor="alice")
    yield gate
    gate.close()


@pytest.fixture()
def window(qtbot: Any) -> Iterator[Callable[..., MainWindow]]:
    """``open(gate, own=False)``: a shown window on ``gate``; closed after the test (and ``gate`` too
    when ``own``, after its window: the window's jobs may still read it)."""
    opened: list[MainWindow] = []
    owned: list[FaceGate] = []

    def open_window(gate: FaceGate, own: bool = False) -> MainWindow:
        win = MainWindow(gate, start_camera=False, realtime=False)
        qtbot.addWidget(win)
        win.show()
        opened.append(win)
        if own:
            owned.append(gate)
        return win

    yield open_window
    for win in opened:
        win.close()
    for gate in owned:
        gate.close()


def test_first_run_creates_the_admin_account_and_shows_the_code_once(clicks: Any, window: Any,
                                                                     tmp_path: Path) -> None:
    gate = FaceGate(tmp_path / "facegate.db", device="cpu")
    win = window(gate, own=True)
    shown: dict[str, str] = {}

    def create(dialog: FirstAdminDialog) -> None:
        dialog.name.setText("alice")
        dialog.passwords.new.setText("alice-2024")
        dialog.passwords.confirm.setText("alice-2024")
        clicks.click(ok_button(dialog))
        shown["weak"] = dialog.error.text()
        dialog.passwords.new.setText(ADMIN_PW)
        dialog.passwords.confirm.setText(ADMIN_PW)
        clicks.click(ok_button(dialog))
        shown["code"] = dialog.code_label.text()
        assert dialog.isVisible() and dialog.code is not None, "the code is shown before the dialog closes"
        clicks.click(ok_button(dialog))  # "I have written it down"

    seen = modals((FirstAdminDialog, create))
    clicks.nav(win, "people")
    assert seen and win.current_page == "people"
    assert "name" in shown["weak"]
    code = shown["code"].split("Recovery code: ")[1][:29]
    assert gate.accounts_state().mode == AccountsMode.ACTIVE
    assert win.lock.account is not None and win.lock.account.name == "alice"
    assert win.lock_action.text() == "alice (admin)\nclick to log out"
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("facegate.db*"))
    assert code.encode() not in raw and ADMIN_PW.encode() not in raw


def test_login_wrong_then_right_and_a_viewer_cannot_export(clicks: Any, window: Any, site: FaceGate,
                                                           tmp_path: Path) -> None:
    win = window(site)
    answer = log_in(clicks, "vic", "not my password", VIEWER_PW)
    seen = modals((LoginDialog, answer))
    clicks.nav(win, "events")
    assert seen and win.current_page == "events"
    assert answer.errors == ["Wrong account name or password."]  # type: ignore[attr-defined]
    assert win.lock_action.text() == "vic (viewer)\nclick to log out"
    for page in ("people", "settings", "models", "audit", "accounts"):
        assert not win.nav_actions[page].isEnabled(), page  # not for a viewer
    assert win.nav_actions["attendance"].isEnabled() and win.nav_actions["doors"].isEnabled()
    told = modals((QMessageBox, clicks.press("OK", "may not export events")))
    clicks.click(win.events.export_btn)  # refused before any file is asked for
    assert told
    target = tmp_path / "events.csv"
    told = modals((QMessageBox, clicks.press("OK", "may not export events")))
    assert win.events.export_csv(target) is None and told and not target.exists()  # with the file given, too
    rows = [(r.actor, r.action) for r in site.query_audit()]
    assert ("vic", "account.login") in rows and ("vic", "account.login_failed") in rows
    assert not any(a == "events.export" for _, a in rows)
    clicks.click(win.toolbar.widgetForAction(win.lock_action))  # log out
    assert win.current_page == "door" and win.lock.account is None and win.lock_action.text() == "Locked"


def test_an_operator_opens_a_door_but_may_not_change_it(clicks: Any, window: Any, site: FaceGate) -> None:
    win = window(site)
    seen = modals((LoginDialog, log_in(clicks, "olga", OPERATOR_PW)))
    clicks.nav(win, "doors")
    assert seen and win.current_page == "doors"
    win.doors.select_door("front")
    told = modals((QMessageBox, clicks.press("OK", "may not remove a door")))
    clicks.click(win.doors.remove_btn)
    assert told and site.door("front") is not None
    asked = modals((QMessageBox, clicks.press("Open", "front")))
    clicks.click(win.doors.open_btn)
    assert asked
    rows = [(r.actor, r.action) for r in site.query_audit()]
    assert ("olga", "door.open") in rows and ("olga", "door.remove") not in rows


def test_an_operator_sees_people_but_may_not_enrol_erase_or_export_them(clicks: Any, window: Any, site: FaceGate,
                                                                        clips: Path) -> None:
    """The People page for an operator: the enrolled person is shown, but enrolling, erasing and
    exporting their data are each refused with a message (the admin's, as in the CLI)."""
    lin = site.enrol_images("Lin-Manuel Miranda", [clips / "lin-manuel-miranda.png"]).person_id
    win = window(site)
    seen = modals((LoginDialog, log_in(clicks, "olga", OPERATOR_PW)))
    clicks.nav(win, "people")
    assert seen and win.current_page == "people"
    page = win.people
    assert page.select_person(lin) and page.person is not None and page.person.name == "Lin-Manuel Miranda"
    for button, words in ((page.new_btn, "may not enrol people"), (page.erase_btn, "may not erase people"),
                          (page.export_btn, "may not export a person's data")):
        told = modals((QMessageBox, clicks.press("OK", words)))
        clicks.click(button)
        assert told, words
    assert win.wizard is None or not win.wizard.isVisible()
    assert [p.id for p in site.people()] == [lin]
    rows = [(r.actor, r.action) for r in site.query_audit()]
    assert not any(actor == "olga" and action.startswith(("person.", "enrol", "subject")) for actor, action in rows)


def test_the_accounts_page_manages_accounts(clicks: Any, window: Any, site: FaceGate) -> None:
    win = window(site)
    seen = modals((LoginDialog, log_in(clicks, "alice", ADMIN_PW)))
    clicks.nav(win, "accounts")
    assert seen and win.current_page == "accounts"
    page = win.accounts
    assert [a.name for a in page.accounts] == ["alice", "olga", "vic"]

    def add(dialog: PasswordDialog) -> None:
        dialog.name.setText("dora")
        dialog.role.setCurrentIndex(dialog.role.findData(Role.OPERATOR))
        dialog.passwords.new.setText("grape-lantern-47")
        dialog.passwords.confirm.setText("grape-lantern-47")
        clicks.click(ok_button(dialog))

    assert modals((PasswordDialog, add)) is not None
    clicks.click(page.add_btn)
    dora = site.account("dora")
    assert dora is not None and dora.role == Role.OPERATOR and "dora" in page.status.text()
    page.select("dora")
    page.role_box.setCurrentIndex(page.role_box.findData(Role.VIEWER))
    clicks.click(page.role_btn)
    clicks.click(page.disable_btn)
    dora = site.account("dora")
    assert dora is not None and dora.role == Role.VIEWER and dora.disabled

    def reset(dialog: PasswordDialog) -> None:
        dialog.passwords.new.setText("new-copper-lantern")
        dialog.passwords.confirm.setText("new-copper-lantern")
        clicks.click(ok_button(dialog))

    page.select("vic")
    modals((PasswordDialog, reset))
    clicks.click(page.reset_btn)
    assert site.login("vic", "new-copper-lantern").name == "vic"
    page.select("alice")
    modals((QMessageBox, clicks.press("Yes", "alice")))
    clicks.click(page.remove_btn)
    assert "last enabled admin" in page.status.text() and site.account("alice") is not None
    page.select("dora")
    modals((QMessageBox, clicks.press("Yes", "dora")))
    clicks.click(page.remove_btn)
    assert site.account("dora") is None and site.accounts_state().mode == AccountsMode.ACTIVE
    actors = {r.actor for r in site.query_audit() if r.action.startswith("account.") and r.action != "account.login"}
    assert actors == {"alice"}


@pytest.mark.slow
def test_a_lockout_survives_a_new_facegate(clicks: Any, window: Any, site: FaceGate) -> None:
    db = site.db_path
    with sqlite3.connect(db) as conn:  # nine wrong passwords long ago (their waits would take minutes here)
        conn.execute("UPDATE accounts SET failures = ?, last_failed_at = ? WHERE name = 'vic'",
                     (LOCK_AFTER - 1, time.time() - 3600))
    win = window(site)
    answer = log_in(clicks, "vic", "wrong again")
    modals((LoginDialog, answer))
    clicks.nav(win, "events")
    assert win.current_page == "door" and "locked for 15 minutes" in answer.errors[0]  # type: ignore[attr-defined]
    win2 = window(FaceGate(db, device="cpu"), own=True)  # the app started again (a new FaceGate)
    answer = log_in(clicks, "vic", VIEWER_PW)
    modals((LoginDialog, answer))
    clicks.nav(win2, "events")
    assert win2.current_page == "door"
    assert "is locked" in answer.errors[0], answer.errors  # type: ignore[attr-defined]


def test_altered_accounts_fail_closed(clicks: Any, window: Any, site: FaceGate) -> None:
    with sqlite3.connect(site.db_path) as conn:
        conn.execute("DELETE FROM accounts")
    win = window(site)
    texts: list[str] = []

    def read_and_close(box: QMessageBox) -> None:
        texts.append(box.text())
        clicks.press("OK")(box)

    told = modals((QMessageBox, read_and_close))
    clicks.nav(win, "events")
    assert told and win.current_page == "door"
    assert "changed outside FaceGate" in texts[0] and "facegate account recover" in texts[0]


def test_a_pin_database_keeps_its_pin_until_the_first_account(clicks: Any, window: Any, tmp_path: Path) -> None:
    gate = FaceGate(tmp_path / "facegate.db", device="cpu")
    gate.set_admin_pin("731904")
    win = window(gate, own=True)

    def pin(dialog: PinDialog) -> None:
        dialog.pin.setText("731904")
        clicks.click(dialog.buttons.button(dialog.buttons.StandardButton.Ok))

    def create(dialog: FirstAdminDialog) -> None:
        dialog.name.setText("alice")
        dialog.passwords.new.setText(ADMIN_PW)
        dialog.passwords.confirm.setText(ADMIN_PW)
        clicks.click(ok_button(dialog))
        clicks.click(ok_button(dialog))

    modals((PinDialog, pin))
    clicks.nav(win, "accounts")
    assert win.current_page == "accounts" and win.accounts.first_btn.isVisible()
    modals((FirstAdminDialog, create))
    clicks.click(win.accounts.first_btn)
    assert not gate.has_admin_pin() and gate.accounts_state().mode == AccountsMode.ACTIVE
    assert win.lock.account is not None and win.lock.account.name == "alice"
    assert [a.name for a in win.accounts.accounts] == ["alice"] and not win.accounts.first_btn.isVisible()
    assert not gate.verify_admin_pin("731904")
    with pytest.raises(ValueError, match="retired"):
        gate.set_admin_pin("902817")
