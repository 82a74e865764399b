"""Audit log of administrative actions (who did what, when, with JSON details): writing, the
filtered listing and CSV export, and the check of its hash chain (``audit_chain``)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from desktop_app.core.storage import audit_chain, times
from desktop_app.core.storage.audit_chain import AuditVerification
from desktop_app.core.storage.audit_filter import AuditFilter
from desktop_app.core.storage.base import StoreBase, api
from desktop_app.core.storage.csvfile import write_csv_atomic
from desktop_app.core.storage.records import AuditRow
from desktop_app.core.storage.rows import json_object
from desktop_app.core.storage.validate import as_int, required_text

log = logging.getLogger(__name__)

AUDIT_COLUMNS: Final[tuple[str, ...]] = (
    "audit_id", "time_local", "time_utc", "actor", "action", "details", "row_hash",
)  # fmt: skip


def _like_prefix(text: str) -> str:
    """``text.%`` for ``LIKE ... ESCAPE '\\'`` (an action family)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}.%"


def _audit_row(r: Mapping[str, Any]) -> AuditRow:
    return AuditRow(id=int(r["id"]), ts=times.from_db(r["ts"]), actor=str(r["actor"]), action=str(r["action"]),
                    details=json_object(r["details_json"]),
                    row_hash=None if r.get("row_hash") is None else str(r["row_hash"]))


class AuditMixin(StoreBase):
    """Audit methods of ``Store``."""

    @api("writing the audit log")
    def audit(self, actor: str, action: str, details: dict[str, object] | None = None) -> None:
        """Record an administrative action: ``actor`` (who), ``action`` (what, e.g.
        "add_person"), ``details`` (JSON-able dict; numpy numbers allowed). Put ``person_id`` /
        ``name`` keys in details when the action concerns a person, so that erasing that person
        pseudonymises the row."""
        who = required_text(actor, "actor")
        what = required_text(action, "action")
        if details is not None and not isinstance(details, Mapping):
            raise ValueError(f"audit details must be a dict, got {type(details).__name__}")
        with self.transaction():
            self._insert_audit(who, what, details)

    @api("reading the audit log")
    def audit_log(self, limit: int = 100) -> list[AuditRow]:
        """The newest ``limit`` audit rows, newest first."""
        lim = as_int(limit, "limit")
        if lim < 0:
            raise ValueError("limit must not be negative")
        rows = self.db.query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", [lim])
        return [_audit_row(r) for r in rows]

    # ------------------------------------------------------------------ filtered listing
    def _audit_where(self, flt: AuditFilter) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        start, end = flt.bounds()
        if start is not None:
            clauses.append("ts >= ?")
            params.append(times.to_db(start, self.local_tz))
        if end is not None:
            clauses.append("ts < ?")
            params.append(times.to_db(end, self.local_tz))
        if flt.action is not None:
            action = flt.action.strip()
            clauses.append("(action = ? OR action LIKE ? ESCAPE '\\')")
            params += [action, _like_prefix(action)]
        if flt.actor is not None:
            clauses.append("facegate_fold(actor) = facegate_fold(?)")
            params.append(flt.actor.strip())
        if flt.person is not None:
            person = flt.person.strip()
            about = ["facegate_fold(json_extract(details_json, '$.name')) = facegate_fold(?)",
                     "facegate_fold(json_extract(details_json, '$.person_ref')) = facegate_fold(?)"]
            params += [person, person]
            if flt.person_ids:
                about.append(f"json_extract(details_json, '$.person_id') IN ({', '.join('?' * len(flt.person_ids))})")
                params += [int(i) for i in flt.person_ids]
            clauses.append(f"(json_valid(details_json) AND ({' OR '.join(about)}))")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _audit_rows(self, flt: AuditFilter) -> list[dict[str, Any]]:
        where, params = self._audit_where(flt)
        page = ""
        if flt.limit is not None or flt.offset:
            page = " LIMIT ? OFFSET ?"
            params += [-1 if flt.limit is None else int(flt.limit), int(flt.offset)]
        return list(self.db.query(f"SELECT * FROM audit{where} ORDER BY id DESC{page}", params))

    @api("reading the audit log")
    def query_audit(self, flt: AuditFilter) -> list[AuditRow]:
        """Audit rows matching ``flt``, newest first, paged by its limit / offset."""
        return [_audit_row(r) for r in self._audit_rows(flt)]

    @api("reading the audit log")
    def count_audit(self, flt: AuditFilter) -> int:
        """Number of audit rows matching ``flt`` (its limit / offset are ignored)."""
        where, params = self._audit_where(flt)
        return int(self.db.execute(f"SELECT count(*) FROM audit{where}", params).fetchone()[0])

    @api("reading the audit log")
    def audit_choices(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(actions, actors) found in the log, each sorted: the choices of the viewer's filters."""
        actions = tuple(str(r[0]) for r in self.db.execute("SELECT DISTINCT action FROM audit ORDER BY action"))
        actors = tuple(str(r[0]) for r in self.db.execute("SELECT DISTINCT actor FROM audit ORDER BY actor"))
        return actions, actors

    @api("exporting the audit log")
    def export_audit_csv(self, path: Path, flt: AuditFilter) -> int:
        """Write the audit rows matching ``flt``, newest first, to a CSV file (atomically; see
        ``csvfile``); returns rows written. Columns: AUDIT_COLUMNS; time_local is ISO-8601 with
        offset; details is the stored JSON text; row_hash lets a reader match a row to the chain."""
        out = []
        for r in self._audit_rows(flt):
            ts = times.from_db(r["ts"])
            out.append((r["id"], times.local(ts, self.local_tz).isoformat(timespec="seconds"),
                        ts.isoformat(timespec="seconds"), r["actor"], r["action"], r["details_json"],
                        r.get("row_hash")))
        return write_csv_atomic(Path(path), AUDIT_COLUMNS, out)

    # ------------------------------------------------------------------ the chain
    @api("checking the audit log")
    def verify_audit(self, expect: Iterable[tuple[int, str]] = ()) -> AuditVerification:
        """Check the audit log's hash chain, its head record and head file (see ``audit_chain``);
        ``expect``: (row id, row hash) pairs recorded elsewhere earlier, which must still be in the
        chain. Reads only, in one snapshot (a read transaction) so that a concurrent write cannot
        look like a broken chain."""
        conn = self.db.conn
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")
        try:
            return audit_chain.verify(conn, audit_chain.head_file(self.path), expect)
        finally:
            if own and conn.in_transaction:
                conn.execute("COMMIT")

    def _after_commit(self) -> None:
        if self._audit_written:
            self._audit_written = False
            self._sync_audit_head_file()

    def _sync_audit_head_file(self) -> None:
        """Write the audit head file beside the database (``audit_chain.sync_head_file``); never raises:
        the rows are committed, and the database keeps its own head record."""
        if getattr(self, "read_only", False):
            return
        try:
            audit_chain.sync_head_file(self.db.conn, audit_chain.head_file(self.path))
        except (OSError, sqlite3.Error) as exc:
            log.warning("Could not write the audit head file beside %s: %s", self.path, exc)

