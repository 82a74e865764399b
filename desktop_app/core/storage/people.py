"""People: enrolment, look-up, edits, and erasure of everything the store holds about a person."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from types import EllipsisType

import numpy as np

from desktop_app.core.errors import FaceGateError, InputError, StorageError
from desktop_app.core.storage import audit_chain, codecs, times
from desktop_app.core.storage.base import api
from desktop_app.core.storage.purge import PurgeMixin, PurgeStep
from desktop_app.core.storage.records import ErasureReport, Person
from desktop_app.core.storage.rows import PERSON_SELECT, json_object, person_from_row
from desktop_app.core.storage.validate import (
    as_int,
    clean_text,
    like_pattern,
    name_key,
    required_text,
    validate_display_name,
    validate_optional_label,
    validate_person_fields,
)

log = logging.getLogger(__name__)


class PeopleMixin(PurgeMixin):
    """People methods of ``Store``."""

    def _check_person_unique(self, key: str, employee_id: str | None, exclude: int | None) -> None:
        """StorageError when the person (not ``exclude``) would clash with another one.

        People are keyed by employee ID where one is given: the employee ID is unique, and a name
        may be shared only by people who each have an employee ID (so that every person can still
        be named unambiguously: name and employee ID)."""
        if employee_id is not None:
            row = self.db.execute(
                "SELECT id, name FROM people WHERE employee_id = ? AND id IS NOT ?", (employee_id, exclude)
            ).fetchone()
            if row is not None:
                raise StorageError(f"Employee ID {employee_id!r} is already used by {row[1]!r} (id {row[0]}).")
        rows = self.db.execute(
            "SELECT id, name, employee_id FROM people WHERE name_key = ? AND id IS NOT ? ORDER BY id", (key, exclude)
        ).fetchall()
        if not rows:
            return
        if employee_id is None:
            raise StorageError(
                f"A person named {rows[0][1]!r} already exists (id {rows[0][0]}). Give an employee ID to tell "
                "two people of the same name apart, or use another name (for example with a middle initial)."
            )
        for pid, other, emp in rows:
            if emp is None:
                raise StorageError(
                    f"A person named {other!r} (id {pid}) already exists without an employee ID: give them "
                    "theirs first, so that the two can be told apart, or use another name."
                )

    @api("checking a new person")
    def check_new_person(self, name: str, employee_id: str | None = None) -> None:
        """StorageError when a person of this name and employee ID could not be added (see
        :meth:`add_person`); nothing is written. For checks before any work."""
        clean, emp, _ = validate_person_fields(name, employee_id, None)
        self._check_person_unique(name_key(clean), emp, None)

    @api("adding a person")
    def add_person(self, name: str, employee_id: str | None = None, department: str | None = None) -> int:
        """Enrol a new person (no samples yet); returns their id.

        Whitespace is trimmed and collapsed. The employee ID must be unique when given, and the
        name unique ignoring case unless every person sharing it has an employee ID
        (StorageError otherwise); empty names raise ValueError.
        """
        clean, emp, dept = validate_person_fields(name, employee_id, department)
        with self.transaction():
            self._check_person_unique(name_key(clean), emp, None)
            now = times.now_db()
            table = self.db.table("people").insert(
                {
                    "name": clean,
                    "name_key": name_key(clean),
                    "employee_id": emp,
                    "department": dept,
                    "active": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            return as_int(table.last_pk, "new person id")

    @api("reading a person")
    def get_person(self, person_id: int) -> Person | None:
        """The person with this id, or None."""
        return self._person_or_none(as_int(person_id, "person_id"))

    @api("looking up a person")
    def find_person(self, name: str, employee_id: str | None = None) -> Person | None:
        """The person with this name (ignoring case and surrounding whitespace), or None.

        With ``employee_id``: the person with that employee ID, if their name is ``name``. Without
        it, when several people share the name: InputError saying so, which asks for the employee ID.
        """
        clean = clean_text(name, "name", required=False)
        if clean is None:
            return None
        found = self.find_people(clean)
        emp = clean_text(employee_id, "employee ID", required=False)
        if emp is not None:
            return next((p for p in found if p.employee_id == emp), None)
        if len(found) > 1:
            ids = ", ".join(p.employee_id or "none" for p in found)
            raise InputError(
                f"{len(found)} people are named {found[0].name!r} (employee IDs {ids}): "
                "say which one with the employee ID (--employee-id)."
            )
        return found[0] if found else None

    @api("looking up people")
    def find_people(self, name: str) -> list[Person]:
        """Every person with this name (ignoring case and surrounding whitespace), by id."""
        clean = clean_text(name, "name", required=False)
        if clean is None:
            return []
        return [person_from_row(r) for r in self.db.query(f"{PERSON_SELECT} WHERE p.name_key = ? ORDER BY p.id",
                                                         [name_key(clean)])]

    @api("looking up an employee ID")
    def find_employee(self, employee_id: str) -> Person | None:
        """The person with this employee ID (exact, surrounding whitespace ignored), or None."""
        emp = clean_text(employee_id, "employee ID", required=False)
        if emp is None:
            return None
        rows = list(self.db.query(f"{PERSON_SELECT} WHERE p.employee_id = ?", [emp]))
        return person_from_row(rows[0]) if rows else None

    @api("listing people")
    def list_people(self, search: str | None = None, active_only: bool = False) -> list[Person]:
        """People sorted by name; ``search`` matches part of the name, employee ID or department,
        ignoring case; ``active_only`` leaves out deactivated people."""
        where: list[str] = []
        params: list[object] = []
        if active_only:
            where.append("p.active = 1")
        text = clean_text(search, "search", required=False)
        if text:
            pattern = like_pattern(name_key(text))
            where.append(
                "(p.name_key LIKE ? ESCAPE '\\'"
                " OR facegate_fold(p.employee_id) LIKE ? ESCAPE '\\'"
                " OR facegate_fold(p.department) LIKE ? ESCAPE '\\')"
            )
            params += [pattern, pattern, pattern]
        sql = PERSON_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY p.name_key, p.id"
        return [person_from_row(row) for row in self.db.query(sql, params)]

    @api("updating a person")
    def update_person(
        self,
        person_id: int,
        *,
        name: str | EllipsisType = ...,
        employee_id: str | EllipsisType | None = ...,
        department: str | EllipsisType | None = ...,
        active: bool | EllipsisType = ...,
    ) -> Person:
        """Change the given fields (``...`` leaves a field as is, None clears an optional one);
        returns the updated person.

        StorageError when the person does not exist or the new name / employee ID is taken.
        """
        pid = as_int(person_id, "person_id")
        updates: dict[str, object] = {}
        if not isinstance(name, EllipsisType):
            clean = validate_display_name(name, "name")
            updates["name"] = clean
            updates["name_key"] = name_key(clean)
        if not isinstance(employee_id, EllipsisType):
            updates["employee_id"] = validate_optional_label(employee_id, "employee ID")
        if not isinstance(department, EllipsisType):
            updates["department"] = validate_optional_label(department, "department")
        if not isinstance(active, EllipsisType):
            if not isinstance(active, (bool, np.bool_)):
                raise ValueError(f"active must be True or False, got {active!r}")
            updates["active"] = int(bool(active))
        with self.transaction():
            current = self._require_person(pid)
            if not updates:
                return current
            key = str(updates.get("name_key", name_key(current.name)))
            emp = updates.get("employee_id", current.employee_id)
            self._check_person_unique(key, None if emp is None else str(emp), pid)
            updates["updated_at"] = times.now_db()
            self.db.table("people").update(pid, updates)
            return self._require_person(pid)

    @api("erasing a person")
    def erase_person(self, person_id: int, actor: str = "admin", *,
                     purge_files: Callable[[], Sequence[str]] | None = None) -> ErasureReport:
        """Erase a person and all their biometric data (right to erasure).

        Deletes the person, their samples (crops), templates and attendance. Their events stay in
        the access log but lose the person link and the snapshot, and carry
        ``person_ref = "erased-<8 random hex>"`` instead. Audit rows whose details name the person
        (``person_id`` or ``name`` keys) are pseudonymised the same way. ``secure_delete`` zeroes
        the freed pages. StorageError when the person does not exist or the rows cannot be
        deleted (then nothing changed); once they are deleted it no longer raises.

        Then the copies left on disk are purged (see ``purge``): the same transaction records a
        pending purge; ``purge_files`` (the caller's copies outside the database, such as the
        gallery index; returns what it could not do) runs after the commit; the write-ahead log is
        checkpointed and truncated (waiting up to ``timeout_s`` for readers). An ``erase_person``
        audit row by ``actor`` records the counts and the outcome (``purged``, ``pending``); what
        stays pending is finished by the next open or ``finish_pending_purges`` and audited then.
        """
        pid = as_int(person_id, "person_id")
        who = required_text(actor, "actor")
        with self.transaction():
            person = self._require_person(pid)
            ref = f"erased-{secrets.token_hex(4)}"
            n_templates = self._count(
                "SELECT count(*) FROM templates t JOIN samples s ON s.id = t.sample_id WHERE s.person_id = ?",
                pid,
            )
            n_snapshots = self._count(
                "SELECT count(*) FROM events WHERE person_id = ? AND snapshot_jpg IS NOT NULL", pid
            )
            n_faces = self.db.execute(  # the faces behind their events (event_faces), encrypted or not
                "DELETE FROM event_faces WHERE event_id IN (SELECT id FROM events WHERE person_id = ?)", (pid,)
            ).rowcount
            n_faces += self.db.execute(  # and behind the ambiguous events that named them as a candidate
                "DELETE FROM event_faces WHERE event_id IN (SELECT e.id FROM events e, json_each(e.detail_json,"
                " '$.candidates') c WHERE e.decision = 'ambiguous' AND json_valid(e.detail_json) AND c.value = ?)",
                (pid,)).rowcount
            n_events = self.db.execute(
                "UPDATE events SET person_id = NULL, person_ref = ?, snapshot_jpg = NULL WHERE person_id = ?",
                (ref, pid),
            ).rowcount
            n_audit = self._scrub_audit(pid, person, ref, who)
            n_attendance = self.db.execute("DELETE FROM attendance WHERE person_id = ?", (pid,)).rowcount
            self.db.execute(
                "DELETE FROM templates WHERE sample_id IN (SELECT id FROM samples WHERE person_id = ?)",
                (pid,),
            )
            n_samples = self.db.execute("DELETE FROM samples WHERE person_id = ?", (pid,)).rowcount
            self.db.execute("DELETE FROM people WHERE id = ?", (pid,))
            counts = {
                "samples": n_samples,
                "templates": n_templates,
                "attendance_days": n_attendance,
                "events_anonymised": n_events,
                "snapshots_deleted": n_snapshots,
                "event_faces_deleted": n_faces,
                "audit_rows_scrubbed": n_audit,
            }
            steps = [PurgeStep.WAL] + ([PurgeStep.FILES] if purge_files is not None else [])
            self._add_pending(ref, who, counts, steps)
        pending: list[str] = []
        done: set[PurgeStep] = set()
        if purge_files is not None:
            try:
                problems = tuple(purge_files())
            except (FaceGateError, OSError) as exc:
                problems = (f"files outside the database not yet purged: {exc}",)
            pending += problems
            if not problems:
                done.add(PurgeStep.FILES)
        wal = self._try_checkpoint(None)
        if wal is None:
            done.add(PurgeStep.WAL)
        else:
            pending.append(wal)
        details = {"person_ref": ref, **counts, "purged": not pending, "pending": list(pending)}
        try:
            self._settle({ref: done}, {ref: details})
        except StorageError as exc:  # the pending record keeps the counts: audited at the next start
            pending.append(f"audit row not written yet ({exc}); it is written when the purge is finished")
        report = ErasureReport(person_id=pid, person_ref=ref, purged=done == set(steps), pending=tuple(pending),
                               **counts)
        if pending:
            log.warning("Erasure of %s: %s", ref, "; ".join(pending))
        return report

    def _count(self, sql: str, *params: object) -> int:
        return int(self.db.execute(sql, params).fetchone()[0])

    def _scrub_audit(self, pid: int, person: Person, ref: str, actor: str) -> int:
        """Replace identifying details of ``person`` in audit rows by ``ref``; returns rows changed.
        The chain stays valid: each row keeps its details digest and loses its salt, and a chained
        ``audit.scrub`` row by ``actor`` vouches for the new details (see ``audit_chain``)."""
        rows = self.db.execute(
            "SELECT id, details_json FROM audit WHERE json_valid(details_json) AND ("
            "json_extract(details_json, '$.person_id') = ?"
            " OR json_extract(details_json, '$.name') = ? COLLATE NOCASE)",
            (pid, person.name),
        ).fetchall()
        vouched: list[list[object]] = []
        for audit_id, text in rows:
            details = json_object(str(text))
            for key in ("person_id", "name", "employee_id", "department"):
                details.pop(key, None)
            details["person_ref"] = ref
            vouched.append([int(audit_id), audit_chain.pseudonymise(self.db.conn, int(audit_id),
                                                                    codecs.to_json(details, "details"))])
        if vouched:
            self._insert_audit(actor, audit_chain.SCRUB_ACTION, {"person_ref": ref, "rows": vouched})
        return len(rows)
