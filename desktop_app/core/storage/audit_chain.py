"""Tamper-evident audit log: every audit row is chained to the one before it by SHA-256.

What is chained
---------------
Each row of ``audit`` carries four chain columns (added by ``schema.migration_6``):

- ``details_salt``: 16 random bytes (hex), drawn when the row is written;
- ``details_sha256``: SHA-256 of ``salt || details_json`` (the stored JSON text, UTF-8);
- ``prev_hash``: the ``row_hash`` of the row before it (``GENESIS``, 64 zeros, for the first row);
- ``row_hash``: SHA-256 of ``"facegate-audit-v1\\n"`` followed by the ASCII JSON array
  ``[id, ts, actor, action, details_sha256, prev_hash]`` (compact separators): the canonical
  encoding of the row and of the previous hash.

So changing a row's id, time, actor or action changes its ``row_hash``; changing its details
changes the salted digest; deleting, inserting or reordering rows breaks the ``prev_hash`` links.

Lawful erasure (why the details are chained through a salted digest)
--------------------------------------------------------------------
Erasing a person (right to erasure) pseudonymises the audit rows that named them: their
``person_id``, ``name``, ``employee_id`` and ``department`` are replaced by the anonymous
``person_ref`` (``PeopleMixin.erase_person``). Had the chain hashed the details directly, that
lawful edit would break it; had it kept an unsalted digest of the old details, anyone could test a
guessed name against the digest and re-identify the erased person. Instead the row keeps its
``details_sha256`` (so its ``row_hash`` and every link after it stay valid) and loses its salt
(``details_salt`` becomes NULL): without the 128 random bits the digest commits to the old details
but reveals nothing about them. The same transaction appends a chained ``audit.scrub`` row by the
eraser, listing each pseudonymised row id with the SHA-256 of its new details text. A row without
a salt is valid only when a later ``audit.scrub`` row vouches for exactly its current details, so
any other edit (details changed, salt removed by hand) is still detected.

The newest rows (the chain's head)
----------------------------------
A hash chain alone cannot tell that its last rows were deleted. The head (row count, last id, last
hash) is therefore kept in two more places: the single-row ``audit_head`` table, updated in the
same transaction as each audit row, and a head file beside the database (``<db>.audit-head``,
mode 0600) written after each commit that added audit rows. ``verify`` compares both with the
chain. The file may lag behind the database (a crash between the commit and the file, two
processes writing at once): a head file that names an earlier row of the chain, with that row's
hash, is consistent. It is never rewritten to hide a mismatch: after restoring the database from a
backup on purpose, delete the head file (FaceGate writes a new one at the next audited action).
A missing head file is a warning only (a database copied without it).

What it proves, and what it does not
------------------------------------
It detects edits made without re-computing the chain: an ``UPDATE``, ``DELETE`` or ``INSERT`` with
the ``sqlite3`` tool or another program, a damaged page, a restored old copy, a truncated log.
Triggers also refuse such statements outright (``audit_no_delete``, ``audit_no_update``,
``audit_details_only_pseudonymised``), so a careless edit fails instead of going unnoticed.

There is no secret key: someone who can write the database file, knows this scheme and also
rewrites ``audit_head`` and the head file can forge a consistent chain (drop the triggers, edit a
row, recompute every hash after it). The chain cannot stop an attacker with write access to
everything; it turns a silent edit into one that needs this deliberate effort. To catch that too,
keep the head hash that ``facegate audit verify`` prints somewhere the attacker cannot write (a
ticket, an e-mail, another machine) and compare later: an old head must still be in the chain
(``verify(..., expect=(id, hash))``, ``facegate audit verify --expect ID:HASH``).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from desktop_app.core.file_modes import PRIVATE_FILE
from desktop_app.core.storage import times

log = logging.getLogger(__name__)

FORMAT: Final[str] = "facegate-audit-v1"
GENESIS: Final[str] = "0" * 64
#: Suffix of the head file beside the database.
HEAD_SUFFIX: Final[str] = ".audit-head"
#: Action of the chained row that vouches for the rows an erasure pseudonymised.
SCRUB_ACTION: Final[str] = "audit.scrub"
#: Action of the row the migration appends when it chained rows written before the chain existed.
CHAIN_START_ACTION: Final[str] = "audit.chain.start"

CHAIN_COLUMNS: Final[tuple[str, ...]] = ("details_salt", "details_sha256", "prev_hash", "row_hash")

#: Statements of the chain's schema (run by ``schema.migration_6``, after the existing rows are chained).
HEAD_TABLE: Final[str] = """CREATE TABLE audit_head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    rows INTEGER NOT NULL,
    last_id INTEGER,
    hash TEXT NOT NULL,
    updated_at TEXT NOT NULL
)"""
TRIGGERS: Final[tuple[str, ...]] = (
    """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit rows cannot be deleted (the audit log is hash-chained)'); END""",
    """CREATE TRIGGER audit_no_update BEFORE UPDATE OF id, ts, actor, action, details_sha256, prev_hash, row_hash
    ON audit WHEN OLD.row_hash IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'audit rows cannot be changed (the audit log is hash-chained)'); END""",
    """CREATE TRIGGER audit_details_only_pseudonymised BEFORE UPDATE OF details_json, details_salt ON audit
    WHEN OLD.row_hash IS NOT NULL AND NEW.details_salt IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'audit details change only when an erasure pseudonymises them'); END""",
)


# ---------------------------------------------------------------------------- hashing
def new_salt() -> str:
    """16 random bytes as hex: the salt of one row's details digest."""
    return secrets.token_hex(16)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def details_digest(salt_hex: str, details_json: str) -> str:
    """SHA-256 (hex) of ``salt || details_json``; ValueError for a salt that is not hex."""
    return hashlib.sha256(bytes.fromhex(salt_hex) + _utf8(details_json)).hexdigest()


def text_digest(details_json: str) -> str:
    """SHA-256 (hex) of pseudonymised details (what an ``audit.scrub`` row vouches for)."""
    return hashlib.sha256(_utf8(details_json)).hexdigest()


def row_hash(row_id: object, ts: object, actor: object, action: object, details_sha256: object,
             prev_hash: object) -> str:
    """SHA-256 (hex) of the canonical encoding of a row and the previous row's hash (module doc).
    Values are taken as stored (an id stored as text hashes differently from the number)."""
    canon = json.dumps([row_id, ts, actor, action, details_sha256, prev_hash], ensure_ascii=True,
                       separators=(",", ":"))
    return hashlib.sha256(f"{FORMAT}\n{canon}".encode("ascii")).hexdigest()


# ---------------------------------------------------------------------------- the head
@dataclass(frozen=True)
class ChainHead:
    """The end of the chain: ``rows`` in the log, the newest row's id (None when empty) and hash
    (``GENESIS`` when empty)."""

    rows: int
    last_id: int | None
    hash: str

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "rows": self.rows, "last_id": self.last_id, "hash": self.hash},
                          separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> ChainHead:
        """ValueError when ``text`` is not a head record."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a FaceGate audit head record")
        rows, last, digest = data.get("rows"), data.get("last_id"), data.get("hash")
        if not isinstance(rows, int) or not (last is None or isinstance(last, int)) or not isinstance(digest, str):
            raise ValueError("incomplete audit head record")
        return ChainHead(rows, last, digest)


EMPTY: Final[ChainHead] = ChainHead(0, None, GENESIS)


def chain_end(conn: sqlite3.Connection) -> ChainHead:
    """The newest row of the chain as the rows say (its row count is not known here: 0)."""
    row = conn.execute("SELECT id, row_hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    return EMPTY if row is None else ChainHead(0, int(row[0]), str(row[1]) if row[1] is not None else "")


def stored_head(conn: sqlite3.Connection) -> ChainHead | None:
    """The head kept in ``audit_head``; None when the row is missing."""
    row = conn.execute("SELECT rows, last_id, hash FROM audit_head WHERE one = 1").fetchone()
    if row is None:
        return None
    return ChainHead(int(row[0]), None if row[1] is None else int(row[1]), str(row[2]))


def _save_head(conn: sqlite3.Connection, head: ChainHead) -> None:
    conn.execute(
        "INSERT INTO audit_head (one, rows, last_id, hash, updated_at) VALUES (1, ?, ?, ?, ?)"
        " ON CONFLICT (one) DO UPDATE SET rows = excluded.rows, last_id = excluded.last_id, hash = excluded.hash,"
        " updated_at = excluded.updated_at",
        (head.rows, head.last_id, head.hash, times.now_db()),
    )


# ---------------------------------------------------------------------------- writing
def append(conn: sqlite3.Connection, ts: str, actor: str, action: str, details_json: str) -> ChainHead:
    """Write one chained row after the newest one and move the head (call inside a write
    transaction: the newest row must not change meanwhile); returns the new head."""
    end = chain_end(conn)
    row_id = (end.last_id or 0) + 1
    salt = new_salt()
    digest = details_digest(salt, details_json)
    new = row_hash(row_id, ts, actor, action, digest, end.hash)
    conn.execute(
        "INSERT INTO audit (id, ts, actor, action, details_json, details_salt, details_sha256, prev_hash, row_hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row_id, ts, actor, action, details_json, salt, digest, end.hash, new),
    )
    before = stored_head(conn)
    if before is not None and before.last_id == end.last_id and before.hash == end.hash:
        rows = before.rows + 1
    else:  # no head yet, or one that disagrees: count (verify reports the disagreement it hid)
        rows = int(conn.execute("SELECT count(*) FROM audit").fetchone()[0])
    head = ChainHead(rows, row_id, new)
    _save_head(conn, head)
    return head


def pseudonymise(conn: sqlite3.Connection, row_id: int, details_json: str) -> str:
    """Replace a row's details by their pseudonymised text and drop its salt (module doc); returns
    the digest of the new text for the ``audit.scrub`` row (call inside the erasing transaction)."""
    conn.execute("UPDATE audit SET details_json = ?, details_salt = NULL WHERE id = ?", (details_json, row_id))
    return text_digest(details_json)


def chain_existing_rows(conn: sqlite3.Connection) -> int:
    """Chain every row, oldest first (the migration that creates the chain); returns how many.
    A row is then vouched for from the day of the migration on, not before."""
    prev = GENESIS
    rows = conn.execute("SELECT id, ts, actor, action, details_json FROM audit ORDER BY id").fetchall()
    for row_id, ts, actor, action, details in rows:
        salt = new_salt()
        digest = details_digest(salt, str(details))
        new = row_hash(row_id, ts, actor, action, digest, prev)
        conn.execute("UPDATE audit SET details_salt = ?, details_sha256 = ?, prev_hash = ?, row_hash = ? WHERE id = ?",
                     (salt, digest, prev, new, row_id))
        prev = new
    last = rows[-1][0] if rows else None
    _save_head(conn, ChainHead(len(rows), None if last is None else int(last), prev))
    return len(rows)


# ---------------------------------------------------------------------------- the head file
def head_file(db_path: Path) -> Path:
    """``<db>.audit-head`` beside the database."""
    return Path(db_path).with_name(Path(db_path).name + HEAD_SUFFIX)


def read_head_file(path: Path) -> ChainHead | None:
    """The head recorded in the file; None when there is no file. ValueError when it is not a head
    record; OSError when it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return ChainHead.from_json(text)


_tmp_counter = itertools.count(1)


def write_head_file(path: Path, head: ChainHead) -> None:
    """Write ``head`` to the file atomically (temporary file, fsync, rename), mode 0600. OSError passes."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{next(_tmp_counter)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(head.to_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _hash_of(conn: sqlite3.Connection, row_id: int) -> str | None:
    row = conn.execute("SELECT row_hash FROM audit WHERE id = ?", (row_id,)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def sync_head_file(conn: sqlite3.Connection, path: Path) -> bool:
    """Bring the head file up to the committed head of ``audit_head``. Written when missing,
    unreadable, or behind (it names an earlier row of the chain, with that row's hash); left alone,
    with a warning, when it disagrees with the chain (the evidence of deleted rows is kept).
    Returns True when the file now names the head. OSError passes."""
    head = stored_head(conn)
    if head is None:
        return False
    try:
        current = read_head_file(path)
    except ValueError:
        log.warning("The audit head file %s is damaged; writing a new one.", path)
        current = None
    if current is not None:
        if current.last_id == head.last_id and current.hash == head.hash:
            return True
        behind = (current.last_id is None and current.rows == 0) or (
            current.last_id is not None and head.last_id is not None and current.last_id < head.last_id
            and _hash_of(conn, current.last_id) == current.hash)
        if not behind:
            log.warning("The audit head file %s does not match the audit log (rows deleted?); it is kept as "
                        "evidence: run `facegate audit verify`.", path)
            return False
    write_head_file(path, head)
    return True


# ---------------------------------------------------------------------------- verifying
@dataclass(frozen=True)
class AuditVerification:
    """The outcome of checking the audit chain.

    intact: no problem found; rows: rows in the log; checked: rows found sound before the first
    problem (all of them when intact); head_id / head_hash: the newest row and its hash (None when
    the log is empty); broken_id: the first row found wrong, or the newest row that should exist
    (deleted rows), else None; problem: what is wrong, in words (None when intact);
    pseudonymised: rows whose details an erasure pseudonymised, each vouched for by a chained
    ``audit.scrub`` row; warnings: what could not be checked (e.g. the head file is missing).
    """

    intact: bool
    rows: int
    checked: int
    head_id: int | None
    head_hash: str | None
    broken_id: int | None = None
    problem: str | None = None
    pseudonymised: int = 0
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line: ``intact: N rows`` or ``BROKEN at row X: what is wrong``."""
        if self.intact:
            return f"intact: {self.rows} row{'s' if self.rows != 1 else ''}"
        where = f" at row {self.broken_id}" if self.broken_id is not None else ""
        return f"BROKEN{where}: {self.problem}"


def _scrub_claims(conn: sqlite3.Connection) -> dict[int, tuple[int, str]]:
    """Row id -> (id of the ``audit.scrub`` row vouching for it, digest of its pseudonymised details)."""
    claims: dict[int, tuple[int, str]] = {}
    for scrub_id, text in conn.execute("SELECT id, details_json FROM audit WHERE action = ? ORDER BY id",
                                       (SCRUB_ACTION,)):
        try:
            data = json.loads(str(text))
            entries = data.get("rows", []) if isinstance(data, dict) else []
            for entry in entries:
                if isinstance(entry, list) and len(entry) == 2:
                    claims[int(entry[0])] = (int(scrub_id), str(entry[1]))  # the latest describes the text now
        except (ValueError, TypeError):
            continue  # its own digest check reports the damage
    return claims


def _row_problem(row: tuple[object, ...], expected_prev: str, prev_id: int | None,
                 claims: Mapping[int, tuple[int, str]]) -> tuple[str | None, bool]:
    """What is wrong with one row (None when sound), and whether it is a vouched-for pseudonymised row."""
    row_id, ts, actor, action, details, salt, digest, prev, stored = row
    if stored is None or prev is None or digest is None:
        return ("it has no chain hash: it was written without FaceGate (inserted by another program)", False)
    if prev != expected_prev:
        if prev_id is None:
            return ("it is not the first row of the chain: the oldest rows were deleted, or this row was inserted",
                    False)
        return (f"it does not follow row {prev_id}: a row between them was deleted, or this row was inserted "
                "or moved", False)
    if row_hash(row_id, ts, actor, action, digest, prev) != stored:
        return ("it was changed after it was written (its id, time, actor or action differ from what was "
                "chained), or it was inserted", False)
    text = str(details)
    if salt is not None:
        try:
            same = details_digest(str(salt), text) == digest
        except ValueError:
            same = False
        return (None if same else "its details were changed after it was written", False)
    claim = claims.get(int(str(row_id)))
    if claim is None:
        return ("its details were changed (pseudonymised without an erasure that records it)", False)
    scrub_id, vouched = claim
    if scrub_id <= int(str(row_id)) or vouched != text_digest(text):
        return (f"its details differ from what the erasure recorded in row {scrub_id}", False)
    return (None, True)


def verify(conn: sqlite3.Connection, head_path: Path | None, expect: Iterable[tuple[int, str]] = ()
           ) -> AuditVerification:
    """Check the whole chain, oldest first, then the head kept in ``audit_head`` and in the head
    file ``head_path`` (None: not checked), then each ``expect`` (id, hash) pair: a head recorded
    earlier elsewhere, which must still be in the chain. Reads only."""
    n = int(conn.execute("SELECT count(*) FROM audit").fetchone()[0])
    claims = _scrub_claims(conn)
    expected_prev, prev_id = GENESIS, None
    checked = scrubbed = 0
    warnings: list[str] = []

    def broken(row_id: int | None, problem: str) -> AuditVerification:
        return AuditVerification(False, n, checked, prev_id, None if prev_id is None else expected_prev,
                                 row_id, problem, scrubbed, tuple(warnings))

    cursor = conn.execute("SELECT id, ts, actor, action, details_json, " + ", ".join(CHAIN_COLUMNS)
                          + " FROM audit ORDER BY id")
    for row in cursor:
        problem, vouched = _row_problem(tuple(row), expected_prev, prev_id, claims)
        if problem is not None:
            cursor.close()
            return broken(int(row[0]), problem)
        checked += 1
        scrubbed += vouched
        expected_prev, prev_id = str(row[8]), int(row[0])
    end = ChainHead(n, prev_id, expected_prev)
    stored = stored_head(conn)
    if stored is None:
        if n:
            return broken(None, "the head record (audit_head) is missing: it was deleted, so deleted newest rows "
                                "cannot be ruled out")
    elif (stored.rows, stored.last_id, stored.hash) != (end.rows, end.last_id, end.hash):
        if stored.last_id is not None and (end.last_id is None or stored.last_id > end.last_id):
            return broken(stored.last_id, f"the newest rows were deleted: the log ends at row {end.last_id} "
                                          f"({end.rows} rows) but its head record names row {stored.last_id} "
                                          f"({stored.rows} rows)")
        return broken(stored.last_id, f"the head record (row {stored.last_id}, {stored.rows} rows) does not match "
                                      f"the log (row {end.last_id}, {end.rows} rows): rows were deleted or "
                                      "rewritten")
    if head_path is not None:
        found = _head_file_problem(conn, head_path, end, warnings)
        if found is not None:
            return broken(found[0], found[1])
    for want_id, want_hash in expect:
        if _hash_of(conn, want_id) != want_hash:
            return broken(want_id, f"row {want_id} is not the row whose hash was recorded ({want_hash[:16]}…): the "
                                   "log was rewritten from there, or rows were deleted")
    return AuditVerification(True, n, checked, end.last_id, None if end.last_id is None else end.hash,
                             pseudonymised=scrubbed, warnings=tuple(warnings))


def _head_file_problem(conn: sqlite3.Connection, path: Path, end: ChainHead, warnings: list[str]
                       ) -> tuple[int | None, str] | None:
    try:
        recorded = read_head_file(path)
    except (ValueError, OSError) as exc:
        warnings.append(f"the head file {path} cannot be read ({exc}); delete it and FaceGate writes a new one")
        return None
    if recorded is None:
        if end.rows:
            warnings.append(f"the head file {path} is missing (deleted, or the database was copied without it): "
                            "deleted newest rows are caught by the database's own head record only; FaceGate "
                            "writes a new file at the next audited action")
        return None
    if recorded.last_id is None:
        return None  # written when the log was empty: anything since is newer
    if end.last_id is None or recorded.last_id > end.last_id:
        return (recorded.last_id, f"the newest rows were deleted: the log ends at row {end.last_id} but the head "
                                  f"file {path.name} names row {recorded.last_id} (or the database was restored "
                                  "from an older copy: then delete the head file)")
    if _hash_of(conn, recorded.last_id) != recorded.hash or recorded.rows > end.rows:
        return (recorded.last_id, f"row {recorded.last_id} is not the row the head file {path.name} recorded: the "
                                  "log was rewritten from there, or rows were deleted and others written since")
    return None
