"""``facegate backup`` / ``restore`` as real processes on a real enrolled database with accounts:
refused without an admin's credentials (exit 4); with them the backup is written and audited
with the account's name; a wrong passphrase is one line and exit 2; restored on a "new computer"
(another machine-key folder, no database yet) the face data is locked until ``facegate unlock``
with the admin password of the backup, and then Lin is recognised there."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.protection.machine_keys import KEY_DIR_ENV
from desktop_app.core.service import FaceGate
from desktop_app.core.video.imageio import read_image

pytestmark = pytest.mark.slow  # eight processes, each opening the models

ADMIN_PW = "correct horse battery"
PASS = "the backup passphrase"
LIN = "Lin-Manuel Miranda"


def facegate(*args: object, home: Path, stdin: str | None = None,
             key_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    if key_dir is not None:
        env[KEY_DIR_ENV] = str(key_dir)
    extra: dict[str, object] = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    proc = subprocess.run([sys.executable, "-m", "desktop_app", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600, **extra)  # type: ignore[call-overload]
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


def test_backup_and_restore_commands(tmp_path: Path, clips: Path) -> None:
    home = tmp_path / "home"
    db = tmp_path / "data" / "facegate.db"
    with FaceGate(db, device="cpu") as gate:
        assert gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"]).added
    added = facegate("account", "add", "--db", db, "--name", "alice", "--role", "admin", "--password-stdin",
                     home=home, stdin=ADMIN_PW + "\n")
    assert added.returncode == 0, added.stderr
    out = tmp_path / "site.fgbak"

    refused = facegate("backup", "--db", db, "--out", out, "--passphrase-stdin", home=home, stdin=PASS + "\n")
    assert refused.returncode == 4 and not out.exists(), refused.stderr

    made = facegate("backup", "--db", db, "--out", out, "--account", "alice", "--password-stdin",
                    "--passphrase-stdin", home=home, stdin=f"{ADMIN_PW}\n{PASS}\n")
    assert made.returncode == 0 and out.is_file(), made.stderr
    assert "1 people, 1 templates" in made.stdout and "warning" not in made.stderr  # alice's password wraps the key
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT actor FROM audit WHERE action = 'backup.create'").fetchone()[0] == "alice"

    wrong = facegate("restore", "--db", db, "--from", out, "--yes", "--account", "alice", "--password-stdin",
                     "--passphrase-stdin", home=home, stdin=f"{ADMIN_PW}\nnot the passphrase\n")
    assert wrong.returncode == 2 and "does not open the backup" in wrong.stderr

    # a new computer: no database there yet (no account to log in to), another machine-key folder
    new_db = tmp_path / "new-computer" / "facegate.db"
    new_keys = tmp_path / "new-computer-keys"
    moved = facegate("restore", "--db", new_db, "--from", out, "--yes", "--passphrase-stdin", home=home,
                     stdin=PASS + "\n", key_dir=new_keys)
    assert moved.returncode == 0, moved.stderr
    assert "locked on this computer" in moved.stderr and "facegate unlock" in moved.stderr
    unlocked = facegate("unlock", "--db", new_db, "--password-stdin", home=home, stdin=ADMIN_PW + "\n",
                        key_dir=new_keys)
    assert unlocked.returncode == 0, unlocked.stderr
    os.environ[KEY_DIR_ENV], before = str(new_keys), os.environ.get(KEY_DIR_ENV)
    try:
        with FaceGate(new_db, device="cpu") as gate:
            found = gate.identify(read_image(clips / "lin-manuel-miranda.png"))
            assert found and found[0].accepted and found[0].name == LIN
    finally:
        if before is None:
            del os.environ[KEY_DIR_ENV]
        else:
            os.environ[KEY_DIR_ENV] = before
