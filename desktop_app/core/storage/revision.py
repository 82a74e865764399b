"""Cheap marks that tell a long-running process (the door loop) what changed in the database.

``data_version`` changes when ANOTHER connection (another process, or another ``Store`` on the
same file) commits; ``local_changes`` counts the rows this connection changed; ``gallery_mark``
summarises a model's templates, so that a commit that only added events does not rebuild the
gallery. None of them writes.
"""

from __future__ import annotations

from desktop_app.core.storage.base import StoreBase, api
from desktop_app.core.storage.validate import required_text


class RevisionMixin(StoreBase):
    """Change marks of ``Store``."""

    @api("checking for changes")
    def data_version(self) -> int:
        """``PRAGMA data_version``: differs from the value read before whenever another connection
        committed in between (this connection's own commits leave it alone). No disk read."""
        return int(self.db.conn.execute("PRAGMA data_version").fetchone()[0])

    def local_changes(self) -> int:
        """Rows inserted, updated or deleted through this connection since it was opened (no
        database access: a counter kept in memory by SQLite)."""
        with self._lock:
            return int(self.db.conn.total_changes)

    @api("checking the templates")
    def gallery_mark(self, model_sha256: str) -> tuple[int, int, str]:
        """(count, sum of sample ids, newest created_at) of the model's templates: any template added,
        deleted or replaced (a reused sample id comes with a newer time) changes it."""
        row = self.db.execute(
            "SELECT count(*), coalesce(sum(sample_id), 0), coalesce(max(created_at), '') FROM templates"
            " WHERE model_sha256 = ?", (required_text(model_sha256, "model_sha256"),)).fetchone()
        return int(row[0]), int(row[1]), str(row[2])
