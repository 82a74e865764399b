"""Named accounts (issue 12) on a real SQLite store: argon2id hashes, the permission matrix, the
password and PIN policy, a back-off and lock-out that survive reopening the database, the history
in the audit chain that makes a tampered accounts table fail closed, and the recovery code that
works once and repairs the table."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.accounts import (
    AccountsMode,
    Action,
    NotAuthorisedError,
    PasswordChange,
    Refusal,
    Role,
    allows,
)
from desktop_app.core.accounts.book import AccountBook
from desktop_app.core.accounts.hashing import hash_secret, normalise_code
from desktop_app.core.accounts.lockout import FREE_TRIES, LOCK_AFTER, LOCK_S
from desktop_app.core.accounts.policy import password_problem, pin_problem
from desktop_app.core.accounts.roles import matrix
from desktop_app.core.admin.lock import AdminPin
from desktop_app.core.errors import InputError
from desktop_app.core.storage.store import Store

ADMIN_PW = "correct horse battery"
OPERATOR_PW = "Tr0ub4dor&3x-gate"
VIEWER_PW = "vX9#mQ2!pLk"


class Clock:
    """Seconds since the epoch, moved by hand (the back-off is stored in these units)."""

    def __init__(self) -> None:
        self.t = 1_900_000_000.0

    def __call__(self) -> float:
        return self.t


def sql(db: Path, *statements: str) -> None:
    """Another program edits the file (the sqlite3 tool would do the same)."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for s in statements:
            conn.execute(s)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A database with an admin (alice), an operator (olga) and a disabled viewer (vic); and the
    recovery code printed at set-up."""
    db = tmp_path_factory.mktemp("accounts-site") / "facegate.db"
    with Store(db) as store:
        book = AccountBook(store)
        code = book.setup("alice", ADMIN_PW)
        alice = book.authenticate("alice", ADMIN_PW)
        book.add(alice, "olga", Role.OPERATOR, OPERATOR_PW)
        book.add(alice, "vic", "viewer", VIEWER_PW)
        book.update(alice, "vic", disabled=True)
    return db, code


@pytest.fixture
def db(site: tuple[Path, str], tmp_path: Path) -> Path:
    """A fresh copy of the site's database (the WAL was checkpointed when the store closed)."""
    copy = tmp_path / "facegate.db"
    shutil.copy(site[0], copy)
    return copy


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    with Store(db) as s:
        yield s


# ------------------------------------------------------------------ roles, policy, hashes
def test_the_permission_matrix() -> None:
    rows = dict(matrix())
    viewer = {a for a, roles in rows.items() if Role.VIEWER in roles}
    operator = {a for a, roles in rows.items() if Role.OPERATOR in roles}
    assert viewer == {Action.VIEW_EVENTS, Action.VIEW_DOORS}
    assert operator == viewer | {Action.VIEW_PEOPLE, Action.IDENTIFY, Action.OPEN_DOOR, Action.RUN_DOORS,
                                 Action.LEAVE_KIOSK}
    assert all(Role.ADMIN in roles for roles in rows.values())
    for admin_only in (Action.ENROL, Action.ERASE, Action.EXPORT, Action.SETTINGS, Action.MODELS,
                       Action.ACCOUNTS, Action.KEYS, Action.VIEW_AUDIT):
        assert rows[admin_only] == (Role.ADMIN,)
    assert not allows("root", Action.ENROL) and not allows(Role.ADMIN, "fly")


@pytest.mark.parametrize("password, account", [
    ("short1!", ""), ("aaaaaaaaaaaa", ""), ("1212121212", ""), ("abcabcabcabc", ""), ("1234567890", ""),
    ("qwertyuiop", ""), ("abcdefgh12", ""), ("zyxwvutsrq", ""), ("Password2024!", ""), ("P@ssw0rd123", ""),
    ("Summer2025!!", ""), ("!!Welcome99", ""), ("alice-likes-tea", "alice"), ("ecila-zz-99-kk", "alice"),
    ("my FaceGate key", ""), ("tab\there-xx-11", ""),
])
def test_weak_passwords_are_refused(password: str, account: str) -> None:
    assert password_problem(password, account) is not None


@pytest.mark.parametrize("password", [ADMIN_PW, OPERATOR_PW, VIEWER_PW, "grape-lantern-47", "Ünïcødé pass 9"])
def test_good_passwords_pass(password: str) -> None:
    assert password_problem(password, "alice") is None


@pytest.mark.parametrize("pin", ["1234", "12345", "123456", "111111", "121212", "808080", "135791", "246802",
                                 "987654", "890123", "654321", "147258", "12a456", "１２３４５６"])
def test_weak_pins_are_refused(pin: str) -> None:
    assert pin_problem(pin) is not None


@pytest.mark.parametrize("pin", ["731904", "5830172", "902817"])
def test_good_pins_pass(pin: str) -> None:
    assert pin_problem(pin) is None


def test_the_legacy_pin_refuses_weak_new_pins(tmp_path: Path) -> None:
    with Store(tmp_path / "f.db") as store:
        pin = AdminPin(store)
        for weak in ("1234", "123456", "000000"):
            with pytest.raises(ValueError, match="PIN"):
                pin.set_admin_pin(weak)
        assert not pin.has_admin_pin()
        pin.set_admin_pin("731904")
        assert pin.verify_admin_pin("731904")


def test_hashes_are_argon2id_salted_and_no_secret_is_on_disk(site: tuple[Path, str], store: Store) -> None:
    rows = store.db.execute("SELECT name, password_hash FROM accounts ORDER BY name").fetchall()
    assert [r[0] for r in rows] == ["alice", "olga", "vic"]
    assert all(str(r[1]).startswith("$argon2id$v=19$m=65536,t=3,p=4$") for r in rows)
    assert hash_secret(ADMIN_PW) != hash_secret(ADMIN_PW)  # a new salt each time
    raw = b"".join(p.read_bytes() for p in site[0].parent.glob("facegate.db*"))
    for secret in (ADMIN_PW, OPERATOR_PW, VIEWER_PW, site[1], normalise_code(site[1])):
        assert secret.encode() not in raw


# ------------------------------------------------------------------ logging in, roles
def test_login_checks_password_role_and_state_and_is_audited(store: Store) -> None:
    book = AccountBook(store)
    assert book.state().mode == AccountsMode.ACTIVE
    olga = book.authenticate("OLGA", OPERATOR_PW, Action.OPEN_DOOR)  # names ignore case
    assert olga.name == "olga" and olga.role == Role.OPERATOR and olga.last_login_at is not None
    with pytest.raises(NotAuthorisedError) as refused:
        book.authenticate("olga", OPERATOR_PW, Action.EXPORT)
    assert refused.value.reason == Refusal.ROLE and "admin" in str(refused.value)
    with pytest.raises(NotAuthorisedError) as disabled:
        book.authenticate("vic", VIEWER_PW)
    assert disabled.value.reason == Refusal.DISABLED
    with pytest.raises(NotAuthorisedError) as unknown:
        book.authenticate("mallory", ADMIN_PW)
    assert unknown.value.reason == Refusal.WRONG and str(unknown.value) == "Wrong account name or password."
    actions = [(r.actor, r.action, r.details.get("reason")) for r in store.audit_log(6)][::-1]
    assert actions[-5:] == [("olga", "account.login", None), ("olga", "account.login", None),
                            ("olga", "account.refused", None), ("vic", "account.login_failed", "disabled"),
                            ("facegate", "account.login_failed", "unknown account")]
    assert not any(ADMIN_PW in str(r.details) or OPERATOR_PW in str(r.details) for r in store.audit_log(100))


def test_backoff_and_lockout_survive_reopening_the_database(db: Path) -> None:
    clock = Clock()
    with Store(db) as store:
        book = AccountBook(store, clock=clock)
        for _ in range(FREE_TRIES):
            with pytest.raises(NotAuthorisedError):
                book.authenticate("olga", "not the password")
        assert book.retry_in("olga") == 1.0
    with Store(db) as store:  # the next start (another process would read the same rows)
        book = AccountBook(store, clock=clock)
        assert book.retry_in("olga") == 1.0
        with pytest.raises(NotAuthorisedError) as waiting:
            book.authenticate("olga", OPERATOR_PW)
        assert waiting.value.reason == Refusal.WAIT, "even the right password waits"
        for _ in range(LOCK_AFTER - FREE_TRIES):
            clock.t += book.retry_in("olga") + 0.5
            with pytest.raises(NotAuthorisedError):
                book.authenticate("olga", "still not it")
        assert book.retry_in("olga") == LOCK_S
        assert [r.action for r in store.audit_log(1)] == ["account.locked"]
    with Store(db) as store:
        book = AccountBook(store, clock=clock)
        clock.t += LOCK_S - 60
        with pytest.raises(NotAuthorisedError) as locked:
            book.authenticate("olga", OPERATOR_PW)
        assert locked.value.reason == Refusal.LOCKED and "1 s" not in str(locked.value)
        clock.t += 61
        assert book.authenticate("olga", OPERATOR_PW).name == "olga"
        assert book.retry_in("olga") == 0.0


def test_a_clock_set_back_does_not_lengthen_the_wait(store: Store) -> None:
    clock = Clock()
    book = AccountBook(store, clock=clock)
    for _ in range(FREE_TRIES + 2):
        clock.t += 100
        with pytest.raises(NotAuthorisedError):
            book.authenticate("olga", "wrong password here")
    clock.t -= 10_000
    assert book.retry_in("olga") == 4.0


# ------------------------------------------------------------------ changes
def test_enabling_an_account_lifts_its_lock(store: Store) -> None:
    clock = Clock()
    book = AccountBook(store, clock=clock)
    for _ in range(FREE_TRIES):
        with pytest.raises(NotAuthorisedError):
            book.authenticate("olga", "wrong password here")
    assert book.retry_in("olga") > 0
    alice = book.authenticate("alice", ADMIN_PW)
    book.update(alice, "olga", disabled=False)  # `facegate account set --enable`
    assert book.retry_in("olga") == 0.0 and book.authenticate("olga", OPERATOR_PW).name == "olga"
    assert book.state().mode == AccountsMode.ACTIVE


def test_the_last_admin_stays_and_roles_need_an_admin(store: Store) -> None:
    book = AccountBook(store)
    alice = book.authenticate("alice", ADMIN_PW)
    olga = book.authenticate("olga", OPERATOR_PW)
    with pytest.raises(InputError, match="enabled admin"):
        book.update(alice, "alice", role=Role.VIEWER)
    with pytest.raises(InputError, match="enabled admin"):
        book.update(alice, "alice", disabled=True)
    with pytest.raises(InputError, match="last enabled admin"):
        book.remove(alice, "alice")
    with pytest.raises(NotAuthorisedError) as refused:
        book.add(olga, "eve", Role.ADMIN, "grape-lantern-47")
    assert refused.value.reason == Refusal.ROLE
    with pytest.raises(InputError, match="already"):
        book.add(alice, "OLGA", Role.VIEWER, "grape-lantern-47")
    for bad in ("", "with space", "-dash", "x" * 65, "cli", "Door"):
        with pytest.raises(InputError):
            book.add(alice, bad, Role.VIEWER, "grape-lantern-47")
    book.update(alice, "olga", role=Role.ADMIN)
    book.update(alice, "alice", role=Role.VIEWER)  # allowed now: olga is an enabled admin
    with pytest.raises(NotAuthorisedError):
        book.add(alice, "eve", Role.VIEWER, "grape-lantern-47")  # alice is a viewer now (re-read)
    assert book.state().mode == AccountsMode.ACTIVE


def test_password_changes_own_and_reset(store: Store) -> None:
    book = AccountBook(store)
    alice = book.authenticate("alice", ADMIN_PW)
    olga = book.authenticate("olga", OPERATOR_PW)
    with pytest.raises(NotAuthorisedError):
        book.set_password(olga, "olga", "grape-lantern-47", "wrong current")
    with pytest.raises(InputError, match="at least"):
        book.set_password(olga, "olga", "short", OPERATOR_PW)
    book.set_password(olga, "olga", "grape-lantern-47", OPERATOR_PW)
    with pytest.raises(NotAuthorisedError):
        book.set_password(olga, "alice", "grape-lantern-47")  # an operator resets nobody else
    book.set_password(alice, "olga", "second-grape-lantern")
    assert book.authenticate("olga", "second-grape-lantern").name == "olga"
    assert book.state().mode == AccountsMode.ACTIVE  # every change went through the history


def test_the_password_hook_sees_admin_passwords_and_can_refuse(tmp_path: Path) -> None:
    seen: list[PasswordChange] = []
    with Store(tmp_path / "f.db") as store:
        book = AccountBook(store)
        book.password_hook = seen.append
        book.setup("alice", ADMIN_PW)
        alice = book.authenticate("alice", ADMIN_PW)
        book.add(alice, "olga", Role.OPERATOR, OPERATOR_PW)  # not an admin: no call
        book.set_password(alice, "alice", "grape-lantern-47", ADMIN_PW)
        assert [(c.account, c.reason, c.old, c.new, c.actor) for c in seen] == [
            ("alice", "setup", None, ADMIN_PW, "alice"), ("alice", "change", ADMIN_PW, "grape-lantern-47", "alice")]

        def refuse(change: PasswordChange) -> None:
            raise InputError("the key could not be re-wrapped")

        book.password_hook = refuse
        with pytest.raises(InputError, match="re-wrapped"):
            book.set_password(alice, "alice", "third-grape-lantern", "grape-lantern-47")
        assert book.authenticate("alice", "grape-lantern-47").name == "alice"  # nothing changed
        assert book.state().mode == AccountsMode.ACTIVE


def test_the_first_admin_retires_the_pin(tmp_path: Path) -> None:
    with Store(tmp_path / "f.db") as store:
        AdminPin(store).set_admin_pin("731904")
        book = AccountBook(store)
        assert book.state().mode == AccountsMode.OPEN
        with pytest.raises(InputError):
            book.setup("alice", "alice-2024")  # weak: nothing created
        assert book.state().mode == AccountsMode.OPEN
        book.setup("alice", ADMIN_PW)
        assert not store.has_setting("admin_pin")
        reset = [r for r in store.audit_log(10) if r.action == "settings.reset"]
        assert reset and reset[0].details["key"] == "admin_pin" and reset[0].actor == "alice"
        with pytest.raises(NotAuthorisedError):
            book.setup("mallory", "grape-lantern-47")  # only the first account comes without credentials


# ------------------------------------------------------------------ tampering
TAMPERING = {
    "rows deleted": ["DELETE FROM accounts"],
    "the admin deleted": ["DELETE FROM accounts WHERE name = 'alice'"],
    "an admin inserted": [f"INSERT INTO accounts (name, name_key, role, password_hash, created_at, updated_at) "
                          f"VALUES ('eve', 'eve', 'admin', '{hash_secret('grape-lantern-47')}', 'x', 'x')"],
    "a role raised": ["UPDATE accounts SET role = 'admin' WHERE name = 'olga'"],
    "a hash swapped": [f"UPDATE accounts SET password_hash = '{hash_secret('grape-lantern-47')}' "
                       "WHERE name = 'alice'"],
    "a disabled account enabled": ["UPDATE accounts SET disabled = 0 WHERE name = 'vic'"],
    "the table dropped": ["DROP TABLE accounts"],
    "the table emptied and the history erased": [
        "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE action LIKE 'account.%'", "DELETE FROM accounts"],
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampering_fails_closed(db: Path, case: str) -> None:
    sql(db, *TAMPERING[case])
    with Store(db) as store:
        book = AccountBook(store)
        state = book.state()
        assert state.mode == AccountsMode.TAMPERED, state
        assert "recover" in state.summary()
        for name, pw in (("alice", ADMIN_PW), ("eve", "grape-lantern-47"), ("olga", OPERATOR_PW)):
            with pytest.raises(NotAuthorisedError) as refused:
                book.authenticate(name, pw)
            assert refused.value.reason == Refusal.TAMPERED
        with pytest.raises(NotAuthorisedError):
            book.setup("mallory", "grape-lantern-47")  # "deleting the rows resets it" no longer works


def test_the_history_itself_cannot_be_deleted(db: Path) -> None:
    with pytest.raises(sqlite3.DatabaseError, match="cannot be deleted"):
        sql(db, "DELETE FROM audit WHERE action LIKE 'account.%'")


def test_a_fresh_database_is_open(tmp_path: Path) -> None:
    with Store(tmp_path / "f.db") as store:
        assert AccountBook(store).state().mode == AccountsMode.OPEN
        store.audit("cli", "settings.update", {})
    sql(tmp_path / "f.db", "DROP TRIGGER audit_no_update", "UPDATE audit SET actor = 'x'")
    with Store(tmp_path / "f.db") as store:  # an edited row is for `audit verify`: still open
        assert AccountBook(store).state().mode == AccountsMode.OPEN
    sql(tmp_path / "f.db", "DROP TRIGGER audit_no_delete", "DELETE FROM audit")
    with Store(tmp_path / "f.db") as store:  # deleted rows could have been the accounts' history
        state = AccountBook(store).state()
        assert state.mode == AccountsMode.TAMPERED and "1 audit row deleted" in state.problems[0]


# ------------------------------------------------------------------ recovery
def test_recovery_works_once_and_repairs_a_tampered_table(site: tuple[Path, str], db: Path) -> None:
    code = site[1]
    sql(db, "DELETE FROM accounts WHERE name = 'alice'", "UPDATE accounts SET role = 'admin' WHERE name = 'olga'",
        TAMPERING["an admin inserted"][0])
    with Store(db) as store:
        book = AccountBook(store)
        assert book.state().mode == AccountsMode.TAMPERED
        with pytest.raises(NotAuthorisedError) as wrong:
            book.recover("AAAAA-BBBBB-CCCCC-DDDDD-EEEEE", "grape-lantern-47")
        assert wrong.value.reason == Refusal.WRONG
        with pytest.raises(InputError):
            book.recover(code, "alice123456")  # weak: the code is not spent
        admin, fresh = book.recover(code.lower().replace("-", " "), "grape-lantern-47")
        assert admin.name == "alice" and admin.role == Role.ADMIN and fresh != code
        assert book.state().mode == AccountsMode.ACTIVE
        assert {a.name: a.role for a in book.accounts()} == {"alice": Role.ADMIN, "olga": Role.OPERATOR,
                                                            "vic": Role.VIEWER}
        assert book.authenticate("olga", OPERATOR_PW).role == Role.OPERATOR  # its hash was intact
        with pytest.raises(NotAuthorisedError) as used:
            book.recover(code, "another-grape-lantern")
        assert used.value.reason == Refusal.WRONG and "once" in str(used.value)
        again, _ = book.recover(fresh, "another-grape-lantern")
        assert again.name == "alice" and book.authenticate("alice", "another-grape-lantern").name == "alice"
        actions = [r.action for r in store.audit_log(40)]
        assert "account.recover" in actions and actions.count("account.recovery_used") == 2
        assert "account.recovery_failed" in actions


def test_an_altered_hash_must_be_reset_after_recovery(site: tuple[Path, str], db: Path) -> None:
    sql(db, f"UPDATE accounts SET password_hash = '{hash_secret('grape-lantern-47')}' WHERE name = 'olga'")
    with Store(db) as store:
        book = AccountBook(store)
        book.recover(site[1], "another-grape-lantern")
        olga = book.account("olga")
        assert olga is not None and not olga.has_password and not olga.can_log_in
        with pytest.raises(NotAuthorisedError):
            book.authenticate("olga", "grape-lantern-47")  # the intruder's password does not work
        alice = book.authenticate("alice", "another-grape-lantern")
        book.set_password(alice, "olga", "fresh-copper-lantern")
        assert book.authenticate("olga", "fresh-copper-lantern").name == "olga"
        assert book.state().mode == AccountsMode.ACTIVE


def test_no_recovery_without_accounts(tmp_path: Path) -> None:
    with Store(tmp_path / "f.db") as store, pytest.raises(NotAuthorisedError, match="was ever issued"):
        AccountBook(store).recover("AAAAA-BBBBB-CCCCC-DDDDD-EEEEE", "grape-lantern-47")
