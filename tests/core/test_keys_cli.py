"""``facegate keys status | rotate | rekey``, ``protect`` and ``unlock`` as real processes on a real
enrolled database: the password is read from standard input; on a "new machine" (another key
folder) every command that needs the face data refuses with the unlock command and exit 2 (no
traceback), ``keys status`` exits 1, and after ``unlock`` the door recognises again by itself."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.protection.machine_keys import KEY_DIR_ENV
from desktop_app.core.service import FaceGate

PASSWORD = "a door password of some length"
LIN = "Lin-Manuel Miranda"

pytestmark = pytest.mark.slow


def facegate(*args: str, stdin: str = "", key_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if key_dir is not None:
        env[KEY_DIR_ENV] = str(key_dir)
    proc = subprocess.run([sys.executable, "-m", "desktop_app", *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=600)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    folder = tmp_path_factory.mktemp("keys-cli") / "data"
    folder.mkdir(mode=0o700)
    with FaceGate(folder / "facegate.db", device="cpu") as gate:
        assert gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"]).added
    return folder / "facegate.db"


@pytest.fixture
def db(enrolled: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(enrolled.parent, dst)
    return dst / enrolled.name


def status(db: Path, key_dir: Path | None = None) -> tuple[int, dict[str, object]]:
    proc = facegate("keys", "status", "--db", str(db), "--json", key_dir=key_dir)
    return proc.returncode, json.loads(proc.stdout)


def test_status_protect_move_unlock_rotate(db: Path, tmp_path: Path, clips: Path) -> None:
    code, before = status(db)
    assert code == 0 and before["encrypted"] and not before["locked"] and before["state"] == "sealed"
    words = facegate("keys", "status", "--db", str(db))
    assert words.returncode == 0 and "encrypted (AES-256-GCM)" in words.stdout and "none (set one" in words.stdout

    short = facegate("protect", "--db", str(db), "--password-stdin", stdin="1234\n")
    assert short.returncode == 2 and "too short" in short.stderr
    for weak, why in (("password1234", "most common"), ("qwertyuiop", "sequence"), ("admin door 2024", "name")):
        refused = facegate("protect", "--db", str(db), "--password-stdin", stdin=weak + "\n")
        assert refused.returncode == 2 and why in refused.stderr, (weak, refused.stderr)
    done = facegate("protect", "--db", str(db), "--password-stdin", stdin=PASSWORD + "\r\n")
    assert done.returncode == 0, done.stderr
    assert status(db)[1]["password_accounts"] == ["admin"]

    new_machine = tmp_path / "new-machine-keys"
    photo = str(clips / "lin-manuel-miranda.png")
    refused = facegate("identify", "--db", str(db), photo, key_dir=new_machine)
    assert refused.returncode == 2
    assert f"facegate unlock --db {db} --password-stdin" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    code, locked = status(db, new_machine)
    assert code == 1 and locked["locked"] and locked["machine_key_id"] is None
    wrong = facegate("unlock", "--db", str(db), "--password-stdin", stdin="not the password at all\n",
                     key_dir=new_machine)
    assert wrong.returncode == 2 and "does not unlock" in wrong.stderr
    unlocked = facegate("unlock", "--db", str(db), "--password-stdin", stdin=PASSWORD + "\n", key_dir=new_machine)
    assert unlocked.returncode == 0 and "Unlocked" in unlocked.stdout, unlocked.stderr
    assert list(new_machine.glob("*.key")), "a machine key of the new computer"
    again = facegate("identify", "--db", str(db), photo, key_dir=new_machine)
    assert again.returncode == 0 and LIN in again.stdout, again.stderr
    nothing = facegate("unlock", "--db", str(db), "--password-stdin", stdin=PASSWORD + "\n", key_dir=new_machine)
    assert nothing.returncode == 0 and "not locked" in nothing.stdout
    code, after = status(db, new_machine)
    assert code == 0 and after["machine_key_id"] not in (None, before["machine_key_id"])

    rotated = facegate("keys", "rotate", "--db", str(db), key_dir=new_machine)
    assert rotated.returncode == 0 and "New machine key" in rotated.stdout
    code, last = status(db, new_machine)
    assert code == 0 and last["machine_key_id"] not in (None, after["machine_key_id"])
    assert facegate("identify", "--db", str(db), photo, key_dir=new_machine).returncode == 0


def test_rekey_with_the_password_keeps_the_password_wrap(db: Path) -> None:
    assert facegate("protect", "--db", str(db), "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    wrong = facegate("keys", "rekey", "--db", str(db), "--password-stdin", stdin="wrong password here\n")
    assert wrong.returncode == 2 and "wrong" in wrong.stderr
    rekey = facegate("keys", "rekey", "--db", str(db), "--password-stdin", stdin=PASSWORD + "\n")
    assert rekey.returncode == 0 and "replaced by 2" in rekey.stdout, rekey.stderr
    code, st = status(db)
    assert code == 0 and st["current_key_id"] == 2 and st["data_key_ids"] == [2]
    assert st["password_accounts"] == ["admin"] and st["plain_values"] == 0


def test_the_key_commands_need_an_existing_database(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.db"
    for args in (("keys", "status"), ("keys", "rotate"), ("unlock", "--password-stdin")):
        proc = facegate(*args, "--db", str(missing), stdin="whatever password\n")
        assert proc.returncode == 2 and "There is no database" in proc.stderr, proc.stderr
    assert not missing.exists(), "never created"


def test_protect_is_refused_once_accounts_protect_the_data(db: Path) -> None:
    with FaceGate(db, device="cpu") as gate:
        gate.setup_first_admin("boss", "Quartz-Lantern-81")
        assert gate.key_status().password_accounts == ("boss",)
    proc = facegate("protect", "--db", str(db), "--password-stdin", stdin=PASSWORD + "\n")
    assert proc.returncode == 4 and "not authorised" in proc.stderr, proc.stderr  # an admin's command (RULES)
    proc = facegate("protect", "--db", str(db), "--account", "boss", "--password-stdin",
                    stdin="Quartz-Lantern-81\n" + PASSWORD + "\n")
    assert proc.returncode == 2 and "has accounts" in proc.stderr, proc.stderr
