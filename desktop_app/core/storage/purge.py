"""Erasures whose data may still be on disk: recorded durably, finished later, audited.

Erasing a person deletes their rows in one transaction, but copies of the deleted pages stay on
disk until the write-ahead log is checkpointed into the database file and truncated, which SQLite
cannot do while another connection still reads an older snapshot, nor after a crash between the
commit and the checkpoint. Copies also live outside the database: the saved gallery index.

So the erasing transaction also records a *pending purge* (settings row ``erasure.pending``, a
JSON list, one entry per erased person): the person's anonymous reference, who erased them, the
counts for the audit row, and the steps still to do (``PurgeStep``). Each step is dropped once
done; an entry without steps is removed, and audited: the erasure's own ``erase_person`` row
when it was not written yet (a crash right after the commit), else an ``erase_person.purged``
follow-up row. ``Store`` finishes the write-ahead-log step when it opens the file; ``FaceGate``
finishes the files step (it owns the gallery) and retries both in ``finish_pending_purges``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from desktop_app.core.errors import StorageError
from desktop_app.core.storage import codecs, times
from desktop_app.core.storage.base import StoreBase, api
from desktop_app.core.storage.sqlerrors import mapped

log = logging.getLogger(__name__)

#: Settings key of the pending purges.
PENDING_KEY: Final[str] = "erasure.pending"

#: Why a checkpoint could not finish, as said in ``ErasureReport.pending``.
WAL_BUSY: Final[str] = (
    "write-ahead log not yet checkpointed: another program is reading the database; the deleted data "
    "stays in the database files until it lets go (FaceGate retries while it runs and at the next start)"
)
WAL_IN_TRANSACTION: Final[str] = (
    "write-ahead log not yet checkpointed: the erasure is part of a larger change that is not finished; "
    "FaceGate checkpoints after it (at the latest at the next start)"
)


class PurgeStep(StrEnum):
    """What is left of an erasure on disk."""

    WAL = "wal"
    """The write-ahead log and the database file still hold the pages from before the erasure."""
    FILES = "files"
    """Files outside the database (the saved gallery index) may still hold the person's templates."""


@dataclass(frozen=True)
class PendingPurge:
    """One erasure not yet purged from disk.

    person_ref: the ``erased-<8 hex>`` reference; actor: who erased; steps: what is left;
    audited: the ``erase_person`` audit row is written; since: when the erasure was committed
    (stored time text); pid/host: the process that erased (it finishes the files step itself
    while it runs).
    """

    person_ref: str
    actor: str
    steps: frozenset[PurgeStep]
    audited: bool
    since: str
    pid: int
    host: str

    @property
    def erasing_elsewhere(self) -> bool:
        """True while another live process on this machine is still erasing (doing its own steps)."""
        from desktop_app.core.doctor.files import pid_alive  # here: the doctor imports the store

        return self.host == socket.gethostname() and self.pid != os.getpid() and pid_alive(self.pid)


def _entries(text: str | None) -> list[dict[str, object]]:
    """The stored entries; a damaged row reads as one entry of unknown person with every step."""
    if text is None:
        return []
    try:
        value = json.loads(text)
        if isinstance(value, list) and all(isinstance(e, dict) and isinstance(e.get("person_ref"), str)
                                           for e in value):
            return value
    except ValueError:
        pass
    log.warning("The record of pending erasures is damaged; purging everything again.")
    return [{"person_ref": "unknown", "actor": "facegate", "steps": [s.value for s in PurgeStep],
             "audited": True, "since": times.now_db(), "pid": 0, "host": ""}]


def _as_pending(entry: Mapping[str, object]) -> PendingPurge:
    steps = entry.get("steps")
    raw_pid = entry.get("pid", 0)
    return PendingPurge(
        person_ref=str(entry["person_ref"]),
        actor=str(entry.get("actor", "facegate")),
        steps=frozenset(PurgeStep(s) for s in (steps if isinstance(steps, list) else [])
                        if s in PurgeStep.__members__.values()),
        audited=bool(entry.get("audited", True)),
        since=str(entry.get("since", "")),
        pid=raw_pid if isinstance(raw_pid, int) else 0,
        host=str(entry.get("host", "")),
    )


class PurgeMixin(StoreBase):
    """Pending purges of erased people (see the module docstring)."""

    def _read_pending(self) -> list[dict[str, object]]:
        row = self.db.execute("SELECT value_json FROM settings WHERE key = ?", (PENDING_KEY,)).fetchone()
        return _entries(None if row is None else str(row[0]))

    def _write_pending(self, entries: Sequence[Mapping[str, object]]) -> None:
        """Store the entries (inside the caller's transaction); the row is deleted when none are left."""
        if not entries:
            self.db.execute("DELETE FROM settings WHERE key = ?", (PENDING_KEY,))
            return
        self.db.execute(
            "INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at",
            (PENDING_KEY, codecs.to_json(list(entries), "pending erasures"), times.now_db()),
        )

    def _add_pending(self, ref: str, actor: str, counts: Mapping[str, int], steps: Iterable[PurgeStep]) -> None:
        """Record a new pending purge (call inside the erasing transaction)."""
        entries = self._read_pending()
        entries.append({"person_ref": ref, "actor": actor, "counts": dict(counts),
                        "steps": [s.value for s in steps], "audited": False, "since": times.now_db(),
                        "pid": os.getpid(), "host": socket.gethostname()})
        self._write_pending(entries)

    def _settle(self, done: Mapping[str, set[PurgeStep]], audit_now: Mapping[str, Mapping[str, object]]) -> None:
        """In one transaction: drop the ``done`` steps of each entry (by person_ref), write the
        erasure audit rows given in ``audit_now`` (person_ref -> details), write the ``erase_person``
        row of an entry whose eraser died before writing it (with the steps still pending), and
        audit ``erase_person.purged`` for the entries left without steps."""
        with self.transaction():
            kept: list[dict[str, object]] = []
            for entry in self._read_pending():
                ref = str(entry["person_ref"])
                pend = _as_pending(entry)
                if ref not in audit_now and not pend.audited and pend.erasing_elsewhere:
                    kept.append(entry)  # its eraser is still at work and audits it itself
                    continue
                steps = pend.steps - done.get(ref, set())
                actor = pend.actor
                if ref in audit_now:
                    self._insert_audit(actor, "erase_person", audit_now[ref])
                    entry["audited"] = True
                elif not pend.audited:  # the eraser died before its audit row
                    counts = entry.get("counts")
                    self._insert_audit(actor, "erase_person", {
                        "person_ref": ref, **(counts if isinstance(counts, dict) else {}),
                        "purged": not steps, "pending": sorted(s.value for s in steps),
                        "audited_after_restart": True})
                    entry["audited"] = True
                elif not steps:
                    self._insert_audit("facegate", "erase_person.purged",
                                       {"person_ref": ref, "erased_at": entry.get("since")})
                if steps:
                    kept.append({**entry, "steps": sorted(s.value for s in steps)})
            self._write_pending(kept)

    def _try_checkpoint(self, wait_s: float | None) -> str | None:
        """Checkpoint the write-ahead log into the file and truncate it, waiting at most ``wait_s``
        seconds for other connections (None: the store's timeout). None when done, else why not."""
        conn = self.db.conn
        if conn.in_transaction:
            return WAL_IN_TRANSACTION
        try:
            if wait_s is not None:
                conn.execute(f"PRAGMA busy_timeout = {max(0, round(wait_s * 1000))}")
            try:
                with mapped(self.path, "purging erased data from the write-ahead log", self.timeout_s):
                    busy = int(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
            finally:
                if wait_s is not None:
                    conn.execute(f"PRAGMA busy_timeout = {round(self.timeout_s * 1000)}")
        except StorageError as exc:
            return f"write-ahead log not yet checkpointed: {exc}"
        return WAL_BUSY if busy else None

    @api("reading the pending erasures")
    def pending_purges(self) -> tuple[PendingPurge, ...]:
        """Erasures whose data may still be on disk (empty when all are purged). Cheap: one row."""
        return tuple(_as_pending(e) for e in self._read_pending())

    @api("finishing an erasure")
    def finish_pending_purges(self, wait_s: float = 0.0, files_done: Iterable[str] = ()) -> tuple[PendingPurge, ...]:
        """Try to finish the pending purges; returns those still pending.

        The write-ahead log is checkpointed and truncated when any entry waits for it (waiting at
        most ``wait_s`` seconds for other connections); ``files_done``: person_refs whose files
        step the caller has just finished. Entries left without steps are removed and audited.
        """
        before = self._read_pending()
        if not before:
            return ()
        done: dict[str, set[PurgeStep]] = {str(e["person_ref"]): set() for e in before}
        for ref in files_done:
            done.setdefault(ref, set()).add(PurgeStep.FILES)
        if any(PurgeStep.WAL in _as_pending(e).steps for e in before) and self._try_checkpoint(wait_s) is None:
            for ref in list(done):
                done[ref].add(PurgeStep.WAL)
        self._settle(done, {})
        left = tuple(_as_pending(e) for e in self._read_pending())
        for gone in {str(e["person_ref"]) for e in before} - {p.person_ref for p in left}:
            log.info("The erasure of %s is now purged from disk.", gone)
        return left

    def _finish_purges_at_open(self) -> None:
        """Finish what a crash or a reader left pending (waits at most 1 s); never raises."""
        try:
            left = self.finish_pending_purges(wait_s=min(1.0, self.timeout_s))
        except StorageError as exc:
            log.warning("Could not finish the pending erasures of %s yet: %s", self.path, exc)
            return
        if any(PurgeStep.WAL in p.steps for p in left):
            log.warning("Erased data is still in the write-ahead log of %s (another program reads it); "
                        "FaceGate retries.", self.path)
