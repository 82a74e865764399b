"""The admin lock of the GUI: whether the admin screens are open, on top of the core's PIN rules.

Hashing, verification, the back-off after wrong PINs and their audit live in the core
(:mod:`desktop_app.core.admin.lock`, reached through ``FaceGate``); this module keeps only the
session state (unlocked, idle time-out). No Qt here; the dialogs are in ``pin_dialogs``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from desktop_app.core.admin.lock import (
    MAX_LENGTH,
    MIN_LENGTH,
    SETTING_KEY,
    AdminPinAccess,
    check_pin_format,
    hash_pin,
    verify_pin,
)

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "SETTING_KEY", "AdminLock", "AdminPinAccess", "check_pin_format",
           "hash_pin", "verify_pin"]


@dataclass
class AdminLock:
    """Whether the admin screens are open. Unlocks with the PIN; locks again on ``lock()`` or after
    ``idle_timeout_s`` seconds without ``touch()``; wrong PINs in a row slow further tries down (the core).

    gate: the PIN use-cases (``FaceGate``); clock: seconds (monotonic) of the idle time-out,
    injectable for tests.
    """

    gate: AdminPinAccess
    idle_timeout_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _unlocked_at: float | None = None
    _last_activity: float = 0.0

    @property
    def has_pin(self) -> bool:
        """True once a PIN was set (first run: False)."""
        return self.gate.has_admin_pin()

    @property
    def unlocked(self) -> bool:
        if self._unlocked_at is None:
            return False
        if self.clock() - self._last_activity > self.idle_timeout_s:
            self._unlocked_at = None
            return False
        return True

    def touch(self) -> None:
        """Record admin activity (keeps the lock open)."""
        if self._unlocked_at is not None:
            self._last_activity = self.clock()

    def lock(self) -> None:
        self._unlocked_at = None

    def retry_in(self) -> float:
        """Seconds to wait before the next try is accepted (0 when none)."""
        return self.gate.admin_pin_retry_in()

    def unlock(self, pin: str) -> bool:
        """Open the admin screens when ``pin`` is right; False (and a growing delay) when wrong."""
        if self.gate.verify_admin_pin(pin):
            self._unlocked_at = self._last_activity = self.clock()
            return True
        return False

    def set_pin(self, new_pin: str, current_pin: str | None = None) -> None:
        """Set the PIN (first run), or change it (``current_pin`` required then). ValueError when refused."""
        self.gate.set_admin_pin(new_pin, current_pin)
        self._unlocked_at = self._last_activity = self.clock()
