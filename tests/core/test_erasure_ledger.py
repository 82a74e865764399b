"""The erasure ledger (docs/data-protection.md, "Erasure survives a restore") on real data: enrol
Lin and Alex from the clips photos, back up, erase Lin, restore: Lin is erased again (no row,
crop ciphertext or name in the database, its WAL or the gallery), Alex is back, the re-apply is
audited without naming anyone; the ledger holds no name; a damaged ledger refuses the restore
and warns at open; a backup taken while an erasure is recorded leaves the person out; a database
put back by hand is caught at the next open; a pre-uid backup is matched by the salted hash."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.backup import BackupError
from desktop_app.core.backup.restore import restore_backup
from desktop_app.core.backup.snapshot import ERASURES_MEMBER, create_backup
from desktop_app.core.erasures.ledger import ledger_path, read_ledger
from desktop_app.core.protection.password_kdf import KdfParams
from desktop_app.core.service import FaceGate
from desktop_app.core.storage.validate import name_key

PASS = "correct horse battery staple"
LIN = "Lin-Manuel Miranda"
ALEX = "Alex Lacamoire"
LIN_EMPLOYEE = "E-4711"


def light_kdf() -> KdfParams:
    return KdfParams(salt=os.urandom(16), time_cost=1, memory_kib=8 * 1024, parallelism=1)


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    folder = tmp_path_factory.mktemp("ledger") / "data"
    with FaceGate(folder / "facegate.db", device="cpu") as gate:
        assert gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"], employee_id=LIN_EMPLOYEE).added
        assert gate.enrol_images(ALEX, [clips / "alex-lacamoire.png"]).added
    return folder / "facegate.db"


@pytest.fixture
def db(enrolled: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(enrolled.parent, dst)
    return dst / enrolled.name


def lin_crops(db: Path) -> list[bytes]:
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        return [bytes(r[0]) for r in conn.execute(
            "SELECT s.crop_png FROM samples s JOIN people p ON p.id = s.person_id WHERE p.name = ?", (LIN,))]


def on_disk(db: Path) -> bytes:
    """The database file and its WAL, as bytes."""
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def assert_lin_gone(db: Path, crops: list[bytes]) -> None:
    with FaceGate(db, device="cpu") as gate:
        assert [p.name for p in gate.people()] == [ALEX]
        assert len(gate.gallery) == 1  # Alex's template only
        rows = gate.store.db.execute("SELECT details_json FROM audit WHERE action = 'erasure.reapply'").fetchall()
        assert rows and all(LIN not in str(r[0]) and "Lin" not in str(r[0]) for r in rows)
    blob = on_disk(db)
    assert crops and not any(c in blob for c in crops)
    assert LIN.encode() not in blob and LIN_EMPLOYEE.encode() not in blob


def test_backup_erase_restore_erases_again(db: Path, tmp_path: Path) -> None:
    crops = lin_crops(db)
    out = tmp_path / "site.fgbak"
    with FaceGate(db, device="cpu") as gate:
        gate.backup_to(out, PASS, actor="alice", kdf=light_kdf())
        lin = gate.find_person(LIN, LIN_EMPLOYEE)
        assert lin is not None
        gate.erase_person(lin.id, actor="alice")
    ledger = ledger_path(db)
    assert oct(ledger.stat().st_mode & 0o777) == "0o600" and len(read_ledger(ledger)) == 1
    text = ledger.read_bytes()
    assert b"Lin" not in text and b"Miranda" not in text and LIN_EMPLOYEE.encode() not in text
    assert set(json.loads(text)) == {"v", "uid", "at", "salt", "key"}
    report = FaceGate.restore_backup(db, out, PASS, actor="alice")
    assert report.erasures_reapplied == 1 and report.people == 2  # the archive held Lin; erased again at once
    assert_lin_gone(db, crops)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        (what,) = conn.execute("SELECT details_json FROM audit WHERE action = 'erasure.reapply'").fetchone()
        assert "erasure re-applied after restore" in what
    assert len(read_ledger(ledger)) == 1  # the target's ledger kept, nothing duplicated


def test_database_put_back_by_hand_is_caught_at_open(db: Path) -> None:
    crops = lin_crops(db)
    old = db.with_name("old-copy.db")
    shutil.copyfile(db, old)
    with FaceGate(db, device="cpu") as gate:
        lin = gate.find_person(LIN, LIN_EMPLOYEE)
        assert lin is not None
        gate.erase_person(lin.id)
    with FaceGate(db, device="cpu") as gate:  # the cheap check: nothing to do
        assert gate.erasures_reapplied_at_start == 0
    os.replace(old, db)
    db.with_name(db.name + "-wal").unlink(missing_ok=True)
    with FaceGate(db, device="cpu") as gate:
        assert gate.erasures_reapplied_at_start == 1
    assert_lin_gone(db, crops)


def test_damaged_ledger_refuses_restore_and_warns_at_open(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "site.fgbak"
    create_backup(db, out, PASS, kdf=light_kdf())
    ledger_path(db).write_bytes(b'{"v":1,"uid":"x"\n')
    before = db.read_bytes()
    with pytest.raises(BackupError, match=r"damaged at line 1.*restore.*refused; nothing was changed"):
        restore_backup(db, out, PASS, "test")
    assert db.read_bytes() == before
    with pytest.raises(BackupError, match=r"damaged.*backup is refused"):
        create_backup(db, tmp_path / "again.fgbak", PASS, kdf=light_kdf())
    with FaceGate(db, device="cpu") as gate:
        assert any("erasure ledger" in w and "damaged" in w for w in gate.storage_warnings)


def test_backup_leaves_out_an_erasure_in_flight(db: Path, tmp_path: Path) -> None:
    """The ledger line is written (fsynced) before the rows go: a backup whose snapshot still
    holds the person erases them in its copy; a restore on a new machine merges the ledger."""
    with FaceGate(db, device="cpu") as gate:
        lin = gate.find_person(LIN, LIN_EMPLOYEE)
        assert lin is not None
        gate._ledger_record(lin.id)  # the erase path's first step, as if the erasure were still running
    out = tmp_path / "site.fgbak"
    report = create_backup(db, out, PASS, kdf=light_kdf())
    assert report.people == 1 and ERASURES_MEMBER in report.files
    other = tmp_path / "new-machine" / "facegate.db"
    restore_backup(other, out, PASS, "test")
    with contextlib.closing(sqlite3.connect(other)) as conn, conn:
        assert [r[0] for r in conn.execute("SELECT name FROM people")] == [ALEX]
    assert len(read_ledger(ledger_path(other))) == 1
    assert LIN.encode() not in on_disk(other)


def test_backup_from_before_uids_matched_by_salted_hash(db: Path) -> None:
    """A pre-migration-12 backup gets new random uids when migrated: the restore marks it legacy
    and the person is found by the salted hash of name key and employee id (created before the
    erasure); someone enrolled after the erasure under that name is left alone."""
    with FaceGate(db, device="cpu") as gate:
        lin = gate.find_person(LIN, LIN_EMPLOYEE)
        assert lin is not None
        gate._ledger_record(lin.id)
        entry = read_ledger(ledger_path(db))[0]
        assert entry.matches_key(name_key(LIN), LIN_EMPLOYEE) and not entry.matches_key(name_key(LIN), None)
        conn = gate.store.db.conn
        conn.execute("UPDATE people SET uid = lower(hex(randomblob(16))) WHERE id = ?", (lin.id,))
        assert gate.reapply_erasures() == 0  # by uid only: not found
        (created,) = conn.execute("SELECT created_at FROM people WHERE id = ?", (lin.id,)).fetchone()
        conn.execute("UPDATE people SET created_at = '2999-01-01T00:00:00+00:00' WHERE id = ?", (lin.id,))
        assert gate.reapply_erasures(legacy=True) == 0  # enrolled after the erasure: someone new, left alone
        conn.execute("UPDATE people SET created_at = ? WHERE id = ?", (created, lin.id))
        assert gate.reapply_erasures(after_restore=True, legacy=True) == 1
        assert [p.name for p in gate.people()] == [ALEX]
        (matched,) = conn.execute("SELECT details_json FROM audit WHERE action = 'erasure.reapply'").fetchone()
        assert "identity hash" in matched


def test_central_tombstone_is_recorded_in_the_ledger(db: Path) -> None:
    """A central erasure applied at a door goes through ``erase_person``: in the ledger too."""
    from desktop_app.core.central.client import RosterChange
    from desktop_app.core.storage.replica import DocKind

    with FaceGate(db, device="cpu") as gate:
        lin = gate.find_person(LIN, LIN_EMPLOYEE)
        assert lin is not None
        uid = gate.store.person_uid(lin.id)
        assert uid is not None
        assert gate.apply_central_changes([RosterChange(DocKind.PERSON, uid, 7, None)], 7)[2] == 1
        assert [p.name for p in gate.people()] == [ALEX]
    assert [e.uid for e in read_ledger(ledger_path(db))] == [uid]


def test_erasure_recorded_while_the_backup_runs_starts_it_over(db: Path, tmp_path: Path) -> None:
    """An erasure recorded after the copy was scrubbed but before the archive is in place: the
    final check (under the guard) sees it and the backup starts over, leaving the person out."""
    import contextlib

    from desktop_app.core.erasures.ledger import LedgerEntry, append_entries

    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        (uid,) = conn.execute("SELECT uid FROM people WHERE name = ?", (LIN,)).fetchone()
    entered: list[int] = []

    @contextlib.contextmanager
    def guard() -> Iterator[None]:
        if not entered:  # an erasure of Lin begins while the first archive is being written
            append_entries(ledger_path(db), [LedgerEntry.new(str(uid), name_key(LIN), LIN_EMPLOYEE)])
        entered.append(1)
        yield

    out = tmp_path / "site.fgbak"
    report = create_backup(db, out, PASS, kdf=light_kdf(), guard=guard)
    assert len(entered) == 2 and report.people == 1
    restore_backup(tmp_path / "other" / "facegate.db", out, PASS, "test")
    with contextlib.closing(sqlite3.connect(tmp_path / "other" / "facegate.db")) as conn, conn:
        assert [r[0] for r in conn.execute("SELECT name FROM people")] == [ALEX]
