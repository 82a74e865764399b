"""Audit log of administrative actions (who did what, when, with JSON details)."""

from __future__ import annotations

from collections.abc import Mapping

from desktop_app.core.storage import times
from desktop_app.core.storage.base import StoreBase, api
from desktop_app.core.storage.records import AuditRow
from desktop_app.core.storage.rows import json_object
from desktop_app.core.storage.validate import as_int, required_text


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
        return [
            AuditRow(
                id=int(r["id"]),
                ts=times.from_db(r["ts"]),
                actor=str(r["actor"]),
                action=str(r["action"]),
                details=json_object(r["details_json"]),
            )
            for r in rows
        ]
