"""The key operations of the ``FaceGate`` facade (a base class of ``FaceGate``), for the CLI, the
GUI and the accounts: status, the password wrap, unlocking with the password, rotating the
machine key, changing the password, and the full re-key. Each is audited with its ``actor``.
The work is the store's (``storage.keys.KeysMixin``); here the gallery follows: after an unlock
or a re-key it is reloaded from (and saved encrypted with) the data key in force."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING

from desktop_app.core.errors import InputError
from desktop_app.core.protection.status import RECOVERY_WRAP, ProtectionStatus

if TYPE_CHECKING:
    from desktop_app.core.accounts.book import AccountBook
    from desktop_app.core.accounts.records import PasswordChange
    from desktop_app.core.storage.keys import RekeyReport
    from desktop_app.core.storage.store import Store


class ProtectionFacade:
    """Key management methods of ``FaceGate`` (see the module docstring)."""

    store: Store
    _lock: threading.RLock

    def rebuild_gallery(self) -> int:  # FaceGate's: the gallery reloaded from the database
        raise NotImplementedError

    @property
    def data_locked(self) -> str | None:
        """Why the face data cannot be decrypted here (the machine key is missing), with the way
        to unlock it; None when it can (or is not encrypted). While locked nobody is recognised."""
        return self.store.locked_reason

    def key_status(self) -> ProtectionStatus:
        """How the face data is protected: encrypted or not, locked or not, where the machine key
        is kept, which accounts' passwords wrap the data key."""
        return self.store.protection_status()

    def protect_with_password(self, password: str, actor: str = "admin", *, account: str = "admin") -> None:
        """Wrap the data key with a key derived from ``password`` (argon2id), so that the password
        unlocks the face data on another computer; replaces ``account``'s previous password wrap
        (the old password stops working). The accounts call it when the admin password is set.
        InputError for a password shorter than 8 characters; DataLockedError when locked."""
        self.store.protect_with_password(password, actor, account)

    def change_protection_password(self, old: str, new: str, actor: str = "admin", *, account: str = "admin") -> None:
        """Re-wrap the data key from ``old`` to ``new`` (nothing is re-encrypted; ``old`` stops
        working). InputError when ``old`` is wrong or no password wrap exists for ``account``."""
        self.store.change_protection_password(old, new, actor, account)

    def forget_protection_password(self, account: str, actor: str = "admin") -> bool:
        """Remove ``account``'s password wrap (e.g. the account was deleted); True when there was one."""
        return self.store.forget_protection_password(actor, account)

    def unlock_with_password(self, password: str, actor: str = "admin") -> bool:
        """Unlock face data whose machine key is missing here (the data folder was moved to another
        computer): the password unwraps the data key, a new machine key is made on this computer
        (so the door starts by itself from now on) and the gallery is loaded. False when the data
        was not locked. InputError when the password opens nothing."""
        done = self.store.unlock_with_password(password, actor)
        if done:
            with self._lock:
                self.rebuild_gallery()
        return done

    def rotate_machine_key(self, actor: str = "admin") -> str:
        """Replace the machine key: the data key is re-wrapped, nothing re-encrypted; the old key
        is deleted and opens nothing any more. Returns the new machine key's id."""
        return self.store.rotate_machine_key(actor)

    def rekey_data(self, actor: str = "admin", password: str | None = None, *, account: str = "admin") -> RekeyReport:
        """Replace the data key itself and re-encrypt every value (and the saved gallery) with the
        new one. ``password``: ``account``'s, to wrap the new key too; other password wraps are
        dropped (the report lists their accounts)."""
        report = self.store.rekey_data(actor, password, account)
        with self._lock:
            self.rebuild_gallery()
        return report


def wrap_with_admin_password(store: Store, change: PasswordChange) -> None:
    """The accounts' password hook, for the app and the CLI alike (called inside the account's
    write transaction; raising refuses the change): the admin's new password wraps the data key
    held in memory (the machine key opened it) in place of the account's previous wrap. No old
    password is needed and nothing is re-encrypted. Face data that is not encrypted has nothing to
    wrap; while it is locked (no machine key here) the change is refused (DataLockedError, which
    names the unlock command)."""
    if store.data_locked or store.encrypted:
        store.protect_with_password(change.new, change.actor, change.account)


def forget_admin_wrap(store: Store, account: str, actor: str) -> None:
    """The accounts' other hook (``AccountBook.admin_gone_hook``), for the app and the CLI alike:
    an account that is no longer an admin (made operator or viewer, or removed) loses its password
    wrap of the data key, so its password no longer unlocks the face data (also while locked: a
    wrap that is left would keep working on another computer). Audited when there was one."""
    if not store.read_only:
        store.forget_protection_password(actor, account)


def wrap_with_recovery_code(store: Store, code: str, actor: str) -> None:
    """The accounts' code hook: a new recovery code (canonical form) wraps the data key in place of
    the previous code's wrap, so that the code recovers the face data too (on a moved data folder).
    Nothing to do for face data that is not encrypted; DataLockedError while it is locked."""
    if store.data_locked or store.encrypted:
        store.protect_with_password(code, actor, RECOVERY_WRAP)


def unlock_with_recovery_code(store: Store, code: str, actor: str) -> None:
    """The accounts' code-used hook: face data locked on this computer is unlocked with the
    recovery code's wrap (a machine key of this computer then wraps the data key). A code issued
    before codes wrapped the data key opens nothing: the recovery then stops at the password wrap,
    which names the unlock command."""
    if store.data_locked:
        with contextlib.suppress(InputError):
            store.unlock_with_password(code, actor)


def connect_book(book: AccountBook, store: Store) -> None:
    """Wire the accounts' hooks to the encryption, the same for the app (FaceGate) and the CLI:
    admins' passwords and the recovery code wrap the data key; an account that stops being an
    admin loses its wrap; a recovery code unlocks locked face data."""
    book.password_hook = lambda change: wrap_with_admin_password(store, change)
    book.admin_gone_hook = lambda account, actor: forget_admin_wrap(store, account, actor)
    book.code_hook = lambda code, actor: wrap_with_recovery_code(store, code, actor)
    book.code_used_hook = lambda code, actor: unlock_with_recovery_code(store, code, actor)
