"""Corrections of door events (issue 14): the ``corrections`` table (``schema.migration_11``).

Each write is audited in the same transaction (``correction.add``, ``correction.replace``,
``correction.withdraw``, with ``person_id`` naming the person the verdict is about, so that erasing
them pseudonymises the row). One correction per event: correcting an event again replaces the
previous verdict (both are audited). The face itself stays in ``event_faces`` (encrypted); erasing
either person deletes the correction and, by a trigger, the faces behind their corrections.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from desktop_app.core.corrections.records import Correction, CorrectionKind, PersonCorrections
from desktop_app.core.errors import InputError, StorageError
from desktop_app.core.storage import times
from desktop_app.core.storage.base import StoreBase, api
from desktop_app.core.storage.validate import as_int, clean_text, required_text

#: Longest note kept with a correction, characters.
MAX_NOTE: Final[int] = 500

#: Source of an automatic template's sample: ``AUTO_SOURCE + str(event id)``.
AUTO_SOURCE: Final[str] = "auto:event:"

_SELECT: Final[str] = (
    "SELECT c.id, c.kind, c.event_id, c.wrong_person_id, w.name AS wrong_name, c.true_person_id,"
    " t.name AS true_name, c.event_ts, c.event_decision, c.event_score, c.actor, c.created_at, c.note"
    " FROM corrections c LEFT JOIN people w ON w.id = c.wrong_person_id"
    " LEFT JOIN people t ON t.id = c.true_person_id"
)


def _correction(r: Any) -> Correction:
    return Correction(
        id=int(r[0]), kind=CorrectionKind(str(r[1])), event_id=None if r[2] is None else int(r[2]),
        wrong_person_id=None if r[3] is None else int(r[3]), wrong_name=None if r[4] is None else str(r[4]),
        true_person_id=None if r[5] is None else int(r[5]), true_name=None if r[6] is None else str(r[6]),
        event_ts=times.from_db(str(r[7])), event_decision=str(r[8]), event_score=float(r[9]), actor=str(r[10]),
        created_at=times.from_db(str(r[11])), note=None if r[12] is None else str(r[12]))


class CorrectionsMixin(StoreBase):
    """Correction methods of ``Store``."""

    @api("saving a correction")
    def add_correction(self, event_id: int, kind: CorrectionKind | str, actor: str, *,
                       person_id: int | None = None, note: str | None = None) -> Correction:
        """Record a verdict on event ``event_id``: ``kind`` ``not_person`` (the person the event
        named was wrong; ``person_id`` must be None) or ``was_person`` (it was ``person_id``).
        Replaces an earlier correction of the same event. InputError when the event does not
        exist, a ``not_person`` event named nobody, or a ``was_person`` event already named that
        person; StorageError when the person does not exist."""
        eid = as_int(event_id, "event_id")
        try:
            verdict = CorrectionKind(kind)
        except ValueError:
            raise InputError(f"A correction is 'not_person' or 'was_person', not {kind!r}.") from None
        who = required_text(actor, "actor")
        text = clean_text(note, "note", required=False)
        if text is not None and len(text) > MAX_NOTE:
            raise InputError(f"The note is too long ({len(text)} characters, at most {MAX_NOTE}).")
        with self.transaction():
            row = self.db.execute("SELECT ts, person_id, decision, score FROM events WHERE id = ?", (eid,)).fetchone()
            if row is None:
                raise InputError(f"There is no event {eid}.")
            ts, named, decision, score = str(row[0]), row[1], str(row[2]), float(row[3])
            wrong = None if named is None else int(named)
            true: int | None = None
            if verdict is CorrectionKind.NOT_PERSON:
                if person_id is not None:
                    raise InputError("'Not this person' names nobody; use 'this was' to say who it was.")
                if wrong is None:
                    raise InputError(f"Event {eid} ({decision}) named nobody: say who it was instead.")
            else:
                if person_id is None:
                    raise InputError("Say who the event was ('this was' needs a person).")
                true = self._require_person(as_int(person_id, "person_id")).id
                if wrong == true:
                    raise InputError(f"Event {eid} already named that person; nothing to correct.")
            previous = self.correction_of(eid)
            if previous is not None:
                self.db.execute("DELETE FROM corrections WHERE id = ?", (previous.id,))
            cur = self.db.execute(
                "INSERT INTO corrections (created_at, actor, event_id, kind, wrong_person_id, true_person_id,"
                " event_ts, event_decision, event_score, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (times.now_db(), who, eid, verdict.value, wrong, true, ts, decision, score, text))
            cid = int(cur.lastrowid or 0)
            details: dict[str, object] = {"event_id": eid, "kind": verdict.value,
                                          "person_id": true if true is not None else wrong,
                                          "decision": decision, "score": round(score, 4)}
            if true is not None and wrong is not None:
                details["wrong_person_id"] = wrong
            if previous is not None:
                details["replaces"] = previous.kind.value
            self._insert_audit(who, "correction.replace" if previous is not None else "correction.add", details)
            made = self._correction_by_id(cid)
            if made is None:  # pragma: no cover - just inserted
                raise StorageError("The correction was not saved.")
            return made

    def _correction_by_id(self, cid: int) -> Correction | None:
        row = self.db.execute(_SELECT + " WHERE c.id = ?", (cid,)).fetchone()
        return None if row is None else _correction(row)

    @api("reading a correction")
    def correction_of(self, event_id: int) -> Correction | None:
        """The correction of an event, None when it has none."""
        row = self.db.execute(_SELECT + " WHERE c.event_id = ?", (as_int(event_id, "event_id"),)).fetchone()
        return None if row is None else _correction(row)

    @api("withdrawing a correction")
    def withdraw_correction(self, event_id: int, actor: str) -> bool:
        """Delete the correction of an event (audited); False when it had none."""
        eid = as_int(event_id, "event_id")
        who = required_text(actor, "actor")
        with self.transaction():
            previous = self.correction_of(eid)
            if previous is None:
                return False
            self.db.execute("DELETE FROM corrections WHERE id = ?", (previous.id,))
            self._insert_audit(who, "correction.withdraw", {
                "event_id": eid, "kind": previous.kind.value,
                "person_id": previous.true_person_id if previous.true_person_id is not None
                else previous.wrong_person_id})
            return True

    @api("listing corrections")
    def list_corrections(self, person_id: int | None = None, limit: int | None = None) -> list[Correction]:
        """Corrections about one person (either side) or all, newest first (``limit`` at most)."""
        sql, params = _SELECT, []  # type: tuple[str, list[object]]
        if person_id is not None:
            pid = as_int(person_id, "person_id")
            sql += " WHERE c.wrong_person_id = ? OR c.true_person_id = ?"
            params += [pid, pid]
        sql += " ORDER BY c.created_at DESC, c.id DESC LIMIT ?"
        params.append(-1 if limit is None else as_int(limit, "limit"))
        return [_correction(r) for r in self.db.execute(sql, params).fetchall()]

    @api("counting corrections")
    def correction_counts(self, everyone: bool = False) -> list[PersonCorrections]:
        """The dashboard: per person, granted events, false accepts and false rejects with the
        latest of each (``PersonCorrections``); people with at least one correction, or
        ``everyone``; most corrections first, then by name."""
        rows = self.db.execute(
            "SELECT p.id, p.name,"
            " (SELECT count(*) FROM events e WHERE e.person_id = p.id AND e.decision = 'granted'),"
            " (SELECT count(*) FROM corrections c WHERE c.wrong_person_id = p.id),"
            " (SELECT max(c.event_ts) FROM corrections c WHERE c.wrong_person_id = p.id),"
            " (SELECT count(*) FROM corrections c WHERE c.true_person_id = p.id),"
            " (SELECT max(c.event_ts) FROM corrections c WHERE c.true_person_id = p.id)"
            " FROM people p").fetchall()
        out = [PersonCorrections(person_id=int(r[0]), name=str(r[1]), granted=int(r[2]), false_accepts=int(r[3]),
                                 last_false_accept=None if r[4] is None else times.from_db(str(r[4])),
                                 false_rejects=int(r[5]),
                                 last_false_reject=None if r[6] is None else times.from_db(str(r[6])))
               for r in rows]
        if not everyone:
            out = [p for p in out if p.false_accepts or p.false_rejects]
        return sorted(out, key=lambda p: (-(p.false_accepts + p.false_rejects), p.name.casefold(), p.person_id))

    @api("reading corrected events")
    def corrected_event_ids(self) -> set[int]:
        """Ids of the events that have a correction."""
        return {int(r[0]) for r in self.db.execute("SELECT event_id FROM corrections WHERE event_id IS NOT NULL")}

    @api("finding refresh candidates")
    def refresh_candidate_events(self, model_sha256: str, since: datetime) -> list[tuple[int, int, datetime, float]]:
        """Granted events since ``since`` (aware or local) that have a face embedded by
        ``model_sha256``, no correction, and were never promoted (``auto_templates``, also when
        that template was replaced or taken back since): (event id, person id, time (aware UTC),
        door score), best score first."""
        model = required_text(model_sha256, "model_sha256")
        rows = self.db.execute(
            "SELECT e.id, e.person_id, e.ts, e.score FROM events e JOIN event_faces f ON f.event_id = e.id"
            " WHERE e.decision = 'granted' AND e.person_id IS NOT NULL AND e.ts >= ? AND f.model_sha256 = ?"
            " AND NOT EXISTS (SELECT 1 FROM corrections c WHERE c.event_id = e.id)"
            " AND NOT EXISTS (SELECT 1 FROM auto_templates a WHERE a.event_id = e.id)"
            " ORDER BY e.score DESC, e.id", (times.to_db(since, self.local_tz), model)).fetchall()
        return [(int(r[0]), int(r[1]), times.from_db(str(r[2])), float(r[3])) for r in rows]

    def note_auto_template(self, event_id: int, person_id: int, sample_id: int) -> None:
        """Remember that ``event_id``'s face became sample ``sample_id`` of ``person_id`` (inside the
        caller's transaction, with the sample)."""
        self.db.execute("INSERT INTO auto_templates (event_id, person_id, sample_id, created_at) VALUES (?, ?, ?, ?)",
                        (as_int(event_id, "event_id"), as_int(person_id, "person_id"), as_int(sample_id, "sample_id"),
                         times.now_db()))

    @api("finding automatic templates")
    def auto_samples(self, person_id: int | None = None) -> list[tuple[int, int, int, datetime]]:
        """The automatic templates kept (made by the template refresh, not yet replaced or taken
        back): (sample id, person id, event id, created at (aware UTC)), oldest first; of one
        person or everyone."""
        sql = ("SELECT s.id, s.person_id, a.event_id, s.created_at FROM auto_templates a"
               " JOIN samples s ON s.id = a.sample_id")
        params: list[object] = []
        if person_id is not None:
            sql += " WHERE s.person_id = ?"
            params.append(as_int(person_id, "person_id"))
        rows = self.db.execute(sql + " ORDER BY s.created_at, s.id", params).fetchall()
        return [(int(r[0]), int(r[1]), int(r[2]), times.from_db(str(r[3]))) for r in rows]
