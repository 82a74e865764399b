"""The key commands with accounts, through the real command line. ``keys status`` needs an
account (a viewer's right), ``protect``, ``keys rotate`` and ``keys rekey`` an admin's; ``unlock``
needs none (its password is the credential). A demoted or removed admin loses the password wrap of
the data key through the CLI as through the app (one hook, ``AccountBook.admin_gone_hook``):
afterwards ``keys status`` no longer lists the account and ``facegate unlock`` with its password
fails on a "new computer" (another key folder), while the remaining admin's password still unlocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.protection.machine_keys import KEY_DIR_ENV

ALICE_PW = "correct horse battery"
BOB_PW = "Tr0ub4dor&3x-gate"
CAROL_PW = "Quartz-Lantern-81-door"

pytestmark = pytest.mark.slow


def facegate(*args: object, home: Path, stdin: str = "",
             key_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    if key_dir is not None:
        env[KEY_DIR_ENV] = str(key_dir)
    proc = subprocess.run([sys.executable, "-m", "desktop_app", *map(str, args)], input=stdin, capture_output=True,
                          text=True, env=env, timeout=300)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


def wrapped(db: Path, home: Path) -> list[str]:
    proc = facegate("keys", "status", "--db", db, "--json", "--account", "alice", "--password-stdin",
                    home=home, stdin=ALICE_PW + "\n")
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout)["password_accounts"])


def site(tmp_path: Path, *accounts: tuple[str, str, str]) -> tuple[Path, Path]:
    """(database, FACEGATE_HOME) with the admin alice, then each (name, password, role), through the CLI."""
    home = tmp_path / "home"
    db = tmp_path / "data" / "facegate.db"
    db.parent.mkdir(mode=0o700)
    assert facegate("account", "add", "--db", db, "--name", "alice", "--role", "admin", "--password-stdin",
                    home=home, stdin=ALICE_PW + "\n").returncode == 0
    for name, pw, role in accounts:
        added = facegate("account", "add", "--db", db, "--account", "alice", "--password-stdin", "--name", name,
                         "--role", role, home=home, stdin=f"{ALICE_PW}\n{pw}\n")
        assert added.returncode == 0, added.stderr
    return db, home


def test_cli_demote_and_remove_drop_the_password_wrap(tmp_path: Path) -> None:
    db, home = site(tmp_path, ("bob", BOB_PW, "admin"), ("carol", CAROL_PW, "admin"))
    assert wrapped(db, home) == ["alice", "bob", "carol"]

    demoted = facegate("account", "set", "--db", db, "--account", "alice", "--password-stdin", "--name", "bob",
                       "--role", "operator", home=home, stdin=ALICE_PW + "\n")
    assert demoted.returncode == 0, demoted.stderr
    removed = facegate("account", "remove", "--db", db, "--account", "alice", "--password-stdin", "--name", "carol",
                       home=home, stdin=ALICE_PW + "\n")
    assert removed.returncode == 0, removed.stderr
    assert wrapped(db, home) == ["alice"]

    new_machine = tmp_path / "new-machine-keys"
    for pw in (BOB_PW, CAROL_PW):
        refused = facegate("unlock", "--db", db, "--password-stdin", home=home, stdin=pw + "\n", key_dir=new_machine)
        assert refused.returncode == 2 and "does not unlock" in refused.stderr, refused.stderr
    unlocked = facegate("unlock", "--db", db, "--password-stdin", home=home, stdin=ALICE_PW + "\n",
                        key_dir=new_machine)
    assert unlocked.returncode == 0 and "Unlocked" in unlocked.stdout, unlocked.stderr


def test_the_key_commands_need_the_right_account(tmp_path: Path) -> None:
    db, home = site(tmp_path, ("bob", BOB_PW, "operator"), ("vic", CAROL_PW, "viewer"))

    for args in (("keys", "status"), ("keys", "rotate"), ("keys", "rekey"), ("protect",)):
        bare = facegate(*args, "--db", db, "--password-stdin", home=home, stdin="")
        assert bare.returncode == 4 and "not authorised" in bare.stderr, (args, bare.stderr)
    viewer = facegate("keys", "status", "--db", db, "--json", "--account", "vic", "--password-stdin", home=home,
                      stdin=CAROL_PW + "\n")
    assert viewer.returncode == 0 and json.loads(viewer.stdout)["password_accounts"] == ["alice"], viewer.stderr
    for args in (("keys", "rotate"), ("keys", "rekey"), ("protect",)):
        operator = facegate(*args, "--db", db, "--account", "bob", "--password-stdin", home=home,
                            stdin=BOB_PW + "\n")
        assert operator.returncode == 4 and "operator" in operator.stderr, (args, operator.stderr)

    rotated = facegate("keys", "rotate", "--db", db, "--account", "alice", "--password-stdin", home=home,
                       stdin=ALICE_PW + "\n")
    assert rotated.returncode == 0 and "New machine key" in rotated.stdout, rotated.stderr
    rekeyed = facegate("keys", "rekey", "--db", db, "--account", "alice", "--password-stdin", home=home,
                       stdin=ALICE_PW + "\n")
    assert rekeyed.returncode == 0 and "replaced by 2" in rekeyed.stdout, rekeyed.stderr
    assert "dropped" not in rekeyed.stderr, "alice's own password wraps the new key"
    assert "recovery code no longer unlocks" in rekeyed.stderr, rekeyed.stderr
    protect = facegate("protect", "--db", db, "--account", "alice", "--password-stdin", home=home,
                       stdin=ALICE_PW + "\n")
    assert protect.returncode == 2 and "has accounts" in protect.stderr, protect.stderr
    unlocked = facegate("unlock", "--db", db, "--password-stdin", home=home, stdin=ALICE_PW + "\n",
                        key_dir=tmp_path / "new-machine-keys")
    assert unlocked.returncode == 0 and "Unlocked" in unlocked.stdout, unlocked.stderr
    audit = facegate("audit", "list", "--db", db, "--account", "alice", "--password-stdin", home=home,
                     stdin=ALICE_PW + "\n", key_dir=tmp_path / "new-machine-keys")
    assert audit.returncode == 0, audit.stderr
    assert any("keys.machine.rotate" in line and "alice" in line for line in audit.stdout.splitlines()), audit.stdout
