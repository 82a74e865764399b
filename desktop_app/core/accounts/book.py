"""The named accounts of one database: who may log in, with which role, and the rules around it.

Storage
-------
One row per account in ``accounts`` (``schema.migration_8``): login name (unique ignoring case),
role, argon2id password hash (``hashing``), disabled flag, and the wrong passwords in a row with
the time of the last one, so that the back-off and lock-out (``lockout``) survive restarts.
Passwords and recovery codes are never stored, logged or audited; only their argon2id hashes.

History in the audit log, and failing closed
--------------------------------------------
Every change of an account writes, in the same transaction, a hash-chained audit row
(``account.create``, ``account.update``, ``account.password``, ``account.remove``,
``account.recover``) holding the account's resulting state: role, disabled, and the SHA-256 of its
stored hash (``credential``; removed: ``null``). Replaying those rows gives what the table must hold.
:meth:`AccountBook.state` compares both at each use:

- no history and no row: ``OPEN`` (no account was ever made: FaceGate works as before accounts);
- table and history agree: ``ACTIVE``;
- anything else: ``TAMPERED``. Rows deleted behind FaceGate's back (the old "delete one settings
  row and the PIN is gone"), an account inserted with a known hash, a role raised, a hash swapped,
  a disabled account enabled: each one is named, and every protected action is refused (fail
  closed) until an administrator runs the recovery.

Audit rows cannot be deleted or changed (triggers; ``audit_chain``), so erasing the history needs
the triggers dropped; in ``OPEN`` the audit head must not count more rows than the log holds (rows
deleted), else the state is ``TAMPERED`` too. As with the audit chain, someone who
can write the database file and rewrites the chain, its head record and its head file consistently
can still forge a history; keep ``facegate audit verify``'s head elsewhere to catch that, and rely
on the encryption at rest for the data itself.

Recovery
--------
Setting up the first admin issues a recovery code (``hashing.new_recovery_code``, 125 bits),
shown once; its argon2id hash is kept in an ``account.recovery_set`` audit row, where a tampered
accounts table cannot take it away. :meth:`AccountBook.recover` checks a code against the newest
such row, then (in one transaction) sets the named admin's password (creating the account when it
is gone), puts the table back in line with the history (unknown rows removed, altered roles and
flags restored, altered hashes cleared: those accounts need a password reset, missing accounts are
recorded as removed), marks the code used and issues a new one. A code therefore works once.

Password hook
-------------
``password_hook`` (None by default) is called with a :class:`PasswordChange` whenever an admin
account's password is set (first set-up, a new admin, a reset, a change, a recovery), inside the
write transaction: raising refuses the change. FaceGate wires it to the encryption's password wrap.
``admin_gone_hook`` (None by default) is called with (account, actor) whenever an account stops
being an admin (its role changed to operator or viewer, or the account removed), inside the write
transaction: FaceGate and the CLI both wire it to the removal of the account's password wrap
(``protection.facade.forget_admin_wrap``), so that its password no longer unlocks the face data.
``code_hook`` (code, actor) is called whenever a recovery code is issued (inside the transaction;
the code in its canonical form): FaceGate and the CLI wrap the data key with it, so that the code
also recovers the face data. ``code_used_hook`` (code, actor) is called once a recovery code was
checked, before the new password is set: there they unlock face data that is locked on this
computer (a moved data folder) with the code, so that the new admin password can wrap it.
``protection.facade.connect_book`` wires all four.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from desktop_app.core.accounts import lockout
from desktop_app.core.accounts.hashing import (
    credential_digest,
    hash_secret,
    new_recovery_code,
    normalise_code,
    verify_secret,
)
from desktop_app.core.accounts.policy import password_problem
from desktop_app.core.accounts.records import (
    Account,
    AccountsMode,
    AccountsState,
    NotAuthorisedError,
    PasswordChange,
    Refusal,
)
from desktop_app.core.accounts.roles import ALLOWED, Action, Role, least_role
from desktop_app.core.errors import InputError, StorageError
from desktop_app.core.storage import audit_chain, times
from desktop_app.core.storage.sqlerrors import mapped
from desktop_app.core.storage.store import Store
from desktop_app.core.wording import count

log = logging.getLogger(__name__)

#: A login name: a letter or digit, then letters, digits, ``.``, ``_``, ``@``, ``-``; 1 to 64 characters.
NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
#: Names the programs write in the audit log's actor column: no account may take them.
RESERVED_NAMES: Final[frozenset[str]] = frozenset({"cli", "door", "trainer", "facegate"})

CREATE: Final = "account.create"
UPDATE: Final = "account.update"
PASSWORD: Final = "account.password"
REMOVE: Final = "account.remove"
RECOVER: Final = "account.recover"
#: audit actions whose details hold an account's resulting state (the history replayed)
STATE_ACTIONS: Final[tuple[str, ...]] = (CREATE, UPDATE, PASSWORD, REMOVE, RECOVER)
LOGIN: Final = "account.login"
LOGIN_FAILED: Final = "account.login_failed"
LOCKED: Final = "account.locked"
REFUSED: Final = "account.refused"
RECOVERY_SET: Final = "account.recovery_set"
RECOVERY_USED: Final = "account.recovery_used"
RECOVERY_FAILED: Final = "account.recovery_failed"
#: wrong recovery codes within RECOVERY_WINDOW_S before further tries wait
RECOVERY_TRIES: Final[int] = 5
RECOVERY_WINDOW_S: Final[float] = 15 * 60.0

PIN_SETTING: Final = "admin_pin"

_COLUMNS: Final = ("name, name_key, role, password_hash, disabled, failures, last_failed_at, last_login_at, "
                   "created_at")


def name_key(name: str) -> str:
    """The unique key of a login name (case-folded)."""
    return name.strip().casefold()


def check_name(name: object) -> str:
    """``name`` as a login name; InputError with the reason when it cannot be one."""
    if not isinstance(name, str) or not name.strip():
        raise InputError("The account name is empty.")
    text = name.strip()
    if not NAME_PATTERN.fullmatch(text):
        raise InputError("An account name has 1 to 64 letters (a-z), digits and . _ @ - (no spaces), and starts "
                         "with a letter or digit.")
    if text.casefold() in RESERVED_NAMES:
        raise InputError(f"{text!r} is the name FaceGate gives a program in the audit log: choose another.")
    return text


def _printable(text: str, limit: int = 64) -> str:
    """A typed name as it may appear in the audit log (control characters dropped, shortened)."""
    clean = "".join(ch for ch in str(text) if ch.isprintable())[:limit].strip()
    return clean or "?"


@dataclass(frozen=True)
class _Row:
    name: str
    key: str
    role: Role
    password_hash: str | None
    disabled: bool
    failures: int
    last_failed_at: float | None
    last_login_at: str | None
    created_at: str

    def account(self) -> Account:
        return Account(name=self.name, role=self.role, disabled=self.disabled,
                       created_at=times.from_db(self.created_at),
                       last_login_at=times.from_db(self.last_login_at) if self.last_login_at else None,
                       has_password=self.password_hash is not None)

    def state(self) -> dict[str, object]:
        """What the audit keeps of the account (its resulting state)."""
        return _state(self.role, self.disabled, self.password_hash)


def _state(role: Role, disabled: bool, password_hash: str | None) -> dict[str, object]:
    return {"role": role.value, "disabled": bool(disabled), "credential": credential_digest(password_hash)}


def _row(r: tuple[object, ...]) -> _Row:
    return _Row(name=str(r[0]), key=str(r[1]), role=Role(str(r[2])),
                password_hash=None if r[3] is None else str(r[3]), disabled=bool(r[4]), failures=int(str(r[5])),
                last_failed_at=None if r[6] is None else float(str(r[6])),
                last_login_at=None if r[7] is None else str(r[7]), created_at=str(r[8]))


def _wait_words(seconds: float) -> str:
    return f"{seconds / 60:.0f} minutes" if seconds >= 120 else f"{max(1, round(seconds))} s"


class AccountBook:
    """The accounts of one store (module docstring). clock: seconds since the epoch (UTC), the
    time base of the stored back-off, injectable for tests. Not thread-safe on its own
    (``FaceGate`` locks around it)."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.password_hook: Callable[[PasswordChange], None] | None = None
        self.admin_gone_hook: Callable[[str, str], None] | None = None
        self.code_hook: Callable[[str, str], None] | None = None
        self.code_used_hook: Callable[[str, str], None] | None = None

    # ------------------------------------------------------------------ reading
    @contextlib.contextmanager
    def _sql(self, doing: str) -> Iterator[None]:
        with mapped(self.store.path, doing, self.store.timeout_s):
            yield

    def _rows(self) -> list[_Row]:
        with self._sql("reading the accounts"):
            cur = self.store.db.execute(f"SELECT {_COLUMNS} FROM accounts ORDER BY name_key")
            return [_row(tuple(r)) for r in cur.fetchall()]

    def _row(self, name: str) -> _Row | None:
        with self._sql("reading an account"):
            r = self.store.db.execute(f"SELECT {_COLUMNS} FROM accounts WHERE name_key = ?",
                                      (name_key(name),)).fetchone()
        return None if r is None else _row(tuple(r))

    def _history(self) -> dict[str, tuple[str, Mapping[str, object] | None]]:
        """name key -> (name, state or None when removed), replayed from the audit log in order."""
        marks = ", ".join("?" * len(STATE_ACTIONS))
        with self._sql("reading the accounts' history"):
            rows = self.store.db.execute(
                f"SELECT details_json FROM audit WHERE action IN ({marks}) ORDER BY id", STATE_ACTIONS).fetchall()
        out: dict[str, tuple[str, Mapping[str, object] | None]] = {}
        for (text,) in rows:
            try:
                details = json.loads(str(text))
                name = str(details["account"])
                state = details["state"]
            except (ValueError, KeyError, TypeError):
                continue  # a damaged row: `facegate audit verify` reports it
            out[name_key(name)] = (name, state if isinstance(state, Mapping) else None)
        return out

    def _audit_guard_problems(self) -> list[str]:
        """Why the audit log cannot vouch that no account ever existed: rows were deleted from it
        (its head record counts more rows than it holds). Only deletions count: an edited row is
        for ``facegate audit verify`` to name, and must not lock a database without accounts."""
        conn = self.store.db.conn
        with self._sql("checking the audit log"):
            rows = int(conn.execute("SELECT count(*) FROM audit").fetchone()[0])
            head = audit_chain.stored_head(conn)
        if head is not None and head.rows > rows:
            return [f"{count(head.rows - rows, 'audit row')} deleted (the audit log holds {rows}, its head "
                    f"records {head.rows})"]
        return []

    def state(self) -> AccountsState:
        """Where the database stands with accounts (module docstring): OPEN, ACTIVE or TAMPERED."""
        history = self._history()
        problems: list[str] = []
        try:
            rows = self._rows()
        except StorageError as exc:
            if not isinstance(exc.__cause__, sqlite3.OperationalError) or "no such table" not in str(exc):
                raise
            rows = []
            if history:
                problems.append("the accounts table was removed")
        if not history and not rows:
            guard = self._audit_guard_problems()
            return AccountsState(AccountsMode.TAMPERED, tuple(guard)) if guard else AccountsState(AccountsMode.OPEN)
        by_key = {r.key: r for r in rows}
        for key, (name, state) in history.items():
            row = by_key.get(key)
            if state is None:
                if row is not None:
                    problems.append(f"account {row.name!r} was removed but is back")
                continue
            if row is None:
                problems.append(f"account {name!r} is missing")
                continue
            if row.role.value != state.get("role"):
                problems.append(f"account {name!r} has the role {row.role.value}, the audit log says "
                                f"{state.get('role')}")
            if row.disabled != bool(state.get("disabled")):
                problems.append(f"account {name!r} was {'disabled' if row.disabled else 'enabled'} outside FaceGate")
            if credential_digest(row.password_hash) != state.get("credential"):
                problems.append(f"account {name!r} has a password hash FaceGate did not write")
        problems += [f"account {r.name!r} was not created by FaceGate" for k, r in by_key.items() if k not in history]
        if problems:
            return AccountsState(AccountsMode.TAMPERED, tuple(problems))
        return AccountsState(AccountsMode.ACTIVE)

    def accounts(self) -> list[Account]:
        """Every account, by name."""
        return [r.account() for r in self._rows()]

    def account(self, name: str) -> Account | None:
        row = self._row(name)
        return None if row is None else row.account()

    def retry_in(self, name: str) -> float:
        """Seconds before ``name`` may try a password again (0: now; 0 for an unknown name)."""
        row = self._row(name)
        return 0.0 if row is None else lockout.retry_in(row.failures, row.last_failed_at, self.clock())

    # ------------------------------------------------------------------ logging in
    def _note(self, actor: str, action: str, details: dict[str, object]) -> None:
        """Audit a login event; a database that cannot be written (read-only, locked) only logs it."""
        try:
            self.store.audit(_printable(actor), action, details)
        except StorageError as exc:
            log.warning("Could not audit %s for %s: %s", action, actor, exc)

    def _refuse_if_tampered(self, state: AccountsState) -> None:
        if state.mode == AccountsMode.TAMPERED:
            raise NotAuthorisedError(state.summary(), Refusal.TAMPERED)

    def authenticate(self, name: str, password: str, action: Action | None = None) -> Account:
        """The account ``name`` when ``password`` is its password (and its role allows ``action``
        when given); every outcome is audited. NotAuthorisedError (with ``reason``) otherwise: no
        accounts, accounts tampered, wrong name or password (counted: back-off, lock-out), a wait
        running, account disabled, or a role that may not."""
        state = self.state()
        self._refuse_if_tampered(state)
        if state.mode == AccountsMode.OPEN:
            raise NotAuthorisedError("This database has no accounts yet.", Refusal.NO_CREDENTIALS)
        row = self._row(name) if isinstance(name, str) and name.strip() else None
        if row is None:
            verify_secret(None, password)  # the same time as a real check: names cannot be probed
            self._note("facegate", LOGIN_FAILED, {"account": _printable(name), "reason": "unknown account"})
            raise NotAuthorisedError("Wrong account name or password.", Refusal.WRONG)
        now = self.clock()
        wait = lockout.retry_in(row.failures, row.last_failed_at, now)
        if wait > 0:
            locked = lockout.is_lock(row.failures)
            self._note(row.name, LOGIN_FAILED, {"account": row.name, "reason": "locked" if locked else "wait",
                                                "retry_in_s": round(wait)})
            raise NotAuthorisedError(
                f"The account {row.name!r} is locked after {row.failures} wrong passwords: try again in "
                f"{_wait_words(wait)}, or ask an administrator." if locked else
                f"Too many wrong passwords: wait {_wait_words(wait)} before trying again.",
                Refusal.LOCKED if locked else Refusal.WAIT, wait)
        if not verify_secret(row.password_hash, password):
            failures = self._count_failure(row, now)
            after = lockout.wait_after(failures)
            more = ""
            if lockout.is_lock(failures):
                more = f" The account is now locked for {_wait_words(after)}."
            elif after > 0:
                more = f" Wait {_wait_words(after)} before the next try."
            raise NotAuthorisedError(f"Wrong account name or password.{more}", Refusal.WRONG, after)
        if not row.account().can_log_in:
            self._note(row.name, LOGIN_FAILED, {"account": row.name, "reason": "disabled"})
            raise NotAuthorisedError(f"The account {row.name!r} is disabled: ask an administrator.", Refusal.DISABLED)
        self._record_login(row)
        account = self._row(row.name) or row
        if action is not None and action not in _allowed(account.role):
            self._note(row.name, REFUSED, {"account": row.name, "action": action.value})
            raise NotAuthorisedError(role_refusal(row.name, row.role, action), Refusal.ROLE)
        return account.account()

    def _count_failure(self, row: _Row, now: float) -> int:
        """Count one more wrong password for ``row`` (stored and audited); the failures in a row."""
        try:
            with self.store.transaction():
                self.store.db.execute(
                    "UPDATE accounts SET failures = failures + 1, last_failed_at = ? WHERE name_key = ?",
                    (now, row.key))
                found = self.store.db.execute("SELECT failures FROM accounts WHERE name_key = ?",
                                              (row.key,)).fetchone()
                failures = int(found[0]) if found is not None else row.failures + 1
                self.store.audit(row.name, LOGIN_FAILED, {"account": row.name, "reason": "wrong password",
                                                          "failures": failures})
                if lockout.is_lock(failures):
                    until = datetime.fromtimestamp(now + lockout.LOCK_S, UTC).isoformat(timespec="seconds")
                    self.store.audit(row.name, LOCKED, {"account": row.name, "failures": failures, "until": until})
            return failures
        except (StorageError, sqlite3.Error) as exc:
            log.warning("Could not record the wrong password of %s: %s", row.name, exc)
            return row.failures + 1

    def _record_login(self, row: _Row) -> None:
        try:
            with self.store.transaction():
                self.store.db.execute(
                    "UPDATE accounts SET failures = 0, last_failed_at = NULL, last_login_at = ? WHERE name_key = ?",
                    (times.now_db(), row.key))
                self.store.audit(row.name, LOGIN, {"account": row.name, "role": row.role.value})
        except (StorageError, sqlite3.Error) as exc:
            log.warning("Could not record the login of %s: %s", row.name, exc)

    # ------------------------------------------------------------------ changes
    def _require(self, by: Account, action: Action) -> _Row:
        """The row of ``by`` when the accounts are ACTIVE and it may do ``action`` (re-read: a
        disabled or demoted account is refused); NotAuthorisedError otherwise."""
        state = self.state()
        self._refuse_if_tampered(state)
        row = self._row(by.name)
        if row is None or not row.account().can_log_in:
            raise NotAuthorisedError(f"The account {by.name!r} no longer exists or is disabled.", Refusal.DISABLED)
        if action not in _allowed(row.role):
            raise NotAuthorisedError(role_refusal(row.name, row.role, action), Refusal.ROLE)
        return row

    def _hook(self, change: PasswordChange, role: Role) -> None:
        if role == Role.ADMIN and self.password_hook is not None:
            self.password_hook(change)

    def _gone(self, account: str, actor: str) -> None:
        if self.admin_gone_hook is not None:
            self.admin_gone_hook(account, actor)

    def _insert(self, name: str, role: Role, password_hash: str | None) -> None:
        now = times.now_db()
        self.store.db.execute(
            "INSERT INTO accounts (name, name_key, role, password_hash, disabled, failures, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, 0, 0, ?, ?)", (name, name_key(name), role.value, password_hash, now, now))

    def _issue_code(self, account: str, actor: str) -> str:
        code = new_recovery_code()
        self.store.audit(actor, RECOVERY_SET, {"account": account, "verifier": hash_secret(normalise_code(code))})
        if self.code_hook is not None:
            self.code_hook(normalise_code(code), actor)
        return code

    def _enabled_admins(self, rows: list[_Row]) -> int:
        return sum(1 for r in rows if r.role == Role.ADMIN and r.account().can_log_in)

    def setup(self, name: str, password: str) -> str:
        """Create the first account, an admin, on a database without accounts (no credentials
        needed); returns the recovery code, to be shown once. A legacy admin PIN is retired (its
        row deleted, audited). InputError for a bad name or a weak password; NotAuthorisedError
        when accounts exist (or existed: tampered)."""
        clean = check_name(name)
        problem = password_problem(password, clean)
        if problem:
            raise InputError(problem)
        hashed = hash_secret(password)
        with self.store.transaction():
            state = self.state()
            self._refuse_if_tampered(state)
            if state.mode != AccountsMode.OPEN:
                raise NotAuthorisedError("This database has accounts already: an admin adds more (with their "
                                         "credentials).", Refusal.NO_CREDENTIALS)
            with self._sql("creating the first account"):
                self._insert(clean, Role.ADMIN, hashed)
            self.store.audit(clean, CREATE, {"account": clean, "state": _state(Role.ADMIN, False, hashed),
                                             "first": True})
            code = self._issue_code(clean, clean)
            if self.store.has_setting(PIN_SETTING):
                self.store.reset_setting(PIN_SETTING, clean, "retired: the database now has named accounts")
            self._hook(PasswordChange(clean, None, password, clean, "setup"), Role.ADMIN)
        return code

    def add(self, by: Account, name: str, role: Role | str, password: str) -> Account:
        """Add an account (``by`` must be an enabled admin). InputError for a bad or taken name,
        an unknown role or a weak password."""
        clean = check_name(name)
        new_role = _role(role)
        problem = password_problem(password, clean)
        if problem:
            raise InputError(problem)
        hashed = hash_secret(password)
        with self.store.transaction():
            actor = self._require(by, Action.ACCOUNTS)
            if self._row(clean) is not None:
                raise InputError(f"There is an account named {clean!r} already.")
            with self._sql("adding an account"):
                self._insert(clean, new_role, hashed)
            self.store.audit(actor.name, CREATE, {"account": clean, "state": _state(new_role, False, hashed)})
            self._hook(PasswordChange(clean, None, password, actor.name, "new"), new_role)
            added = self._row(clean)
        assert added is not None
        return added.account()

    def set_password(self, by: Account, name: str, new_password: str, current_password: str | None = None) -> None:
        """Change one's own password (``current_password`` required, checked like a login), or reset
        another account's (``by`` must be an admin). Clears the back-off and lock-out."""
        target = self._row(name)
        own = target is not None and target.key == name_key(by.name)
        if own:
            self.authenticate(by.name, current_password or "")
        problem = password_problem(new_password, target.name if target else name)
        if problem:
            raise InputError(problem)
        hashed = hash_secret(new_password)
        with self.store.transaction():
            actor = self._row(by.name) if own else self._require(by, Action.ACCOUNTS)
            row = self._row(name)
            if row is None or actor is None:
                raise InputError(f"There is no account named {name!r}.")
            with self._sql("changing a password"):
                self.store.db.execute(
                    "UPDATE accounts SET password_hash = ?, failures = 0, last_failed_at = NULL, updated_at = ?"
                    " WHERE name_key = ?", (hashed, times.now_db(), row.key))
            self.store.audit(actor.name, PASSWORD, {"account": row.name, "by": "self" if own else "admin",
                                                    "state": _state(row.role, row.disabled, hashed)})
            self._hook(PasswordChange(row.name, current_password if own else None, new_password, actor.name,
                                      "change" if own else "reset"), row.role)

    def update(self, by: Account, name: str, *, role: Role | str | None = None,
               disabled: bool | None = None) -> Account:
        """Change an account's role or disabled flag (``by`` must be an admin); enabling (also an
        enabled account) clears its back-off and lock. Refused when no enabled admin would remain."""
        new_role = None if role is None else _role(role)
        with self.store.transaction():
            actor = self._require(by, Action.ACCOUNTS)
            row = self._row(name)
            if row is None:
                raise InputError(f"There is no account named {name!r}.")
            after_role = new_role or row.role
            after_disabled = row.disabled if disabled is None else bool(disabled)
            unlock = disabled is False and row.failures > 0  # "enable" also lifts a back-off or lock
            changed = [k for k, v in (("role", after_role != row.role), ("disabled", after_disabled != row.disabled),
                                      ("unlocked", unlock)) if v]
            if not changed:
                return row.account()
            others = [r for r in self._rows() if r.key != row.key]
            still_admin = after_role == Role.ADMIN and not after_disabled and row.password_hash is not None
            if self._enabled_admins(others) == 0 and not still_admin:
                raise InputError("At least one enabled admin account must remain: make another account admin first.")
            with self._sql("changing an account"):
                self.store.db.execute(
                    "UPDATE accounts SET role = ?, disabled = ?, updated_at = ?"
                    + (", failures = 0, last_failed_at = NULL" if disabled is False else "")
                    + " WHERE name_key = ?", (after_role.value, int(after_disabled), times.now_db(), row.key))
            self.store.audit(actor.name, UPDATE, {"account": row.name, "changed": changed,
                                                  "state": _state(after_role, after_disabled, row.password_hash)})
            if after_role != Role.ADMIN:
                self._gone(row.name, actor.name)
            done = self._row(row.name)
        assert done is not None
        return done.account()

    def remove(self, by: Account, name: str) -> None:
        """Remove an account (``by`` must be an admin); refused for the last enabled admin."""
        with self.store.transaction():
            actor = self._require(by, Action.ACCOUNTS)
            row = self._row(name)
            if row is None:
                raise InputError(f"There is no account named {name!r}.")
            if self._enabled_admins([r for r in self._rows() if r.key != row.key]) == 0:
                raise InputError("The last enabled admin account cannot be removed: make another account admin first.")
            with self._sql("removing an account"):
                self.store.db.execute("DELETE FROM accounts WHERE name_key = ?", (row.key,))
            self.store.audit(actor.name, REMOVE, {"account": row.name, "state": None})
            self._gone(row.name, actor.name)

    def new_recovery_code(self, by: Account) -> str:
        """Issue a new recovery code (``by`` must be an admin); the previous one stops working."""
        with self.store.transaction():
            actor = self._require(by, Action.ACCOUNTS)
            return self._issue_code(actor.name, actor.name)

    # ------------------------------------------------------------------ recovery
    def _latest_recovery(self) -> tuple[str, str] | None:
        """(account, verifier) of the newest recovery code issued; None when none was."""
        with self._sql("reading the recovery code"):
            r = self.store.db.execute("SELECT details_json FROM audit WHERE action = ? ORDER BY id DESC LIMIT 1",
                                      (RECOVERY_SET,)).fetchone()
        if r is None:
            return None
        try:
            details = json.loads(str(r[0]))
            return str(details["account"]), str(details["verifier"])
        except (ValueError, KeyError, TypeError):
            return None

    def _recent_recovery_failures(self) -> int:
        since = times.to_db(datetime.now(UTC) - timedelta(seconds=RECOVERY_WINDOW_S))
        with self._sql("reading the recovery tries"):
            return int(self.store.db.execute("SELECT count(*) FROM audit WHERE action = ? AND ts >= ?",
                                             (RECOVERY_FAILED, since)).fetchone()[0])

    def recover(self, code: str, new_password: str, name: str | None = None) -> tuple[Account, str]:
        """Set a new password for an admin with the recovery code (module docstring) and put the
        table back in line with the history; returns (the admin, the NEW recovery code). InputError
        for a weak password or a bad name; NotAuthorisedError for a wrong code (audited; five
        within 15 minutes make further tries wait) or when no code was ever issued."""
        latest = self._latest_recovery()
        if latest is None:
            raise NotAuthorisedError("No recovery code was ever issued for this database (it has had no accounts).",
                                     Refusal.NO_CREDENTIALS)
        target = check_name(name or latest[0])
        problem = password_problem(new_password, target)
        if problem:
            raise InputError(problem)
        if self._recent_recovery_failures() >= RECOVERY_TRIES:
            raise NotAuthorisedError("Too many wrong recovery codes: try again in 15 minutes.", Refusal.WAIT,
                                     RECOVERY_WINDOW_S)
        typed = normalise_code(code)
        if not verify_secret(latest[1], typed or "-"):
            self._note("facegate", RECOVERY_FAILED, {"account": target})
            raise NotAuthorisedError("The recovery code is wrong (or was used already: each code works once).",
                                     Refusal.WRONG)
        if self.code_used_hook is not None:
            self.code_used_hook(typed, target)
        hashed = hash_secret(new_password)
        with self.store.transaction():
            self._reconcile(target)
            row = self._row(target)
            with self._sql("recovering an account"):
                if row is None:
                    self._insert(target, Role.ADMIN, hashed)
                else:
                    self.store.db.execute(
                        "UPDATE accounts SET role = 'admin', password_hash = ?, disabled = 0, failures = 0,"
                        " last_failed_at = NULL, updated_at = ? WHERE name_key = ?", (hashed, times.now_db(), row.key))
            self.store.audit(target, RECOVER, {"account": target, "state": _state(Role.ADMIN, False, hashed)})
            self.store.audit(target, RECOVERY_USED, {"account": latest[0], "verifier": credential_digest(latest[1])})
            fresh = self._issue_code(target, target)
            self._hook(PasswordChange(target, None, new_password, target, "recovery"), Role.ADMIN)
            done = self._row(target)
        assert done is not None
        return done.account(), fresh

    def _reconcile(self, actor: str) -> None:
        """Make the table agree with the history (inside the recovery's transaction), auditing each
        repair: rows FaceGate did not create are deleted, missing accounts recorded as removed,
        altered roles and flags restored, altered hashes cleared (a reset is needed)."""
        history = self._history()
        try:
            rows = {r.key: r for r in self._rows()}
        except StorageError:
            raise StorageError("The accounts table is gone: restore the database from a backup.") from None
        for key, row in rows.items():
            known = history.get(key)
            audited = None if known is None else known[1]
            if audited is None:
                with self._sql("removing an unknown account"):
                    self.store.db.execute("DELETE FROM accounts WHERE name_key = ?", (key,))
                self.store.audit(actor, REMOVE, {"account": row.name, "state": None,
                                                 "reason": "not created by FaceGate (removed at recovery)"})
                continue
            role = _role(str(audited.get("role")), Role.VIEWER)
            disabled = bool(audited.get("disabled"))
            keep = credential_digest(row.password_hash) == audited.get("credential")
            if role == row.role and disabled == row.disabled and keep:
                continue
            hashed = row.password_hash if keep else None
            with self._sql("repairing an account"):
                self.store.db.execute("UPDATE accounts SET role = ?, disabled = ?, password_hash = ?, updated_at = ?"
                                      " WHERE name_key = ?", (role.value, int(disabled), hashed, times.now_db(), key))
            self.store.audit(actor, UPDATE, {"account": row.name, "state": _state(role, disabled, hashed),
                                             "changed": ["repaired at recovery"]
                                             + ([] if keep else ["password cleared: reset it"])})
        for key, (name, state) in history.items():
            if state is not None and key not in rows and key != name_key(actor):
                self.store.audit(actor, REMOVE, {"account": name, "state": None, "reason": "missing at recovery"})


def _allowed(role: Role) -> frozenset[Action]:
    return ALLOWED[role]


def _role(value: Role | str, default: Role | None = None) -> Role:
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        if default is not None:
            return default
        raise InputError(f"{value!r} is not a role: admin, operator or viewer.") from None


def role_refusal(name: str, role: Role, action: Action) -> str:
    """The message when ``name`` (``role``) may not do ``action``."""
    need = least_role(action)
    who = "an admin" if need == Role.ADMIN else f"an {need.value} or admin"
    return (f"The account {name!r} ({role.value}) may not {ACTION_WORDS.get(action, action.value)}: "
            f"that needs {who} account.")


#: How an action reads in a refusal ("may not ...").
ACTION_WORDS: Final[Mapping[Action, str]] = {
    Action.VIEW_EVENTS: "see events and attendance", Action.VIEW_DOORS: "see the doors",
    Action.VIEW_PEOPLE: "see the enrolled people", Action.IDENTIFY: "identify faces",
    Action.OPEN_DOOR: "open doors", Action.RUN_DOORS: "run the doors", Action.LEAVE_KIOSK: "leave kiosk mode",
    Action.ENROL: "enrol people", Action.EDIT_PEOPLE: "change people", Action.ERASE: "erase people",
    Action.EXPORT: "export data", Action.VIEW_AUDIT: "read the audit log", Action.SETTINGS: "change settings",
    Action.MODELS: "change the face model", Action.ACCESS_RULES: "change doors, groups or schedules",
    Action.MAINTAIN: "repair the database", Action.ACCOUNTS: "manage accounts", Action.KEYS: "manage keys",
}
