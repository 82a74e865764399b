"""Making a backup: a consistent copy of the database while the door runs, plus what else in the
data folder matters, written as one encrypted archive (``archive``).

What goes in (tar members of the encrypted stream):

- ``database/facegate.db``: the database, copied with SQLite's online backup API
  (``sqlite3.Connection.backup``) from a read transaction held for the whole copy, so the copy is
  one consistent snapshot even while the door keeps writing events (WAL mode: writers are not
  blocked and do not restart the copy). Face data in it stays encrypted with the data key.
- ``spool/events.spool``: events the door decided but could not write yet (``<db>.spool``),
  complete lines only; the store skips an event uid it already holds, so an event that is in
  both the database and the spool is never restored twice.
- ``models/<file>``: embedding models registered inside the data folder (fine-tuned ones), each
  checked against its registered sha256. The default model is left out: FaceGate rebuilds it
  from the shipped file.
- ``erasures/erasures.jsonl``: the erasure ledger ``<db>.erasures`` as it was when the database
  copy was scrubbed (see below); a restore merges it into the target's own ledger.
- ``manifest.json``: every member with its size and sha256, and the snapshot's counts.

Erasures and backups are ordered: after the copy, every erasure in the ledger whose person is in
the copy is done in the copy (``Store.erase_person``: rows, crops, templates, event faces, WAL),
their spooled events are left out; and just before the finished archive is renamed into place
(under ``guard``, the ``FaceGate`` lock that the erase path holds) the ledger is read again: an
erasure recorded meanwhile of someone in the copy makes the backup start over (once; then it
fails). So no finished backup holds someone whose erasure finished before it.

Left out on purpose: the HNSW gallery files (rebuilt, encrypted, from the database at the first
start), the audit head file (a restore writes a new one after its audit row), the disk-space
reserve, the machine key (never: the admin password opens the data key elsewhere).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Final

from desktop_app import __version__
from desktop_app.core.backup.archive import CHUNK_BYTES, BackupError, BackupHeader, EncryptingWriter, key_check
from desktop_app.core.backup.records import BackupReport
from desktop_app.core.erasures.ledger import LedgerDamagedError, LedgerEntry, ledger_path, read_ledger
from desktop_app.core.errors import InputError
from desktop_app.core.file_modes import create_private_file
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.protection.password_kdf import KdfParams, derive_key
from desktop_app.core.protection.wraps import read_row

DB_MEMBER: Final[str] = "database/facegate.db"
SPOOL_MEMBER: Final[str] = "spool/events.spool"
MANIFEST_MEMBER: Final[str] = "manifest.json"
ERASURES_MEMBER: Final[str] = "erasures/erasures.jsonl"
MODELS_PREFIX: Final[str] = "models/"
#: the default model's file: rebuilt from the shipped model, never backed up
DEFAULT_MODEL_FILE: Final[str] = "models/sface-2021dec-fp32.onnx"
#: database pages copied per step of the online backup (progress is reported between steps)
PAGES_PER_STEP: Final[int] = 1024


def spool_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".spool")


@dataclass(frozen=True)
class _Snapshot:
    schema_version: int
    database_uid: str | None
    people: int
    templates: int
    events: int
    password_wraps: int
    models: tuple[tuple[str, str], ...]  # (stored relative path, sha256) inside the data folder


class HashingReader:
    """Reads ``src`` and hashes what was read, SHA-256 of every byte (tar pulls members through it;
    the restore reads an archive through it)."""

    def __init__(self, src: BinaryIO) -> None:
        self.src = src
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.sha.update(data)
        return data


class _CountingFile:
    """The archive file: counts and hashes what is written."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)


def _count(conn: sqlite3.Connection, table: str) -> int:
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.Error:
        return 0


def copy_database(db_path: Path, dest: Path, progress: ProgressFn | None = None,
                  cancelled: CancelFn | None = None) -> _Snapshot:
    """Copy ``db_path`` to the new file ``dest`` with the online backup API, from one read
    transaction (a consistent snapshot while other connections write); what the snapshot holds."""
    if not db_path.is_file() or db_path.stat().st_size == 0:
        raise BackupError(f"There is no database at {db_path} to back up.")
    src = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0, isolation_level=None)
    try:
        src.execute("PRAGMA busy_timeout = 10000")
        src.execute("BEGIN")  # the snapshot: every read below and the whole copy see the same commit
        version = int(src.execute("PRAGMA user_version").fetchone()[0])
        has = {str(r[0]) for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "people" not in has:
            raise BackupError(f"{db_path} is not a FaceGate database.")
        row = read_row(src) if "protection" in has else None
        wraps = int(src.execute("SELECT count(*) FROM key_wraps WHERE kind = 'password'").fetchone()[0]) \
            if "key_wraps" in has else 0
        models = tuple((str(p), str(s)) for p, s in src.execute("SELECT path, sha256 FROM models ORDER BY path"))
        snap = _Snapshot(version, None if row is None else row.database_uid, _count(src, "people"),
                         _count(src, "templates"), _count(src, "events"), wraps, models)
        create_private_file(dest)
        dst = sqlite3.connect(str(dest))
        try:
            def step(_status: int, remaining: int, total: int) -> None:
                if cancelled is not None and cancelled():
                    raise BackupError("The backup was cancelled.")
                if progress is not None:
                    progress(total - remaining, total, "copying the database")

            src.backup(dst, pages=PAGES_PER_STEP, progress=step)
            check = dst.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise BackupError(f"The copy of {db_path} fails SQLite's check ({check}): the database is damaged; "
                                  "run facegate doctor first.")
        finally:
            dst.close()
        src.execute("COMMIT")
        return snap
    except sqlite3.Error as exc:
        raise BackupError(f"Cannot copy the database {db_path}: {exc}") from exc
    finally:
        src.close()


def _spool_lines(db_path: Path) -> bytes:
    """The complete lines of the event spool (a line being appended is left to the next backup)."""
    path = spool_path(db_path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b""
    end = data.rfind(b"\n")
    return data[:end + 1] if end >= 0 else b""


def _model_files(db_path: Path, snap: _Snapshot) -> Iterator[tuple[str, Path, str]]:
    """(member name, file, sha256) of the registered models kept inside the data folder."""
    for stored, sha in snap.models:
        if os.path.isabs(stored) or stored == DEFAULT_MODEL_FILE:
            continue
        parts = PurePosixPath(stored).parts
        if not parts or parts[0] != "models" or ".." in parts:
            continue
        path = db_path.parent.joinpath(*parts)
        if path.is_file():
            yield "/".join(parts), path, sha


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> tuple[int, str]:
    info = tarfile.TarInfo(name)
    info.size = path.stat().st_size
    info.mode = 0o600
    info.mtime = int(time.time())
    with path.open("rb") as f:
        reader = HashingReader(f)
        tar.addfile(info, reader)
    return info.size, reader.sha.hexdigest()


class _ErasedMeanwhile(BackupError):
    """An erasure of someone in the copy was recorded while the backup was being written."""


def _ledger_bytes(db_path: Path) -> bytes:
    """The ledger's complete lines; BackupError when it is damaged (a backup would then be made
    without knowing who must stay erased)."""
    path = ledger_path(db_path)
    try:
        read_ledger(path)
        data = path.read_bytes()
    except FileNotFoundError:
        return b""
    except (LedgerDamagedError, OSError) as exc:
        raise BackupError(f"{exc} A backup is refused until it is repaired (docs/backup.md, 'Erasure survives a "
                          "restore').") from None
    end = data.rfind(b"\n")
    return data[:end + 1] if end >= 0 else b""


def _copy_uids(db_copy: Path) -> dict[str, int]:
    conn = sqlite3.connect(str(db_copy))
    try:
        cols = {str(r[1]) for r in conn.execute("PRAGMA table_info(people)")}
        if "uid" not in cols:
            return {}
        return {str(u): int(i) for i, u in conn.execute("SELECT id, uid FROM people WHERE uid IS NOT NULL")}
    finally:
        conn.close()


def _scrub_copy(db_copy: Path, ledger: bytes) -> tuple[int, ...]:
    """Erase in the copy everyone the ledger says was erased (the erase path of the store);
    returns the person ids erased in the copy."""
    from desktop_app.core.erasures.ledger import parse_ledger
    from desktop_app.core.storage.store import Store

    uids = _copy_uids(db_copy)
    pids = tuple(sorted({uids[e.uid] for e in parse_ledger(ledger, "") if e.uid in uids}))
    if not pids:
        return ()
    store = Store(db_copy)
    try:
        for pid in pids:
            store.erase_person(pid, actor="erasure-ledger")
            store.audit("erasure-ledger", "erasure.reapply", {"what": "erasure re-applied to the backup copy"})
    finally:
        store.close()
    return pids


def read_ledger_lines(data: bytes, seen: set[bytes]) -> list[LedgerEntry]:
    """The ledger records in ``data`` whose line is not in ``seen``."""
    from desktop_app.core.erasures.ledger import parse_ledger

    return parse_ledger(b"".join(line + b"\n" for line in data.splitlines() if line and line not in seen), "")


def _recount(snap: _Snapshot, db_copy: Path) -> _Snapshot:
    from dataclasses import replace

    conn = sqlite3.connect(str(db_copy))
    try:
        return replace(snap, people=_count(conn, "people"), templates=_count(conn, "templates"))
    finally:
        conn.close()


def _without_people(spool: bytes, pids: tuple[int, ...]) -> bytes:
    if not pids or not spool:
        return spool
    kept = []
    for line in spool.splitlines(keepends=True):
        try:
            pid = json.loads(line).get("person_id")
        except (ValueError, AttributeError):
            pid = None
        if pid not in pids:
            kept.append(line)
    return b"".join(kept)


def passphrase_problem(passphrase: str) -> str | None:
    """Why ``passphrase`` may not protect a new backup (the accounts' password rules: length,
    variety, no sequence, not a common password), or None when it may."""
    from desktop_app.core.accounts.policy import password_problem

    problem = password_problem(passphrase)
    return None if problem is None else problem.replace("The password", "The backup passphrase")


def create_backup(db_path: Path, out: Path, passphrase: str, *, progress: ProgressFn | None = None,
                  cancelled: CancelFn | None = None, kdf: KdfParams | None = None,
                  guard: Callable[[], contextlib.AbstractContextManager[object]] | None = None) -> BackupReport:
    """``_create_backup`` (below), started over once when an erasure of someone in the copy was
    recorded while it ran (module docstring); ``guard`` makes the final ledger check and the
    rename atomic with respect to this process's erasures (the ``FaceGate`` lock)."""
    try:
        return _create_backup(db_path, out, passphrase, progress=progress, cancelled=cancelled, kdf=kdf, guard=guard)
    except _ErasedMeanwhile:
        return _create_backup(db_path, out, passphrase, progress=progress, cancelled=cancelled, kdf=kdf, guard=guard)


def _create_backup(db_path: Path, out: Path, passphrase: str, *, progress: ProgressFn | None = None,
                   cancelled: CancelFn | None = None, kdf: KdfParams | None = None,
                   guard: Callable[[], contextlib.AbstractContextManager[object]] | None = None) -> BackupReport:
    """Write an encrypted backup of the data folder of ``db_path`` to the new file ``out`` (see
    the module docstring); the archive is written beside ``out`` and renamed into place only when
    complete. BackupError when ``out`` exists or the database cannot be copied; InputError for a
    weak passphrase (``passphrase_problem``). ``kdf``: argon2id parameters (tests and the bench use
    lighter ones; the default is ``KdfParams.new()``)."""
    weak = passphrase_problem(passphrase)
    if weak is not None:
        raise InputError(weak)
    db_path = Path(db_path)
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} already exists; choose a new file name for the backup.")
    if out.resolve().parent == db_path.resolve().parent and out.name.startswith(db_path.name):
        raise BackupError(f"Choose another name for the backup than {out.name}: names starting with the database's "
                          "are FaceGate's own files.")
    if not out.parent.is_dir():
        raise BackupError(f"The folder {out.parent} does not exist.")
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))  # 0700
    tmp_out = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        db_copy = work / "facegate.db"
        snap = copy_database(db_path, db_copy, progress, cancelled)
        ledger = _ledger_bytes(db_path)
        in_copy = _copy_uids(db_copy)
        scrubbed = _scrub_copy(db_copy, ledger)
        if scrubbed:
            snap = _recount(snap, db_copy)
        params = kdf or KdfParams.new()
        if progress is not None:
            progress(0, 1, "deriving the key from the passphrase")
        key = derive_key(passphrase, params)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        header = BackupHeader(format_version=1, kdf=params, created_at=created, database_uid=snap.database_uid,
                              schema_version=snap.schema_version, chunk_bytes=CHUNK_BYTES, key_check=key_check(key),
                              facegate_version=__version__)
        spool = _without_people(_spool_lines(db_path), scrubbed)
        models = list(_model_files(db_path, snap))
        manifest: dict[str, object] = {"created_at": created, "database_uid": snap.database_uid,
                                       "schema_version": snap.schema_version, "people": snap.people,
                                       "templates": snap.templates, "events": snap.events}
        members: list[dict[str, object]] = []
        create_private_file(tmp_out)
        with tmp_out.open("r+b") as raw:
            counting = _CountingFile(raw)
            writer = EncryptingWriter(counting, header, key)  # type: ignore[arg-type]
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                size, sha = _add_file(tar, DB_MEMBER, db_copy)
                members.append({"name": DB_MEMBER, "size": size, "sha256": sha})
                if progress is not None:
                    progress(1, 1, "database encrypted")
                if spool:
                    _add_bytes(tar, SPOOL_MEMBER, spool)
                    members.append({"name": SPOOL_MEMBER, "size": len(spool),
                                    "sha256": hashlib.sha256(spool).hexdigest()})
                if ledger:
                    _add_bytes(tar, ERASURES_MEMBER, ledger)
                    members.append({"name": ERASURES_MEMBER, "size": len(ledger),
                                    "sha256": hashlib.sha256(ledger).hexdigest()})
                for name, path, registered in models:
                    size, sha = _add_file(tar, name, path)
                    if sha != registered:
                        raise BackupError(f"The model file {path} does not match its registered sha256 (damaged); "
                                          "run facegate doctor --repair first.")
                    members.append({"name": name, "size": size, "sha256": sha})
                manifest["members"] = members
                _add_bytes(tar, MANIFEST_MEMBER, json.dumps(manifest, indent=1).encode("utf-8"))
            writer.finish()
            raw.flush()
            os.fsync(raw.fileno())
        with guard() if guard is not None else contextlib.nullcontext():
            seen = {line for line in ledger.splitlines() if line}
            late = [e for e in read_ledger_lines(_ledger_bytes(db_path), seen) if e.uid in in_copy]
            if late:
                raise _ErasedMeanwhile("An erasure was recorded while the backup was being made; nothing was written. "
                                       "Make the backup again.")
            os.replace(tmp_out, out)
        with contextlib.suppress(OSError):  # the rename durable too
            fd = os.open(out.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            tmp_out.unlink()
    warnings: list[str] = []
    if snap.database_uid is not None and snap.password_wraps == 0:
        warnings.append("No password wraps this database's data key: the face data in this backup opens only on a "
                        "computer holding this one's machine key. Set an admin password (facegate account add, or "
                        "facegate protect) and back up again to be able to restore elsewhere.")
    return BackupReport(path=out, sha256=counting.sha.hexdigest(), size=counting.size,
                        db_bytes=int(members[0]["size"]),  # type: ignore[call-overload]
                        created_at=created, database_uid=snap.database_uid, schema_version=snap.schema_version,
                        people=snap.people, templates=snap.templates, events=snap.events,
                        files=(*tuple(str(m["name"]) for m in members), MANIFEST_MEMBER), warnings=tuple(warnings))
