"""A read-only data folder (issue 9, item 12): ``identify`` and ``run`` work on a database they
may not write, computing what they need (here the calibration, which is stale) in memory and
saving nothing, and say once "read-only: changes are not saved".

The test runs as root, which ignores file permissions, so the folder is made read-only the way a
read-only share or medium is: a read-only bind mount in a private mount namespace
(``unshare -m``); the test is skipped where that is not allowed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.errors import StorageError
from desktop_app.core.storage.store import Store

from .damaged_db import LIN, copy_real_db, sql

READ_ONLY = "read-only: changes are not saved"
_MOUNT_RO = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


def _read_only_prefix(folder: Path) -> list[str]:
    """The command prefix that runs a program with ``folder`` mounted read-only."""
    return ["unshare", "-m", "sh", "-c", _MOUNT_RO, str(folder)]


def _can_mount_read_only(folder: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*_read_only_prefix(folder), "sh", "-c", f'! touch "{folder}/.probe"'],
                           capture_output=True, timeout=30)
    (folder / ".probe").unlink(missing_ok=True)
    return probe.returncode == 0


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEGATE_HOME": str(folder.parent / "home"), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([*_read_only_prefix(folder), sys.executable, "-m", "desktop_app", *args],
                          capture_output=True, text=True, env=env, timeout=600, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def ro_folder(tmp_path_factory: pytest.TempPathFactory, real_db_template: Path) -> Path:
    folder = tmp_path_factory.mktemp("read-only") / "data"
    db = copy_real_db(real_db_template, folder)
    sql(db, "DELETE FROM calibrations")  # stale: opening must recalibrate, which used to be saved
    (folder / "models" / ".lock").unlink(missing_ok=True)
    if not _can_mount_read_only(folder):
        pytest.skip("cannot mount a folder read-only here (unshare -m / mount --bind not permitted)")
    return folder


@pytest.mark.slow
def test_identify_and_run_work_on_a_read_only_folder(ro_folder: Path, clips: Path) -> None:
    db = ro_folder / "facegate.db"
    before = _tree(ro_folder)
    ident = _cli(ro_folder, "identify", "--db", str(db), "--device", "cpu", "--json",
                 str(clips / "lin-manuel-miranda.png"), str(clips / "knn_examples" / "test" / "obama1.jpg"))
    assert ident.returncode == 0, ident.stderr
    names = [json.loads(line)["name"] for line in ident.stdout.splitlines()]
    assert names == [LIN, "obama"], ident.stdout
    assert ident.stderr.count(READ_ONLY) == 1, ident.stderr

    run = _cli(ro_folder, "run", "--db", str(db), "--device", "cpu", "--source",
               str(clips / "short_hamilton_clip.mp4"), "--headless", "--max-frames", "30")
    assert run.returncode == 0, run.stderr
    assert f"granted {LIN}" in run.stdout, run.stdout
    assert "30 frames" in run.stdout
    assert run.stderr.count(READ_ONLY) == 1 and "Traceback" not in run.stderr, run.stderr
    assert _tree(ro_folder) == before  # nothing written: no calibration, event, lock or temp file


@pytest.mark.slow
def test_writes_on_a_read_only_folder_fail_clearly(ro_folder: Path, clips: Path) -> None:
    out = _cli(ro_folder, "enroll", "--db", str(ro_folder / "facegate.db"), "--device", "cpu",
               "--name", "Alex Lacamoire", str(clips / "alex-lacamoire.png"))
    assert out.returncode == 2, out.stderr
    assert "read-only" in out.stderr.splitlines()[-1] and "Traceback" not in out.stderr, out.stderr


def test_a_read_only_store_reads_and_refuses_writes(tmp_path: Path) -> None:
    """``Store(read_only=True)``: reads work, nothing is migrated or created, writes fail clearly."""
    db = tmp_path / "facegate.db"
    with Store(db) as store:
        store.add_person("Ada Lovelace")
    with Store(db, read_only=True) as store:
        assert store.read_only and store.open_warnings[0].startswith(READ_ONLY)
        assert [p.name for p in store.list_people()] == ["Ada Lovelace"]
        with pytest.raises(StorageError, match="read-only"):
            store.add_person("Mallory")
    with Store(db) as store:
        assert not store.read_only and [p.name for p in store.list_people()] == ["Ada Lovelace"]


def test_a_missing_database_in_read_only_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        Store(tmp_path / "none.db", read_only=True)
    assert not (tmp_path / "none.db").exists()
