"""The admin PIN: scrypt-hashed with a random salt in the real store, wrong PIN refused, right one opens,
through the real dialogs too. The rules (hash, back-off, audit) are the core's ``AdminPin``; the GUI's
``AdminLock`` only adds the unlocked state and the idle time-out."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from desktop_app.core.admin.lock import AdminPin
from desktop_app.core.storage.store import Store
from desktop_app.ui.pin import SETTING_KEY, AdminLock, check_pin_format, hash_pin, verify_pin
from desktop_app.ui.pin_dialogs import PinDialog, SetPinDialog


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "facegate.db")
    yield s
    s.close()


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_hash_is_scrypt_with_random_salt_and_never_the_pin() -> None:
    a, b = hash_pin("2580"), hash_pin("2580")
    assert a["kdf"] == "scrypt" and a["salt"] != b["salt"] and a["hash"] != b["hash"]
    # recompute with the standard library: the record is plain scrypt of the PIN with its salt
    expected = hashlib.scrypt(b"2580", salt=bytes.fromhex(str(a["salt"])), n=int(a["n"]), r=int(a["r"]),  # type: ignore[call-overload]
                              p=int(a["p"]), dklen=32)
    assert expected.hex() == a["hash"]
    # the PIN is in no field (a field's random hex may contain the digits 2580 by chance: not a leak)
    assert set(a) == {"kdf", "salt", "hash", "n", "r", "p"}
    assert "2580" not in {str(v) for v in a.values()} and b"2580".hex() not in str(a)
    assert verify_pin(a, "2580") and verify_pin(b, "2580")
    assert not verify_pin(a, "2581") and not verify_pin(a, "") and not verify_pin(None, "2580")
    assert not verify_pin({"kdf": "md5", "hash": "x"}, "2580")


@pytest.mark.parametrize("pin, ok", [("1234", True), ("123", False), ("12a4", False), ("１２３４", False),
                                     ("9" * 32, True), ("9" * 33, False)])
def test_pin_format(pin: str, ok: bool) -> None:
    assert (check_pin_format(pin) is None) is ok


def test_lock_stores_hash_refuses_wrong_opens_right_and_relocks(store: Store) -> None:
    clock = FakeClock()
    lock = AdminLock(AdminPin(store, clock=clock), idle_timeout_s=60, clock=clock)
    assert not lock.has_pin and not lock.unlocked
    lock.set_pin("731904")
    raw = store.get_setting(SETTING_KEY)
    assert isinstance(raw, dict) and "731904" not in str(raw) and raw["kdf"] == "scrypt"
    lock.lock()
    assert not lock.unlock("731905") and not lock.unlocked
    assert lock.unlock("731904") and lock.unlocked
    clock.t += 61  # idle too long
    assert not lock.unlocked
    # changing the PIN needs the current one
    with pytest.raises(ValueError):
        lock.set_pin("1111", current_pin="0000")
    lock.set_pin("118305", current_pin="731904")
    lock.lock()
    assert not lock.unlock("731904") and lock.unlock("118305")
    # a new lock on the same database (next start) knows the PIN
    again = AdminLock(AdminPin(store, clock=clock), clock=clock)
    assert again.has_pin and again.unlock("118305")


def test_repeated_wrong_pins_slow_down(store: Store) -> None:
    clock = FakeClock()
    lock = AdminLock(AdminPin(store, clock=clock), clock=clock)
    lock.set_pin("440918")
    lock.lock()
    for _ in range(3):
        assert not lock.unlock("0000")
    assert lock.retry_in() > 0
    assert not lock.unlock("440918"), "even the right PIN waits out the delay"
    clock.t += lock.retry_in() + 0.01
    assert lock.unlock("440918")
    refused = [a for a in store.audit_log(50) if a.action == "admin.pin_refused"]
    assert len(refused) == 3
    actions = [a.action for a in store.audit_log(50)]
    assert actions.count("admin.pin_accepted") == 1 and actions.count("admin.pin_set") == 1


def test_back_off_lives_in_the_core_not_in_the_window(store: Store) -> None:
    """A new lock (another window on the same gate) cannot reset the delay after wrong PINs."""
    clock = FakeClock()
    pin = AdminPin(store, clock=clock)
    AdminLock(pin, clock=clock).set_pin("246817")
    first = AdminLock(pin, clock=clock)
    for _ in range(4):
        assert not first.unlock("1357")
    second = AdminLock(pin, clock=clock)
    assert second.retry_in() > 0 and not second.unlock("246817") and not second.unlocked
    clock.t += second.retry_in() + 0.01
    assert second.unlock("246817")


def test_a_refused_pin_change_changes_nothing(store: Store) -> None:
    pin = AdminPin(store)
    pin.set_admin_pin("808172")
    before = store.get_setting(SETTING_KEY)
    with pytest.raises(ValueError, match="current PIN"):
        pin.set_admin_pin("909183", "0000")
    with pytest.raises(ValueError, match="digits"):
        pin.set_admin_pin("90a0", "808172")
    assert store.get_setting(SETTING_KEY) == before and pin.verify_admin_pin("808172")


def test_dialogs(qtbot: object, store: Store) -> None:
    lock = AdminLock(AdminPin(store))
    first = SetPinDialog(lock)
    qtbot.addWidget(first)  # type: ignore[attr-defined]
    assert first.first
    first.new.setText("583016")
    first.confirm.setText("583017")
    assert not first.try_set() and "differ" in first.error.text()
    first.new.setText("55")
    first.confirm.setText("55")
    assert not first.try_set() and "at least" in first.error.text()
    first.new.setText("583016")
    first.confirm.setText("583016")
    assert first.try_set() and lock.has_pin
    assert first.result() == SetPinDialog.DialogCode.Accepted
    lock.lock()

    dialog = PinDialog(lock, "open People")
    qtbot.addWidget(dialog)  # type: ignore[attr-defined]
    dialog.show()
    dialog.pin.setText("1234")
    assert not dialog.try_unlock()
    assert dialog.isVisible() and not lock.unlocked and dialog.pin.text() == ""
    dialog.pin.setText("583016")
    assert dialog.try_unlock()
    assert lock.unlocked and dialog.result() == PinDialog.DialogCode.Accepted
