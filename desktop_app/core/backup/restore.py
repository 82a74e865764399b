"""Restoring a backup: verify everything, then swap the database in atomically, with a safety copy.

1. The whole archive is read, authenticated chunk by chunk (``archive``) and unpacked into a
   private staging folder beside the database; every member is checked against the manifest and
   the database copy against ``PRAGMA integrity_check`` and the schema this FaceGate knows. A
   wrong passphrase, a damaged or truncated archive, or a backup from a newer FaceGate stops here,
   before anything in the data folder is touched.
2. The database must not be held by another program (a running door, the app): an exclusive
   SQLite lock is taken on it (refused at once while any other connection has it open), its
   write-ahead log is checkpointed, and under that lock the file is renamed to the safety copy
   ``<db>.before-restore-<UTC time>`` (with the spool, the audit head file and the gallery folder).
3. The staged database is renamed into place (one ``os.replace``), the spool and the model files
   are put back, and the result is opened as a ``Store``: an older schema is migrated, the file
   checked, and the restore is audited in it (a new audit head file is written).
4. If that fails, the restored files are removed and the safety copy is renamed back. If it
   succeeds, the safety copy is deleted (``keep_previous`` keeps it and the report names it).

The face data stays encrypted by the data key throughout. On another computer the restored data
is locked until ``facegate unlock`` with an admin password of the backup (``RestoreReport.locked``).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Final

from desktop_app.core.backup.archive import (
    BackupDamagedError,
    BackupError,
    BackupHeader,
    DecryptingReader,
    open_key,
    read_header,
)
from desktop_app.core.backup.records import RestoreReport
from desktop_app.core.backup.snapshot import (
    DB_MEMBER,
    ERASURES_MEMBER,
    MANIFEST_MEMBER,
    MODELS_PREFIX,
    SPOOL_MEMBER,
    HashingReader,
    spool_path,
)
from desktop_app.core.erasures.ledger import (
    MARK_SETTING,
    RESTORED_SETTING,
    UID_SCHEMA,
    LedgerDamagedError,
    LedgerEntry,
    ledger_path,
    merge_entries,
    parse_ledger,
    read_ledger,
)
from desktop_app.core.errors import FaceGateError
from desktop_app.core.file_modes import create_private_file, make_private_dirs
from desktop_app.core.progress import ProgressFn
from desktop_app.core.storage.audit_chain import head_file
from desktop_app.core.storage.schema import SCHEMA_VERSION

#: the largest member accepted from an archive (a damaged size must not fill the disk): 64 GiB
MAX_MEMBER_BYTES: Final[int] = 64 << 30
SAFETY_INFIX: Final[str] = ".before-restore-"


class DatabaseInUseError(BackupError):
    """Another program (a running door, the app) has the database open."""


def read_backup_header(archive: Path) -> BackupHeader:
    """The header of ``archive`` (no passphrase needed); BackupError when it is not a backup."""
    try:
        with Path(archive).open("rb") as f:
            return read_header(f)[0]
    except OSError as exc:
        raise BackupError(f"Cannot read the backup {archive}: {exc.strerror or exc}") from exc


def check_schema(header_or_version: BackupHeader | int) -> None:
    """BackupError when the backup's schema is newer than this FaceGate's."""
    version = header_or_version if isinstance(header_or_version, int) else header_or_version.schema_version
    if version > SCHEMA_VERSION:
        raise BackupError(f"This backup was made by a newer FaceGate (database schema {version}; this FaceGate "
                          f"knows up to {SCHEMA_VERSION}). Update FaceGate, then restore it. Nothing was changed.")

log = logging.getLogger(__name__)


def _member_target(name: str) -> str | None:
    """The staging name of an archive member, or None for a name that is not ours."""
    if name in (DB_MEMBER, SPOOL_MEMBER, MANIFEST_MEMBER, ERASURES_MEMBER):
        return name
    parts = PurePosixPath(name).parts
    if (name.startswith(MODELS_PREFIX) and len(parts) == 2 and parts[1] not in ("", ".", "..")
            and parts[1].endswith(".onnx") and "\\" not in parts[1]):
        return name
    return None


@dataclass(frozen=True)
class Staged:
    """A verified archive unpacked into ``folder``: ``header``, ``sha256`` of the archive's bytes,
    ``manifest`` (its JSON), ``files`` member name -> staged path."""

    folder: Path
    header: BackupHeader
    sha256: str
    manifest: dict[str, object]
    files: dict[str, Path]

    @property
    def db(self) -> Path:
        return self.files[DB_MEMBER]


def stage(archive: Path, passphrase: str, folder: Path, progress: ProgressFn | None = None) -> Staged:
    """Authenticate all of ``archive`` with ``passphrase`` and unpack it into the (new, private)
    ``folder``; WrongPassphraseError, BackupDamagedError or BackupError otherwise (see module)."""
    archive = Path(archive)
    total = archive.stat().st_size
    files: dict[str, Path] = {}
    hashes: dict[str, tuple[int, str]] = {}
    with archive.open("rb") as raw:
        src = HashingReader(raw)
        header, ad = read_header(src)  # type: ignore[arg-type]
        check_schema(header)
        if progress is not None:
            progress(0, total, "checking the passphrase")
        key = open_key(header, passphrase)
        reader = DecryptingReader(src, header, key, ad)  # type: ignore[arg-type]
        try:
            with tarfile.open(fileobj=io.BufferedReader(reader, 1 << 20), mode="r|") as tar:
                for member in tar:
                    name = _member_target(member.name)
                    if name is None or not member.isfile() or name in files or member.size > MAX_MEMBER_BYTES:
                        raise BackupDamagedError(f"The backup holds an unexpected entry {member.name!r}; nothing was "
                                                 "restored.")
                    dest = folder.joinpath(*PurePosixPath(name).parts)
                    make_private_dirs(dest.parent)
                    create_private_file(dest)
                    sha = hashlib.sha256()
                    got = tar.extractfile(member)
                    if got is None:
                        raise BackupDamagedError(f"The backup's entry {name!r} is unreadable; nothing was restored.")
                    with dest.open("r+b") as out:
                        while block := got.read(1 << 20):
                            sha.update(block)
                            out.write(block)
                            if progress is not None:
                                progress(min(raw.tell(), total), total, "checking and unpacking the backup")
                    files[name] = dest
                    hashes[name] = (member.size, sha.hexdigest())
            reader.drain()  # the last chunk authenticated, nothing after it
        except tarfile.TarError as exc:
            raise BackupDamagedError(f"The backup's content is damaged ({exc}); nothing was restored.") from None
    if MANIFEST_MEMBER not in files or DB_MEMBER not in files:
        raise BackupDamagedError("The backup is incomplete (no database or manifest); nothing was restored.")
    try:
        manifest = json.loads(files[MANIFEST_MEMBER].read_text("utf-8"))
        listed = {str(m["name"]): (int(m["size"]), str(m["sha256"])) for m in manifest["members"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupDamagedError(f"The backup's manifest is damaged ({exc}); nothing was restored.") from None
    del hashes[MANIFEST_MEMBER]
    if listed != hashes:
        raise BackupDamagedError("The backup's files do not match its manifest; nothing was restored.")
    _check_staged_db(files[DB_MEMBER], header)
    return Staged(folder, header, src.sha.hexdigest(), manifest, files)


def _check_staged_db(path: Path, header: BackupHeader) -> None:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        result = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(5)")]
        if result != ["ok"]:
            raise BackupDamagedError("The database in the backup fails SQLite's integrity check "
                                     f"({'; '.join(result)}); nothing was restored.")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        check_schema(version)
        if version != header.schema_version:
            raise BackupDamagedError("The database in the backup does not match its header; nothing was restored.")
    except sqlite3.Error as exc:
        raise BackupDamagedError(f"The database in the backup cannot be read ({exc}); nothing was restored.") from None
    finally:
        conn.close()


def verify_backup(archive: Path, passphrase: str, work_dir: Path, progress: ProgressFn | None = None) -> Staged:
    """Check all of ``archive`` with ``passphrase`` without restoring anything (unpacked into a
    private folder under ``work_dir``, then deleted); the returned ``Staged`` names files that no
    longer exist, only its header, hash and manifest are meant. Errors as ``stage``."""
    make_private_dirs(Path(work_dir))
    work = Path(tempfile.mkdtemp(prefix=".facegate-verify-", dir=work_dir))
    try:
        return stage(Path(archive), passphrase, work, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------------------ swap
def _exclusive(db: Path) -> sqlite3.Connection:
    """A connection holding an exclusive lock on ``db`` with its write-ahead log checkpointed;
    DatabaseInUseError at once when another connection (another program, or this one) has it open.
    A connection of this process that nothing refers to any more but that waits in a reference
    cycle for the garbage collector also holds the file: the collector runs once before refusing."""
    try:
        return _exclusive_once(db)
    except DatabaseInUseError:
        gc.collect()
        return _exclusive_once(db)


def _exclusive_once(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(db), timeout=0, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise DatabaseInUseError(
                f"The database {db} is open in another program (a running door or the FaceGate app): stop it, then "
                "restore. Nothing was changed.") from None
        raise BackupError(f"Cannot lock the database {db}: {exc}") from None
    except sqlite3.Error as exc:
        conn.close()
        raise BackupError(f"Cannot lock the database {db}: {exc}") from None


def database_in_use(db: Path) -> bool:
    """True when another connection has ``db`` open (a running door or app); False when it does not
    exist or nobody holds it."""
    if not Path(db).is_file() or Path(db).stat().st_size == 0:
        return False
    try:
        _exclusive(Path(db)).close()
    except DatabaseInUseError:
        return True
    return False


def _side_files(db: Path, base: Path) -> list[tuple[Path, Path]]:
    """(current file, its safety name) of the files beside the database that a restore replaces."""
    out = [(db.with_name(db.name + sfx), base.with_name(base.name + sfx)) for sfx in ("-wal", "-shm")]
    out.append((spool_path(db), spool_path(base)))
    out.append((head_file(db), head_file(base)))
    out.append((db.parent / "gallery", db.parent / f"gallery{SAFETY_INFIX}{base.name.rsplit(SAFETY_INFIX, 1)[1]}"))
    return out


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _put_models(staged: Staged, data_dir: Path) -> int:
    n = 0
    for name, path in staged.files.items():
        if not name.startswith(MODELS_PREFIX):
            continue
        target = data_dir.joinpath(*PurePosixPath(name).parts)
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == \
                hashlib.sha256(path.read_bytes()).hexdigest():
            continue
        make_private_dirs(target.parent)
        os.replace(path, target)
        n += 1
    return n


def _archive_ledger(staged: Staged) -> list[LedgerEntry]:
    """The erasures the backup's ledger records (none in a backup made before the ledger)."""
    path = staged.files.get(ERASURES_MEMBER)
    if path is None:
        return []
    try:
        return parse_ledger(path.read_bytes(), "in the backup")
    except LedgerDamagedError as exc:
        raise BackupDamagedError(f"{exc} Nothing was restored.") from None


def _check_target_ledger(db: Path) -> None:
    """Refuse to restore while this folder's erasure ledger cannot be read: the restore could then
    bring back people erased since the backup, with nothing to erase them again."""
    try:
        read_ledger(ledger_path(db))
    except LedgerDamagedError as exc:
        raise BackupError(f"{exc} A restore could bring back people erased since the backup, so it is refused; "
                          "nothing was changed. See docs/backup.md, 'Erasure survives a restore'.") from None


def restore_backup(db: Path, archive: Path, passphrase: str, actor: str, *, progress: ProgressFn | None = None,
                   keep_previous: bool = False) -> RestoreReport:
    """Replace the data of ``db`` by the backup ``archive`` (module docstring); audited in the
    restored database as ``backup.restore`` by ``actor``. The errors name what to do, and say
    that nothing was changed when nothing was."""
    from desktop_app.core.storage.store import Store

    db = Path(os.path.abspath(db))
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"There is no backup file at {archive}.")
    if db.is_dir():
        raise BackupError(f"{db} is a folder; give the database file.")
    make_private_dirs(db.parent)
    work = Path(tempfile.mkdtemp(prefix=f".{db.name}.restore-", dir=db.parent))  # 0700, same file system
    try:
        staged = stage(archive, passphrase, work, progress)
        incoming = _archive_ledger(staged)
        _check_target_ledger(db)  # damaged: refused before anything is touched
        if progress is not None:
            progress(1, 1, "replacing the database")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = db.with_name(f"{db.name}{SAFETY_INFIX}{stamp}")
        moved: list[tuple[Path, Path]] = []
        previous_head: str | None = None
        if db.is_file():
            with contextlib.suppress(OSError):
                previous_head = head_file(db).read_text("utf-8").strip() or None
            conn = _exclusive(db)  # refuses while a door or the app has it open
            try:
                os.replace(db, base)
                moved.append((db, base))
            finally:
                conn.close()
        try:
            if moved:
                for current, safe in _side_files(db, base):
                    if current.exists():
                        os.replace(current, safe)
                        moved.append((current, safe))
            os.replace(staged.db, db)
            pending = 0
            if SPOOL_MEMBER in staged.files:
                os.replace(staged.files[SPOOL_MEMBER], spool_path(db))
                pending = sum(1 for line in spool_path(db).read_bytes().splitlines() if line.strip())
            models = _put_models(staged, db.parent)
            store = Store(db)
            try:
                check = [str(r[0]) for r in store.db.conn.execute("PRAGMA integrity_check(5)")]
                if check != ["ok"]:
                    raise BackupError(f"the restored database fails SQLite's integrity check ({'; '.join(check)})")
                counts = {t: int(store.db.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                          for t in ("people", "templates", "events")}
                schema_now = int(store.db.conn.execute("PRAGMA user_version").fetchone()[0])
                locked = store.locked_reason
                with store.transaction():  # the first open re-applies the ledger (by identity hash before uids)
                    store.db.execute("DELETE FROM settings WHERE key = ?", (MARK_SETTING,))
                store.set_setting(RESTORED_SETTING, {"legacy": staged.header.schema_version < UID_SCHEMA})
                store.audit(actor, "backup.restore", {
                    "archive": archive.name, "sha256": staged.sha256, "created_at": staged.header.created_at,
                    "source_database_uid": staged.header.database_uid,
                    "schema_version": staged.header.schema_version, "schema_now": schema_now, **counts,
                    "pending_events": pending, "models": models, "previous_kept": str(base) if keep_previous and moved
                    else None, "replaced_audit_head": previous_head})
            finally:
                store.close()
        except BaseException as exc:
            for current, _safe in [(db, base), *_side_files(db, base)]:
                _remove(current)  # what the restore put there or created (the safety copy goes back below)
            for current, safe in reversed(moved):
                with contextlib.suppress(OSError):
                    os.replace(safe, current)
            if isinstance(exc, (FaceGateError, OSError)):
                raise BackupError(f"The restored database could not be opened ({exc}); the previous one was put back "
                                  "unchanged.") from exc
            raise
        try:
            merge_entries(ledger_path(db), incoming)  # the target's ledger stays; the archive's is merged in
        except (LedgerDamagedError, OSError) as exc:
            log.warning("The backup's erasure ledger could not be merged into %s (%s).", ledger_path(db), exc)
        if not keep_previous:
            for _current, safe in moved:
                _remove(safe)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return RestoreReport(db_path=db, archive=archive, sha256=staged.sha256, created_at=staged.header.created_at,
                         database_uid=staged.header.database_uid, schema_version=staged.header.schema_version,
                         schema_now=schema_now, people=counts["people"], templates=counts["templates"],
                         events=counts["events"], pending_events=pending, models=models,
                         previous=base if keep_previous and moved else None, locked=locked)
