"""Damaged rows that the store leaves out instead of failing: one bad template, stranger vector,
setting or calibration must not stop every command. Each is logged once with a warning that
names it, and listed by ``Store.quarantine`` until it reads sound again (``facegate doctor
--repair`` re-embeds or resets it)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from desktop_app.core.storage.sealing import SealingBase

log = logging.getLogger(__name__)

QuarantineTable = Literal["templates", "strangers", "settings", "calibrations"]



@dataclass(frozen=True)
class QuarantinedRow:
    """A stored row left out because it is damaged.

    table: where it is; row_id: its key there (sample id for templates, stranger id, setting key,
    calibration id); scope: the model sha256 for templates and strangers, else ""; subject: the row
    for a person (e.g. "template of sample 5 (Lin)"); reason: what is wrong with it.
    """

    table: QuarantineTable
    row_id: str
    scope: str
    subject: str
    reason: str

    @property
    def message(self) -> str:
        return f"The {self.subject} is damaged ({self.reason}) and is left out"


class QuarantineMixin(SealingBase):
    """Bookkeeping of quarantined rows, shared by the parts of ``Store`` that read vectors and JSON."""

    _quarantine: dict[tuple[str, str, str], QuarantinedRow]

    @property
    def quarantine(self) -> tuple[QuarantinedRow, ...]:
        """Damaged rows left out by the reads made so far (templates, strangers, settings,
        calibrations), in the order they were found."""
        with self._lock:
            return tuple(self._quarantine.values())

    def quarantined_sample_ids(self, model_sha256: str) -> tuple[int, ...]:
        """Ids of the samples whose template for ``model_sha256`` was left out as damaged."""
        with self._lock:
            return tuple(int(q.row_id) for q in self._quarantine.values()
                         if q.table == "templates" and q.scope == model_sha256)

    def _registered_dim(self, model_sha256: str) -> int | None:
        """The model's registered embedding length; None when the model is not registered (then the
        most common stored length counts, so that one bad row cannot set the length)."""
        row = self.db.execute("SELECT embedding_dim FROM models WHERE sha256 = ?", (model_sha256,)).fetchone()
        return None if row is None else int(row[0])

    def _set_quarantine(self, table: QuarantineTable, scope: str, rows: list[QuarantinedRow]) -> None:
        """Replace the quarantined rows of (table, scope) after a full read of them; new ones are logged."""
        with self._lock:
            fresh = {(r.table, r.scope, r.row_id): r for r in rows}
            for key in [k for k in self._quarantine if k[0] == table and k[1] == scope and k not in fresh]:
                del self._quarantine[key]
            self._add_quarantine(rows)

    def _add_quarantine(self, rows: list[QuarantinedRow]) -> None:
        with self._lock:
            for row in rows:
                key = (row.table, row.scope, row.row_id)
                if self._quarantine.get(key) != row:
                    log.warning("%s; run `facegate doctor --db %s --repair` to fix it.", row.message, self.path)
                self._quarantine[key] = row

    def _release_quarantine(self, table: QuarantineTable, scope: str, row_id: str) -> None:
        with self._lock:
            self._quarantine.pop((table, scope, row_id), None)
