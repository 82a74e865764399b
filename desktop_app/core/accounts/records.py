"""Data that crosses the accounts' boundary: an account as the app sees it (never its hash), the
state of a database's accounts, and the notice a password change gives the encryption."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum, unique

from desktop_app.core.accounts.roles import Action, Role, allows
from desktop_app.core.errors import FaceGateError


@dataclass(frozen=True)
class Account:
    """One named account. ``can_log_in`` is False while it is disabled or has no password (one
    that was found altered and must be reset)."""

    name: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None = None
    has_password: bool = True

    @property
    def can_log_in(self) -> bool:
        return self.has_password and not self.disabled

    def may(self, action: Action) -> bool:
        """True when this account's role allows ``action`` (and the account is usable)."""
        return self.can_log_in and allows(self.role, action)


@unique
class AccountsMode(StrEnum):
    """Where a database stands with accounts."""

    OPEN = "open"
    """No account was ever created: FaceGate works as before accounts (legacy admin PIN in the app)."""
    ACTIVE = "active"
    """Accounts exist and agree with the audit log: credentials are asked for."""
    TAMPERED = "tampered"
    """The accounts table disagrees with the audit log (rows deleted, added or changed outside
    FaceGate): fail closed, every protected action is refused until recovery."""


@dataclass(frozen=True)
class AccountsState:
    """``mode`` and, when tampered, the ``problems`` found (one line each)."""

    mode: AccountsMode
    problems: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        if self.mode != AccountsMode.TAMPERED:
            return f"accounts: {self.mode.value}"
        return ("The accounts were changed outside FaceGate (" + "; ".join(self.problems[:3])
                + (f"; {len(self.problems) - 3} more" if len(self.problems) > 3 else "")
                + "), so every protected action is refused. An administrator restores them with the "
                  "recovery code: facegate account recover --db DB")


@dataclass(frozen=True)
class PasswordChange:
    """Given to the password hook (:class:`~desktop_app.core.accounts.book.AccountBook`) when an
    admin account's password is set or changed: ``old`` is None on first set-up, on an admin's reset
    of another account's password and on recovery (nobody typed the old one)."""

    account: str
    old: str | None
    new: str
    actor: str
    reason: str  # "setup" | "change" | "reset" | "recovery"


@unique
class Refusal(StrEnum):
    """Why credentials were refused (``NotAuthorisedError.reason``)."""

    NO_CREDENTIALS = "no-credentials"
    WRONG = "wrong"
    WAIT = "wait"
    LOCKED = "locked"
    DISABLED = "disabled"
    ROLE = "role"
    TAMPERED = "tampered"


class NotAuthorisedError(FaceGateError):
    """Credentials are missing or wrong, the account is locked or disabled, its role may not do
    this, or the accounts fail closed (tampered). ``retry_in``: seconds to wait (locked, wait)."""

    def __init__(self, message: str, reason: Refusal, retry_in: float = 0.0) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_in = retry_in
