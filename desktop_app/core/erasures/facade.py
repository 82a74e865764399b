"""``ErasureLedgerFacade``: the ``FaceGate`` mixin that keeps the erasure ledger
(``desktop_app.core.erasures.ledger``) and re-applies it.

- ``erase_person`` (the one erase path: the app, the CLI, central tombstones and the central
  "no longer permitted here" erasures) calls ``_ledger_record`` before anything is deleted and
  ``_ledger_seen`` once the erasure is committed.
- Every open (``_ledger_reapply_at_start``) compares the ledger's fingerprint (size, last bytes)
  with the one stored in the database (setting ``erasure_ledger.mark``); when they differ (a
  restore put back an older database, another program erased someone, a crash cut an erasure
  short) every recorded erasure whose person is in the database is done again through
  ``erase_person``, audited ``erasure.reapply`` ("erasure re-applied after restore", or "at
  open") with the erasure's pseudonym only.
- A restore marks the restored database (setting ``erasure_ledger.restored``), so the re-apply
  runs at its first open, and matches by the salted identity hash too when the backup predates
  migration 12 (people then got new random uids)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final

from desktop_app.core.erasures.ledger import (
    MARK_SETTING,
    RESTORED_SETTING,
    LedgerDamagedError,
    LedgerEntry,
    append_entries,
    ledger_mark,
    ledger_path,
    read_ledger,
)
from desktop_app.core.errors import StorageError
from desktop_app.core.storage.reserve import release_reserve
from desktop_app.core.storage.times import from_db
from desktop_app.core.storage.validate import name_key

if TYPE_CHECKING:
    from desktop_app.core.storage.records import ErasureReport
    from desktop_app.core.storage.store import Store

log = logging.getLogger(__name__)

#: actor of the re-applied erasures
ACTOR: Final[str] = "erasure-ledger"


class ErasureLedgerFacade:
    """Erasure ledger methods of ``FaceGate`` (see the module docstring)."""

    store: Store
    db_path: Path
    read_only: bool
    _lock: threading.RLock
    #: why the ledger could not be read or written at the last try (None when fine)
    erasure_ledger_problem: str | None = None
    _reapplying: bool = False
    #: erasures re-applied by the checks at this open
    erasures_reapplied_at_start: int = 0

    def erase_person(self, person_id: int, actor: str = "admin") -> ErasureReport:
        raise NotImplementedError

    @property
    def erasure_ledger_path(self) -> Path:
        return ledger_path(self.db_path)

    # ------------------------------------------------------------------ the erase path's hooks
    def _ledger_record(self, person_id: int) -> None:
        """Append the erasure of ``person_id`` to the ledger, fsynced, before it is erased; no-op
        for an unknown person (the erasure then fails as before) and while re-applying (already
        recorded). StorageError (nothing erased) when the ledger cannot be written, even after
        freeing the disk-space reserve."""
        if self._reapplying or self.read_only:
            return
        person = self.store.get_person(person_id)
        uid = self.store.person_uid(person_id) if person is not None else None
        if person is None or uid is None:
            return
        entry = LedgerEntry.new(uid, name_key(person.name), person.employee_id)
        try:
            append_entries(self.erasure_ledger_path, [entry])
        except OSError:
            release_reserve(self.db_path)
            try:
                append_entries(self.erasure_ledger_path, [entry])
            except OSError as exc:
                raise StorageError(f"The erasure ledger {self.erasure_ledger_path} cannot be written "
                                   f"({exc.strerror or exc}); nothing was erased. Free disk space or fix the folder's "
                                   "permissions, then erase again.") from None

    def _ledger_seen(self) -> None:
        """After a committed erasure: the database has seen the ledger as it is now."""
        if self._reapplying or self.read_only:
            return
        try:
            self.store.set_setting(MARK_SETTING, ledger_mark(self.erasure_ledger_path))
        except StorageError as exc:  # the next open re-checks the ledger: harmless
            log.warning("Could not note the erasure ledger's state: %s", exc)

    # ------------------------------------------------------------------ re-apply
    def reapply_erasures(self, *, after_restore: bool = False, legacy: bool = False) -> int:
        """Erase again, through ``erase_person``, every person of the ledger still in the database
        (same uid; with ``legacy`` also a person created before the erasure whose folded name and
        employee id give the recorded salted hash); each audited ``erasure.reapply`` with the
        erasure's pseudonym. Returns how many. LedgerDamagedError when the ledger is damaged."""
        with self._lock:
            entries = read_ledger(self.erasure_ledger_path)
            mark = ledger_mark(self.erasure_ledger_path)
            by_uid = {e.uid: e for e in entries}
            found: dict[int, LedgerEntry] = {}
            for pid, uid in self.store.db.execute("SELECT id, uid FROM people").fetchall():
                if uid is not None and str(uid) in by_uid:
                    found[int(pid)] = by_uid[str(uid)]
            by_uid_pids = set(found)
            if legacy and entries:
                for person in self.store.list_people():
                    if person.id in found:
                        continue
                    created = person.created_at if person.created_at.tzinfo else from_db(person.created_at.isoformat())
                    key = name_key(person.name)
                    hit = next((e for e in entries if created <= e.at and e.matches_key(key, person.employee_id)), None)
                    if hit is not None:
                        found[person.id] = hit
            what = "erasure re-applied after restore" if after_restore else "erasure re-applied at open"
            self._reapplying = True
            try:
                for pid, entry in sorted(found.items()):
                    report = self.erase_person(pid, actor=ACTOR)
                    self.store.audit(ACTOR, "erasure.reapply", {
                        "what": what, "person_ref": report.person_ref, "erased_at": entry.at.isoformat(),
                        "matched_by": "uid" if pid in by_uid_pids else "identity hash"})
            finally:
                self._reapplying = False
            if not self.read_only:
                self.store.set_setting(MARK_SETTING, mark)
            if found:
                log.warning("%d erasure(s) re-applied from the erasure ledger (%s).", len(found), what)
            return len(found)

    def _ledger_reapply_at_start(self) -> None:
        """At every open: cheap check of the ledger's fingerprint against the database's; re-apply
        when they differ or a restore asked for it. Never fails the start: a damaged ledger is a
        warning (``erasure_ledger_problem``, in ``storage_warnings``)."""
        if self.read_only:
            return
        try:
            restored = self.store.get_setting(RESTORED_SETTING)
            stored, now = self.store.get_setting(MARK_SETTING), ledger_mark(self.erasure_ledger_path)
            if restored is None and (stored == now or (stored is None and now == "0:")):  # no ledger yet: nothing
                return
            legacy = isinstance(restored, dict) and bool(restored.get("legacy"))
            self.erasures_reapplied_at_start = self.reapply_erasures(after_restore=restored is not None,
                                                                     legacy=legacy)
            if restored is not None:
                with self.store.transaction():
                    self.store.db.execute("DELETE FROM settings WHERE key = ?", (RESTORED_SETTING,))
            self.erasure_ledger_problem = None
        except (LedgerDamagedError, StorageError) as exc:
            self.erasure_ledger_problem = (f"{exc} Erasures recorded in it could not be checked: people erased "
                                           "before a restore may be back. See docs/data-protection.md, "
                                           "'Erasure survives a restore'.")
            log.warning("%s", self.erasure_ledger_problem)
            self.store.open_warnings = (*self.store.open_warnings, self.erasure_ledger_problem)
