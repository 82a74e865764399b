"""The recovery code also wraps the data key (issue 12): after a forgotten admin password on a data
folder moved to another computer (another key folder: the face data is locked), recovering the
admin account with the code also unlocks the face data (the gallery loads again), the new code
wraps it in place of the used one, and the used code opens nothing any more. The same through the
real command line (``facegate account recover``, which wires the same hooks)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.errors import InputError
from desktop_app.core.protection.machine_keys import KEY_DIR_ENV
from desktop_app.core.service import FaceGate

ADMIN_PW = "correct horse battery"
NEW_PW = "Quartz-Lantern-81-door"
LIN = "Lin-Manuel Miranda"
CODE = re.compile(r"Recovery code \(shown once[^)]*\): ([0-9A-Z-]{29})")

pytestmark = pytest.mark.slow


def test_the_recovery_code_recovers_the_face_data(clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "data" / "facegate.db"
    db.parent.mkdir(mode=0o700)
    with FaceGate(db, device="cpu") as gate:
        code = gate.setup_first_admin("alice", ADMIN_PW)
        assert gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"]).added
        status = gate.key_status()
        assert status.recovery_code and status.password_accounts == ("alice",)
        assert "recovery code: also unwraps it" in "\n".join(status.lines())
    cli_copy = tmp_path / "cli-copy"
    shutil.copytree(db.parent, cli_copy)

    monkeypatch.setenv(KEY_DIR_ENV, str(tmp_path / "second-computer-keys"))  # moved, and the password forgotten
    with FaceGate(db, device="cpu", allow_locked=True) as gate:
        assert gate.data_locked is not None and len(gate.gallery) == 0
        account, fresh = gate.recover_account(code, NEW_PW)
        assert account.name == "alice" and fresh != code
        assert gate.data_locked is None and gate.gallery_stats().persons == 1, "the face data came back"
        assert gate.login("alice", NEW_PW).name == "alice"
        status = gate.key_status()
        assert status.recovery_code and status.password_accounts == ("alice",)
    moved_again = tmp_path / "third"
    shutil.copytree(db.parent, moved_again)
    monkeypatch.setenv(KEY_DIR_ENV, str(tmp_path / "third-computer-keys"))
    with FaceGate(moved_again / db.name, device="cpu", allow_locked=True) as gate:
        for old in (code, ADMIN_PW):
            with pytest.raises(InputError, match="does not unlock"):
                gate.unlock_with_password(old)
        assert gate.unlock_with_password(fresh.replace("-", ""))  # the new code, in its canonical form
        assert gate.gallery_stats().persons == 1

    env = {**os.environ, KEY_DIR_ENV: str(tmp_path / "cli-computer-keys"), "FACEGATE_HOME": str(tmp_path / "home")}

    def facegate(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "desktop_app", *args], input=stdin, capture_output=True,
                              text=True, env=env, timeout=300)
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
        return proc

    cli_db = str(cli_copy / db.name)
    recovered = facegate("account", "recover", "--db", cli_db, "--password-stdin", stdin=f"{code}\n{NEW_PW}\n")
    assert recovered.returncode == 0 and CODE.search(recovered.stdout), recovered.stderr
    identified = facegate("identify", "--db", cli_db, "--account", "alice", "--password-stdin",
                          str(clips / "lin-manuel-miranda.png"), stdin=NEW_PW + "\n")
    assert identified.returncode == 0 and LIN in identified.stdout, identified.stderr
