"""The erasure ledger file ``<db>.erasures`` beside the database (docs/data-protection.md,
"Erasure survives a restore").

One JSON line per erasure, appended (``O_APPEND``) and fsynced before the erasure runs::

    {"v": 1, "uid": "<people.uid, 32 hex>", "at": "<UTC ISO time>", "salt": "<16 random bytes, hex>",
     "key": "<sha256(salt | name key | NUL | employee id), hex>"}

Nothing in it names the person: ``uid`` is the random global id of the person's record
(migration 12), ``key`` a salted hash used only to find the person in a backup made before
migration 12 (whose people got new random uids when it was migrated). The file is 0600; it is
never rewritten, except that a torn last line (a crash while appending, before the erasure began)
is cut off at the next append. A complete line that does not parse makes the whole file
"damaged" (``LedgerDamagedError``): the restore refuses then, and an open warns."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from desktop_app.core.errors import StorageError

#: the ledger's file name is the database's plus this suffix
LEDGER_SUFFIX: Final[str] = ".erasures"
#: setting: the ledger fingerprint (``ledger_mark``) the database has been checked against
MARK_SETTING: Final[str] = "erasure_ledger.mark"
#: setting written by a restore: {"legacy": bool}; legacy: match by identity hash (a backup from before migration 12)
RESTORED_SETTING: Final[str] = "erasure_ledger.restored"
#: the schema version from which people have a global uid (migration 12)
UID_SCHEMA: Final[int] = 12
#: bytes read from the end of the file for the cheap "changed?" check at every open
_TAIL_BYTES: Final[int] = 4096


class LedgerDamagedError(StorageError):
    """The erasure ledger cannot be read (a line that is not a ledger record, or an I/O error)."""


def ledger_path(db_path: Path) -> Path:
    """``<db>.erasures`` beside the database."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + LEDGER_SUFFIX)


def identity_key(salt: bytes, name_key: str, employee_id: str | None) -> str:
    """Salted sha256 (hex) of a person's folded name and employee id: matches a person in a
    backup from before migration 12 without storing either in clear."""
    return hashlib.sha256(salt + name_key.encode("utf-8") + b"\0" + (employee_id or "").encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LedgerEntry:
    """One erasure: ``uid`` people.uid of the erased record, ``at`` when (aware UTC), ``salt`` and
    ``key`` the salted identity hash (``identity_key``)."""

    uid: str
    at: datetime
    salt: str
    key: str

    @classmethod
    def new(cls, uid: str, name_key: str, employee_id: str | None) -> LedgerEntry:
        salt = secrets.token_bytes(16)
        return cls(uid=uid, at=datetime.now(UTC), salt=salt.hex(),
                   key=identity_key(salt, name_key, employee_id))

    def line(self) -> bytes:
        return (json.dumps({"v": 1, "uid": self.uid, "at": self.at.isoformat(), "salt": self.salt, "key": self.key},
                           separators=(",", ":")) + "\n").encode("ascii")

    def matches_key(self, name_key: str, employee_id: str | None) -> bool:
        return identity_key(bytes.fromhex(self.salt), name_key, employee_id) == self.key

    @classmethod
    def parse(cls, raw: bytes) -> LedgerEntry:
        """One line (without its newline); ValueError when it is not a ledger record."""
        obj = json.loads(raw.decode("ascii"))
        if not isinstance(obj, dict) or obj.get("v") != 1:
            raise ValueError("not a version-1 record")
        uid, at, salt, key = (obj.get(k) for k in ("uid", "at", "salt", "key"))
        if not (isinstance(uid, str) and isinstance(at, str) and isinstance(salt, str) and isinstance(key, str)):
            raise ValueError("a field is missing")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or len(bytes.fromhex(salt)) != 16 or len(bytes.fromhex(key)) != 32 or not uid:
            raise ValueError("a field is malformed")
        return cls(uid=uid, at=when, salt=salt, key=key)


def parse_ledger(data: bytes, where: str) -> list[LedgerEntry]:
    """The records in ``data`` (a ledger file's bytes); a torn last line is ignored;
    LedgerDamagedError naming ``where`` for any complete line that is not a record."""
    out: list[LedgerEntry] = []
    lines = data.split(b"\n")
    for no, raw in enumerate(lines[:-1], start=1):  # the last piece has no newline: torn or empty
        try:
            out.append(LedgerEntry.parse(raw))
        except (ValueError, UnicodeDecodeError) as exc:
            raise LedgerDamagedError(f"The erasure ledger {where} is damaged at line {no} ({exc}).") from None
    return out


def read_ledger(path: Path) -> list[LedgerEntry]:
    """Every erasure recorded in ``path`` (none when it does not exist); LedgerDamagedError."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise LedgerDamagedError(f"The erasure ledger {path} cannot be read ({exc.strerror or exc}).") from None
    return parse_ledger(data, str(path))


def ledger_mark(path: Path) -> str:
    """A cheap fingerprint of the ledger: its size and the sha256 of its last bytes ("0:" when it
    does not exist). Stored in the database after each re-apply; a different one at the next open
    means there are erasures to check."""
    try:
        with Path(path).open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - _TAIL_BYTES))
            tail = f.read()
    except FileNotFoundError:
        return "0:"
    except OSError as exc:
        raise LedgerDamagedError(f"The erasure ledger {path} cannot be read ({exc.strerror or exc}).") from None
    return f"{size}:{hashlib.sha256(tail).hexdigest()}"


def append_entries(path: Path, entries: list[LedgerEntry]) -> None:
    """Append ``entries`` to the ledger (created 0600), fsynced (the folder too when the file is
    new). A torn last line left by a crash is cut off first. OSError when it cannot be written."""
    if not entries:
        return
    path = Path(path)
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o600)
        size = os.fstat(fd).st_size
        if size:
            back = min(size, _TAIL_BYTES)
            tail = os.pread(fd, back, size - back)
            if not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n")
                if cut < 0 and back < size:
                    raise OSError(f"the erasure ledger {path} ends with a line longer than {_TAIL_BYTES} bytes")
                os.ftruncate(fd, size - back + cut + 1)
        data = b"".join(e.line() for e in entries)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def merge_entries(path: Path, incoming: list[LedgerEntry]) -> int:
    """Append the ``incoming`` erasures that ``path`` does not hold yet (same uid and time);
    returns how many. LedgerDamagedError / OSError."""
    held = {(e.uid, e.at) for e in read_ledger(path)}
    new = [e for e in incoming if (e.uid, e.at) not in held]
    append_entries(path, new)
    return len(new)
