"""The command line with accounts (issue 12), as real processes on a real database: before the first
account it works as before; once one exists it refuses enroll, erase and the exports without
credentials (exit 4) and accepts them with ``--password-stdin``, writing the account's name to the
audit log; roles are enforced; the lock-out survives across processes; a tampered accounts table
fails closed and the recovery code (read from stdin) works once; a terminal is asked with getpass."""

from __future__ import annotations

import os
import pty
import re
import select
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from desktop_app.cli import build_parser
from desktop_app.cli_auth import EXIT_NOT_AUTHORISED, RULES, check_rules
from desktop_app.core.accounts.lockout import LOCK_AFTER
from desktop_app.core.storage.store import Store

ADMIN_PW = "correct horse battery"
OPERATOR_PW = "Tr0ub4dor&3x-gate"
CODE = re.compile(r"Recovery code \(shown once[^)]*\): ([0-9A-Z-]{29})")


def facegate(*args: object, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    extra: dict[str, object] = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run([sys.executable, "-m", "desktop_app", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600, **extra)  # type: ignore[call-overload]


def setup_admin(db: Path, home: Path, name: str = "alice") -> str:
    """The first account, through the CLI; the recovery code it printed."""
    out = facegate("account", "add", "--db", db, "--name", name, "--role", "admin", "--password-stdin",
                   home=home, stdin=ADMIN_PW + "\n")
    assert out.returncode == 0, out.stderr
    found = CODE.search(out.stdout)
    assert found, out.stdout
    return found.group(1)


def test_every_command_is_in_the_rules_table() -> None:
    assert check_rules(build_parser()) == []
    assert set(RULES) >= {"enroll", "erase", "events", "attendance", "audit list", "calibrate", "door open"}


def test_credentials_arguments_and_exit_status_are_documented() -> None:
    parser = build_parser()
    assert "4 not authorised" in " ".join((parser.epilog or "").split())
    args = parser.parse_args(["enroll", "--db", "x.db", "--name", "A", "--account", "bob", "--password-stdin", "a.jpg"])
    assert args.account == "bob" and args.password_stdin
    assert parser.parse_args(["people"]).account == "admin"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--password-stdin"])  # the door loop never asks


@pytest.mark.slow
def test_the_cli_refuses_without_credentials_and_accepts_with_them(tmp_path: Path, clips: Path) -> None:
    home, db = tmp_path, tmp_path / "data" / "facegate.db"
    lin, alex = clips / "lin-manuel-miranda.png", clips / "alex-lacamoire.png"
    out = facegate("enroll", "--db", db, "--name", "Lin-Manuel Miranda", lin, home=home)
    assert out.returncode == 0, out.stderr  # no account yet: as before
    setup_admin(db, home)
    exports = tmp_path / "exports"
    refused = [
        ("enroll", "--db", db, "--name", "Alex Lacamoire", alex),
        ("erase", "--db", db, "--name", "Lin-Manuel Miranda", "--yes"),
        ("events", "--db", db, "--csv", exports / "events.csv"),
        ("attendance", "--db", db, "--csv", exports / "attendance.csv"),
        ("audit", "list", "--db", db, "--csv", exports / "audit.csv"),
        ("calibrate", "--db", db),
        ("door", "add", "--db", db, "--name", "front", "--source", "0"),
        ("people", "--db", db),
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        outs = list(pool.map(lambda a: facegate(*a, home=home), refused))
    for args, out in zip(refused, outs, strict=True):
        assert out.returncode == EXIT_NOT_AUTHORISED, (args, out.stdout, out.stderr)
        assert "not authorised" in out.stderr and "--password-stdin" in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert not exports.exists()
    out = facegate("enroll", "--db", db, "--name", "Alex Lacamoire", alex, "--account", "alice",
                   "--password-stdin", home=home, stdin="not the password\n")
    assert out.returncode == EXIT_NOT_AUTHORISED and "Wrong account name or password" in out.stderr
    with Store(db) as store:
        assert [p.name for p in store.list_people()] == ["Lin-Manuel Miranda"]

    creds = ("--account", "alice", "--password-stdin")
    out = facegate("enroll", "--db", db, "--name", "Alex Lacamoire", alex, *creds, home=home, stdin=ADMIN_PW + "\n")
    assert out.returncode == 0, out.stderr
    out = facegate("events", "--db", db, "--csv", exports / "events.csv", *creds, home=home, stdin=ADMIN_PW + "\n")
    assert out.returncode == 0 and (exports / "events.csv").is_file(), out.stderr
    out = facegate("erase", "--db", db, "--name", "Lin-Manuel Miranda", "--yes", *creds, home=home,
                   stdin=ADMIN_PW + "\n")
    assert out.returncode == 0, out.stderr
    # an operator: sees the people, may not export; its name is in the audit log
    out = facegate("account", "add", "--db", db, "--name", "olga", "--role", "operator", *creds, home=home,
                   stdin=f"{ADMIN_PW}\n{OPERATOR_PW}\n")
    assert out.returncode == 0, out.stderr
    olga = ("--account", "olga", "--password-stdin")
    out = facegate("people", "--db", db, *olga, home=home, stdin=OPERATOR_PW + "\n")
    assert out.returncode == 0 and "Alex Lacamoire" in out.stdout, out.stderr
    out = facegate("attendance", "--db", db, "--csv", exports / "a.csv", *olga, home=home, stdin=OPERATOR_PW + "\n")
    assert out.returncode == EXIT_NOT_AUTHORISED and "(operator) may not export" in out.stderr, out.stderr
    assert not (exports / "a.csv").exists()
    with Store(db) as store:
        names = [p.name for p in store.list_people()]
        rows = [(r.actor, r.action) for r in store.audit_log(200)]
    assert names == ["Alex Lacamoire"]
    assert ("cli", "person.enrol") in rows  # before the first account
    for action in ("person.enrol", "events.export", "erase_person"):
        assert ("alice", action) in rows, (action, rows)
    assert ("olga", "account.refused") in rows and ("alice", "account.create") in rows
    assert ADMIN_PW not in str(rows) and OPERATOR_PW not in str(rows)


@pytest.mark.slow
def test_the_lockout_survives_across_processes(tmp_path: Path) -> None:
    home, db = tmp_path, tmp_path / "data" / "facegate.db"
    setup_admin(db, home)
    creds = ("--account", "alice", "--password-stdin")
    for _ in range(3):  # three processes, one wrong password each
        out = facegate("account", "list", "--db", db, *creds, home=home, stdin="wrong password\n")
        assert out.returncode == EXIT_NOT_AUTHORISED, out.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT failures FROM accounts WHERE name = 'alice'").fetchone()[0] == 3
    # nine failures long ago (the waits between them would take minutes here), then one more now
    conn.execute("UPDATE accounts SET failures = ?, last_failed_at = ? WHERE name = 'alice'",
                 (LOCK_AFTER - 1, time.time() - 3600))
    conn.commit()
    conn.close()
    out = facegate("account", "list", "--db", db, *creds, home=home, stdin="wrong password\n")
    assert out.returncode == EXIT_NOT_AUTHORISED and "locked for 15 minutes" in out.stderr, out.stderr
    out = facegate("account", "list", "--db", db, *creds, home=home, stdin=ADMIN_PW + "\n")  # a new process
    assert out.returncode == EXIT_NOT_AUTHORISED and "is locked" in out.stderr, out.stderr
    with Store(db) as store:
        actions = [r.action for r in store.audit_log(30)]
    assert actions.count("account.login_failed") == 5 and actions.count("account.locked") == 1


@pytest.mark.slow
def test_tampering_fails_closed_and_the_recovery_code_works_once(tmp_path: Path) -> None:
    home, db = tmp_path, tmp_path / "data" / "facegate.db"
    code = setup_admin(db, home)
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM accounts")  # "deleting one settings row resets it", now for accounts
    conn.commit()
    conn.close()
    creds = ("--account", "alice", "--password-stdin")
    out = facegate("door", "list", "--db", db, *creds, home=home, stdin=ADMIN_PW + "\n")
    assert out.returncode == EXIT_NOT_AUTHORISED, out.stderr
    assert "changed outside FaceGate" in out.stderr and "facegate account recover" in out.stderr
    out = facegate("door", "list", "--db", db, home=home)  # no credentials: refused too, without asking
    assert out.returncode == EXIT_NOT_AUTHORISED and "changed outside FaceGate" in out.stderr
    out = facegate("account", "add", "--db", db, "--name", "mallory", "--role", "admin", "--password-stdin",
                   home=home, stdin="grape-lantern-47\n")
    assert out.returncode == EXIT_NOT_AUTHORISED, out.stderr  # no new "first" admin
    out = facegate("account", "recover", "--db", db, "--password-stdin", home=home,
                   stdin=f"{code}\nsecond-grape-lantern\n")
    assert out.returncode == 0, out.stderr
    fresh = CODE.search(out.stdout)
    assert fresh and fresh.group(1) != code and "account 'alice' is missing" in out.stdout
    out = facegate("account", "recover", "--db", db, "--password-stdin", home=home,
                   stdin=f"{code}\nthird-grape-lantern\n")
    assert out.returncode == EXIT_NOT_AUTHORISED and "works once" in out.stderr, out.stderr
    out = facegate("door", "list", "--db", db, *creds, home=home, stdin="second-grape-lantern\n")
    assert out.returncode == 0 and "No door yet" in out.stdout, out.stderr


def _read_until(fd: int, needle: bytes, timeout: float = 120.0) -> bytes:
    data, deadline = b"", time.monotonic() + timeout
    while needle not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            data += chunk
    return data


@pytest.mark.slow
def test_a_terminal_is_asked_with_getpass(tmp_path: Path) -> None:
    home, db = tmp_path, tmp_path / "data" / "facegate.db"
    setup_admin(db, home, name="admin")
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    pid, fd = pty.fork()
    if pid == 0:  # the child: a real pseudo-terminal is its controlling terminal
        os.execve(sys.executable, [sys.executable, "-m", "desktop_app", "account", "list", "--db", str(db)], env)
    try:
        seen = _read_until(fd, b"Password for admin: ")
        assert b"Password for admin: " in seen, seen
        os.write(fd, (ADMIN_PW + "\n").encode())
        rest = _read_until(fd, b"1 account.")
    finally:
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, rest
    assert b"1 account." in rest and ADMIN_PW.encode() not in seen + rest  # not echoed
