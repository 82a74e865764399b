"""Who is at the keyboard of the app: the account logged in, or, on a database without accounts,
the legacy admin PIN lock (:class:`~desktop_app.ui.pin.AdminLock`). No Qt here; the dialogs are in
``login_dialog`` and ``pin_dialogs``.

Databases without accounts keep the PIN (backwards compatible): the PIN opens everything, as
before. Creating the first account (the Accounts page, or ``facegate account add``) retires the
PIN for good; from then on the app asks for an account name and password, and each button
checks the account's role (``core.accounts.roles``). The session ends on ``lock()`` (log out) or
after ``idle_timeout_s`` seconds without ``touch()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from desktop_app.core.accounts import Account, Action, Role
from desktop_app.core.service import FaceGate

from .pin import AdminLock


class Session:
    """The PIN lock and the account session of one window. gate: the core; clock: seconds
    (monotonic) of the idle time-out, injectable for tests."""

    def __init__(self, gate: FaceGate, idle_timeout_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.gate = gate
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock
        self.pin = AdminLock(gate, idle_timeout_s, clock)
        self.account: Account | None = None
        self._last_activity = 0.0

    # ------------------------------------------------------------------ the PIN lock's interface
    @property
    def has_pin(self) -> bool:
        """True while a legacy PIN is set (databases without accounts)."""
        return self.pin.has_pin

    @property
    def unlocked(self) -> bool:
        """True while an account is logged in (not idle too long), or the PIN lock is open."""
        if self.account is not None:
            if self.clock() - self._last_activity > self.idle_timeout_s:
                self.account = None
                return False
            return True
        return self.pin.unlocked

    def touch(self) -> None:
        """Record activity (keeps the session open)."""
        self.pin.touch()
        if self.account is not None:
            self._last_activity = self.clock()

    def lock(self) -> None:
        """Log out and close the PIN lock."""
        self.pin.lock()
        self.account = None

    def retry_in(self) -> float:
        return self.pin.retry_in()

    def unlock(self, pin: str) -> bool:
        return self.pin.unlock(pin)

    def set_pin(self, new_pin: str, current_pin: str | None = None) -> None:
        self.pin.set_pin(new_pin, current_pin)

    # ------------------------------------------------------------------ accounts
    def login(self, name: str, password: str) -> Account:
        """Log ``name`` in (NotAuthorisedError with the reason when refused: see ``FaceGate.login``)."""
        account = self.gate.login(name, password)
        self.pin.lock()
        self.account = account
        self._last_activity = self.clock()
        return account

    def login_retry_in(self, name: str) -> float:
        return self.gate.login_retry_in(name)

    @property
    def role(self) -> Role | None:
        """The role at the keyboard: the account's; an open PIN lock counts as admin; None when locked."""
        if self.unlocked:
            return self.account.role if self.account is not None else Role.ADMIN
        return None

    @property
    def actor(self) -> str:
        """The name written to the audit log: the account's, or "admin" (the PIN)."""
        return self.account.name if self.account is not None else "admin"

    def allows(self, action: Action | None) -> bool:
        """True when the session may do ``action`` (None: anything an admin may). The account is
        read again, so that a role change or a disabled account takes effect at once."""
        if not self.unlocked:
            return False
        if self.account is None:
            return True  # the PIN opens everything, as before accounts
        fresh = self.gate.account(self.account.name)
        if fresh is None or not fresh.can_log_in:
            self.lock()
            return False
        self.account = fresh
        return fresh.role == Role.ADMIN if action is None else fresh.may(action)
